#!/usr/bin/env python3
"""Python-side throughput of the strata module next to the C++ client's, in the same run.

Batch get/set of 64 x 256 KiB blocks against one strata-node on 127.0.0.1 (started here unless
--address names one):
  python get_into / put_from   the module's zero-copy calls, one Python call per batch
  c++    get_into / put_from   the same calls in a C++ loop (Client._time_cpp: strata::Client
                               GetInto / PutFrom, no Python between iterations)
  python get / put             the copying calls (bytes in, bytes out), for reference
Each figure is the median over --rounds rounds of --iters batches; the ratio is python / c++.

    PYTHONPATH=build/python python3 python/bench/bench_client.py [--bin-dir build/bin]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import strata


def start_node(bin_dir, dram):
    tmp = tempfile.mkdtemp(prefix="strata-bench-")
    port_file = os.path.join(tmp, "port")
    env = dict(os.environ, UCX_NET_DEVICES="lo")
    proc = subprocess.Popen(
        [os.path.join(bin_dir, "strata-node"), "--listen", "127.0.0.1:0", "--port-file",
         port_file, "--dram", dram, "--ssd", "0", "--ssd-dir", os.path.join(tmp, "ssd"),
         "--metrics-listen", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 20
    while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit("strata-node did not start")
        time.sleep(0.02)
    return proc, "127.0.0.1:" + open(port_file).read().strip()


def timed(fn, iters):
    secs = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
    return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--address")
    ap.add_argument("--bin-dir", default=os.environ.get("STRATA_BIN_DIR", "build/bin"))
    ap.add_argument("--blocks", type=int, default=64)
    ap.add_argument("--block-kib", type=int, default=256)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data-path", default="auto", choices=["auto", "ucx", "grpc"])
    ap.add_argument("--no-heap-tuning", action="store_true",
                    help="skip strata.keep_large_buffers_in_heap() (as strata-bench calls it)")
    args = ap.parse_args()
    if not args.no_heap_tuning:
        strata.keep_large_buffers_in_heap()

    proc = None
    address = args.address
    if address is None:
        proc, address = start_node(args.bin_dir, "512MiB")
    try:
        c = strata.Client(address, data_path=args.data_path)
        n, size = args.blocks, args.block_kib << 10
        ns = "bench/python"
        keys = [f"blk{i}".encode() for i in range(n)]
        src = np.random.default_rng(0).integers(0, 256, n * size, dtype=np.uint8)
        dst = np.zeros(n * size, dtype=np.uint8)
        sreg, dreg = c.register(src), c.register(dst)
        offsets = [i * size for i in range(n)]
        payloads = [src[i * size:(i + 1) * size] for i in range(n)]
        assert all(c.put_from(ns, keys, sreg, offsets, size))
        assert c.get_into(ns, keys, dreg, offsets, size) == [size] * n
        assert np.array_equal(src, dst)

        cases = {
            "python get_into": lambda: timed(lambda: c.get_into(ns, keys, dreg, offsets, size), args.iters),
            "c++    get_into": lambda: c._time_cpp("get_into", ns, keys, dreg, offsets, size, args.iters),
            "python put_from": lambda: timed(lambda: c.put_from(ns, keys, sreg, offsets, size), args.iters),
            "c++    put_from": lambda: c._time_cpp("put_from", ns, keys, sreg, offsets, size, args.iters),
            "python get     ": lambda: timed(lambda: c.get(ns, keys), args.iters),
            "python put     ": lambda: timed(lambda: c.put(ns, keys, payloads), args.iters),
        }
        per_round = {name: [] for name in cases}
        for _ in range(args.rounds):  # interleaved, so drift hits every case alike
            for name, run in cases.items():
                per_round[name].append(statistics.median(run()))
        total = n * size
        print(f"strata python bench: {n} x {size >> 10} KiB per batch, data path {c.data_path}, "
              f"median of {args.rounds} rounds x {args.iters} batches")
        gbps = {}
        for name, meds in per_round.items():
            med = statistics.median(meds)
            gbps[name] = total / med / 1e9
            print(f"  {name}  {med * 1e3:8.2f} ms/batch  {gbps[name]:6.2f} GB/s")
        for op in ("get_into", "put_from"):
            r = gbps[f"python {op}"] / gbps[f"c++    {op}"]
            print(f"  ratio python/c++ {op}: {r:.2f}x (target >= 0.80)")
        c.close()
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
