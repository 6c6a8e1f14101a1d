"""strata.Client against a real strata-node: per-key results, misses, errors, zero-copy."""

import threading
import tracemalloc

import numpy as np
import pytest

import strata


def blocks(n, size, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8) for _ in range(n)]


def test_put_get_exists_remove_lookup_per_key(client, ns):
    vals = [b"alpha", np.arange(10, dtype=np.uint8), memoryview(b"gamma"), bytearray(b"d")]
    st = client.put(ns, [b"k0", "k1", b"k2", b"k3"], vals)
    assert [bool(s) for s in st] == [True] * 4
    assert all(s.code == 0 for s in st)
    got = client.get(ns, [b"k0", b"k1", b"missing", "k2", b"k3"])
    assert got == [b"alpha", bytes(range(10)), None, b"gamma", b"d"]
    assert client.exists(ns, [b"k0", b"missing", b"k3"]) == [True, False, True]
    # A lookup counts the leading run only.
    assert client.lookup(ns, [b"k0", b"k1", b"missing", b"k2"]) == 2
    assert client.lookup(ns, [b"missing", b"k0"]) == 0
    assert client.lookup(ns, []) == 0
    assert client.remove(ns, [b"k1", b"missing"]) == [True, False]
    assert client.get(ns, [b"k1"]) == [None]


def test_namespaces_are_isolated(client, ns):
    client.put(ns + "/a", [b"x"], [b"1"])
    assert client.get(ns + "/b", [b"x"]) == [None]


def test_call_errors_carry_the_status_code(client, ns):
    with pytest.raises(strata.StrataError) as e:
        client.get(ns, [b"x" * 65])  # keys are 1-64 bytes
    assert e.value.code == strata.StatusCode.INVALID_ARGUMENT == 3
    assert e.value.code_name == "INVALID_ARGUMENT"
    with pytest.raises(strata.StrataError) as e:
        client.exists("bad namespace!", [b"x"])
    assert e.value.code == strata.StatusCode.INVALID_ARGUMENT


def test_connect_to_nothing_is_unavailable():
    with pytest.raises(strata.StrataError) as e:
        strata.Client("127.0.0.1:1", connect_timeout_ms=300)
    assert e.value.code == strata.StatusCode.UNAVAILABLE


def test_argument_errors_before_any_io(client, ns):
    with pytest.raises(TypeError):
        client.get(ns, b"not-a-list")
    with pytest.raises(TypeError):
        client.put(ns, [b"a"], [12345])
    with pytest.raises(ValueError):
        client.put(ns, [b"a", b"b"], [b"1"])
    with pytest.raises(ValueError):
        client.put(ns, [b"nc"], [np.zeros((8, 8), dtype=np.uint8)[:, 1]])  # non-contiguous
    assert client.exists(ns, [b"a", b"b", b"nc"]) == [False, False, False]
    with pytest.raises(ValueError):
        strata.Client()


def test_get_into_is_zero_copy(client, ns):
    n, size = 16, 64 << 10
    data = blocks(n, size, seed=1)
    keys = [f"z{i}".encode() for i in range(n)]
    assert all(client.put(ns, keys, data))
    pool = np.zeros(n * size + 4096, dtype=np.uint8)
    reg = client.register(pool)
    assert reg.address == pool.ctypes.data == strata.address_of(pool)
    assert reg.size == pool.nbytes and reg.writable
    offsets = [4096 + i * size for i in range(n)]
    tracemalloc.start()
    got = client.get_into(ns, keys + [b"absent"], reg, offsets + [0], size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert got == [size] * n + [None]
    # 1 MiB moved; Python allocated nothing near a block's size (no bytes objects made).
    assert peak < size // 2, peak
    for i in range(n):
        assert np.array_equal(pool[offsets[i]:offsets[i] + size], data[i])
    assert not pool[:4096].any()  # the miss wrote nothing
    assert pool.ctypes.data == reg.address  # same memory, written in place
    reg.close()
    assert reg.closed
    with pytest.raises(ValueError):
        client.get_into(ns, keys[:1], reg, [0], size)


def test_put_from_then_get(client, ns):
    pool = np.arange(1 << 16, dtype=np.uint32)  # any dtype: bytes are bytes
    reg = client.register(pool)
    st = client.put_from(ns, [b"p0", b"p1"], reg, [0, 1024], [1024, 4096])
    assert [bool(s) for s in st] == [True, True]
    raw = pool.view(np.uint8)
    assert client.get(ns, [b"p0", b"p1"]) == [raw[:1024].tobytes(), raw[1024:5120].tobytes()]


def test_get_into_bad_input_writes_nothing(client, ns):
    client.put(ns, [b"b0"], [np.full(256, 7, dtype=np.uint8)])
    pool = np.zeros(4096, dtype=np.uint8)
    reg = client.register(pool)
    with pytest.raises(ValueError, match="outside the registered buffer"):
        client.get_into(ns, [b"b0"], reg, [4000], 256)
    with pytest.raises(ValueError, match="outside the registered buffer"):
        client.get_into(ns, [b"b0"], reg, [1 << 40], 1)
    with pytest.raises(TypeError, match="integer"):
        client.get_into(ns, [b"b0"], reg, [0.5], 256)
    with pytest.raises(TypeError, match="integers"):
        client.get_into(ns, [b"b0"], reg, np.array([0.0]), 256)
    with pytest.raises(ValueError):
        client.get_into(ns, [b"b0"], reg, [-1], 256)
    with pytest.raises(ValueError, match="offsets for"):
        client.get_into(ns, [b"b0", b"b0"], reg, [0], 256)
    assert not pool.any()
    with pytest.raises(ValueError, match="outside"):
        client.put_from(ns, [b"nope"], reg, [4000], [256])
    assert client.exists(ns, [b"nope"]) == [False]
    # A block larger than the room given is that key's error (OUT_OF_RANGE), not a write.
    got = client.get_into(ns, [b"b0"], reg, [0], 100)
    assert isinstance(got[0], strata.Status) and not got[0]
    assert got[0].code == strata.StatusCode.OUT_OF_RANGE
    assert not pool[100:].any()


def test_register_rejects_bad_buffers(client):
    with pytest.raises(ValueError, match="C-contiguous"):
        client.register(np.zeros((64, 64), dtype=np.float32).T)
    with pytest.raises(TypeError):
        client.register(12)
    ro = client.register(b"read-only bytes")
    assert not ro.writable
    with pytest.raises(TypeError, match="read-only"):
        client.get_into("test/ro", [b"x"], ro, [0], 4)


def test_four_threads_share_one_client(client, ns, run_in_threads):
    size, per = 32 << 10, 16
    pool = np.zeros(4 * per * size, dtype=np.uint8)
    reg = client.register(pool)
    data = {t: blocks(per, size, seed=10 + t) for t in range(4)}

    def worker(t):
        keys = [f"t{t}-{i}".encode() for i in range(per)]
        src = np.concatenate(data[t])
        sreg = client.register(src)
        assert all(client.put_from(ns, keys, sreg, [i * size for i in range(per)], size))
        base = t * per * size
        for _ in range(5):
            got = client.get_into(ns, keys, reg, [base + i * size for i in range(per)], size)
            assert got == [size] * per
            assert client.lookup(ns, keys) == per
        sreg.close()

    run_in_threads(worker)
    for t in range(4):
        assert np.array_equal(pool[t * per * size:(t + 1) * per * size], np.concatenate(data[t]))


def test_async_forms_return_futures(client, ns):
    import concurrent.futures
    f = client.put_async(ns, [b"a1"], [b"async"])
    assert isinstance(f, concurrent.futures.Future)
    assert [bool(s) for s in f.result(timeout=10)] == [True]
    assert client.get_async(ns, [b"a1", b"a2"]).result(timeout=10) == [b"async", None]
    assert client.lookup_async(ns, [b"a1", b"a2"]).result(timeout=10) == 1
    assert client.exists_async(ns, [b"a1"]).result(timeout=10) == [True]
    pool = np.zeros(64, dtype=np.uint8)
    reg = client.register(pool)
    assert client.get_into_async(ns, [b"a1"], reg, [8], 16).result(timeout=10) == [5]
    assert bytes(pool[8:13]) == b"async"
    assert [bool(s) for s in client.put_from_async(ns, [b"a3"], reg, [8], [5]).result(timeout=10)] == [True]
    assert client.remove_async(ns, [b"a3"]).result(timeout=10) == [True]
    bad = client.get_async(ns, [b"x" * 65])
    with pytest.raises(strata.StrataError):
        bad.result(timeout=10)


def test_dlpack_torch_tensor_in_place(client, ns):
    torch = pytest.importorskip("torch")
    client.put(ns, [b"t0"], [np.arange(16, dtype=np.float16)])
    t = torch.zeros(64, dtype=torch.float16)
    reg = client.register(t)
    assert reg.address == t.data_ptr()
    assert client.get_into(ns, [b"t0"], reg, [32], 64) == [32]
    assert torch.equal(t[16:32], torch.arange(16, dtype=torch.float16))
    with pytest.raises(ValueError, match="contiguous"):
        client.register(torch.zeros(8, 8).t())
    src = torch.arange(8, dtype=torch.int32)
    assert all(client.put(ns, [b"t1"], [src]))
    assert client.get(ns, [b"t1"]) == [np.arange(8, dtype=np.int32).tobytes()]


def test_calls_release_the_gil():
    # Connecting to a port nobody serves blocks in C++ for connect_timeout_ms; meanwhile this
    # thread must keep running Python (it could not if the call held the GIL).
    import time
    done = threading.Event()

    def connect():
        with pytest.raises(strata.StrataError):
            strata.Client("127.0.0.1:1", connect_timeout_ms=1500)
        done.set()

    th = threading.Thread(target=connect)
    th.start()
    time.sleep(0.05)
    spins = 0
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        spins += 1
    assert not done.is_set(), "the blocking call returned before this thread ran"
    assert spins > 1000
    th.join(timeout=10)
    assert done.is_set()


def test_close_while_calls_run(node, ns):
    c = strata.Client(node.address)
    c.put(ns, [b"c0"], [np.zeros(1 << 16, dtype=np.uint8)])
    pool = np.zeros(1 << 16, dtype=np.uint8)
    reg = c.register(pool)
    outcomes = []

    def worker():
        for _ in range(200):
            try:
                assert c.get_into(ns, [b"c0"], reg, [0], 1 << 16) == [1 << 16]
                outcomes.append("ok")
            except ValueError as e:  # closed: refused before any I/O
                assert "closed" in str(e)
                outcomes.append("closed")
                return

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    c.close()
    for th in threads:
        th.join(timeout=30)
    assert len(outcomes) >= 4 and set(outcomes) <= {"ok", "closed"}
    with pytest.raises(ValueError, match="closed"):
        c.get(ns, [b"c0"])
    reg.close()
