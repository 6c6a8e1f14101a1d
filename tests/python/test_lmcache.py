"""strata.integrations.lmcache driven the way LMCache's storage manager calls a remote
connector: batched_put of chunks, then batched_async_contains(lookup_id, keys, pin=True) on the
scheduler side and batched_get_non_blocking(lookup_id, keys) on the worker side."""

import asyncio

import numpy as np
import pytest

from strata.integrations import lmcache as lmc


def key(i, model="meta-llama/Llama-3.1-8B", worker=0, dtype="bfloat16"):
    return f"{model}@1@{worker}@{(0xABC000 + i):x}@{dtype}"


def chunk(i, size=4096):
    return np.full(size, i % 251, dtype=np.uint8)


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def conn(node):
    c = lmc.StrataConnector(url="strata://" + node.address, lease_ms=20000)
    yield c
    c.close_sync()


def test_key_mapping():
    ns, kb = lmc.map_key("meta-llama/Llama-3.1-8B@2@1@1f2e@half")
    assert ns == "lmcache/meta-llama/Llama-3.1-8B/ws2/w1/half"
    assert kb == bytes.fromhex("1f2e")
    ns_old, kb_old = lmc.map_key("vllm@meta-llama/Llama-3.1-8B@2@1@-12345")
    assert ns_old == "lmcache/meta-llama/Llama-3.1-8B/ws2/w1/vllm" and kb_old == b"-12345"
    # Tags are part of the namespace; odd characters are replaced and the namespace hashed.
    ns_tag, _ = lmc.map_key("m@1@0@ff@half@user%alice smith")
    assert ns_tag.startswith("lmcache/m/ws1/w0/half/user_alice_smith/h")
    assert lmc.map_key("m@1@0@ff@half@user%alice_smith")[0] != ns_tag

    class CacheEngineKey:  # the attribute LMCache's key has
        def to_string(self):
            return "m@1@0@00ff@half"
    assert lmc.map_key(CacheEngineKey()) == ("lmcache/m/ws1/w0/half", b"\x00\xff")


def test_engine_call_order_prefix_and_pins(conn):
    keys = [key(i) for i in range(8)]
    # Store chunks 0-4 and 6 (chunk 5 missing: the usable prefix is 5).
    stored = [k for i, k in enumerate(keys) if i != 5 and i != 7]
    run(conn.batched_put(stored, [chunk(i) for i in range(8) if i not in (5, 7)]))
    assert run(conn.exists(keys[0])) is True
    assert conn.exists_sync(keys[5]) is False
    # Scheduler: prefix hit count, pinned.
    hits = run(conn.batched_async_contains("req-1", keys, pin=True))
    assert hits == 5
    assert len(conn.pinned("req-1")) == 5
    # Worker: load the prefix the lookup found; the pins go once it is loaded.
    objs = run(conn.batched_get_non_blocking("req-1", keys[:hits]))
    assert len(objs) == 5
    for i, o in enumerate(objs):
        assert np.array_equal(o, chunk(i))
    assert conn.pinned("req-1") == []
    # Without pin nothing is recorded.
    assert run(conn.batched_async_contains("req-2", keys, pin=False)) == 5
    assert conn.pinned("req-2") == []
    assert run(conn.batched_async_contains("req-3", [key(100)] + keys, pin=True)) == 0
    assert conn.pinned("req-3") == []


def test_single_key_methods_and_misses(conn):
    k = key(50)
    assert run(conn.get(k)) is None
    run(conn.put(k, chunk(50, 1000)))
    assert np.array_equal(run(conn.get(k)), chunk(50, 1000))
    got = run(conn.batched_get([k, key(51)]))
    assert np.array_equal(got[0], chunk(50, 1000)) and got[1] is None
    assert conn.batched_contains([k, key(51), k]) == [True, False, False]
    assert conn.batched_contains([k, key(51), k], stop_after_first_not_exits=False) == [True, False, True]
    assert conn.remove_sync(k) is True
    assert conn.remove_sync(k) is False
    assert run(conn.ping()) == 0
    assert run(conn.list()) == []
    assert conn.support_batched_async_contains() and conn.support_batched_get_non_blocking()


def test_memory_obj_payload(conn):
    class MemoryObj:  # LMCache's MemoryObj exposes its bytes as .byte_array
        def __init__(self, arr):
            self.byte_array = memoryview(arr)
    run(conn.batched_put([key(60)], [MemoryObj(chunk(60))]))
    assert np.array_equal(run(conn.get(key(60))), chunk(60))


def test_workers_are_separate_namespaces(conn):
    run(conn.put(key(70, worker=0), chunk(1)))
    assert conn.exists_sync(key(70, worker=1)) is False


def test_four_threads(conn, run_in_threads):

    def worker(t):
        ks = [key(1000 + 100 * t + i) for i in range(10)]
        run(conn.batched_put(ks, [chunk(t * 10 + i) for i in range(10)]))
        for _ in range(3):
            assert run(conn.batched_async_contains(f"t{t}", ks, pin=True)) == 10
            objs = run(conn.batched_get_non_blocking(f"t{t}", ks))
            assert [np.array_equal(o, chunk(t * 10 + i)) for i, o in enumerate(objs)] == [True] * 10

    run_in_threads(worker)


def test_pins_survive_eviction(small_node):
    conn = lmc.StrataConnector(url=small_node.address, lease_ms=30000)
    block = 512 << 10
    pinned = [key(i, model="pin") for i in range(4)]
    early = [key(100 + i, model="pin") for i in range(4)]
    run(conn.batched_put(pinned + early, [chunk(i, block) for i in range(8)]))
    assert run(conn.batched_async_contains("req", pinned, pin=True)) == 4
    # Write twice the node's 64 MiB DRAM (no SSD tier): unpinned blocks get evicted.
    for r in range(8):
        ks = [key(10000 + r * 32 + i, model="fill") for i in range(32)]
        run(conn.batched_put(ks, [chunk(i, block) for i in range(32)]))
    assert conn.batched_contains(pinned, stop_after_first_not_exits=False) == [True] * 4
    assert conn.batched_contains(early, stop_after_first_not_exits=False) == [False] * 4
    objs = run(conn.batched_get_non_blocking("req", pinned))
    assert [np.array_equal(o, chunk(i, block)) for i, o in enumerate(objs)] == [True] * 4
    assert conn.release("req") == 0
    conn.close_sync()


def test_adapter_builds_a_connector(node):
    class Context:
        url = "strata://" + node.address
        loop = None
        local_cpu_backend = None
        config = None
    c = lmc.StrataConnectorAdapter().create_connector(Context())
    assert isinstance(c, lmc.StrataConnector)
    assert run(c.ping()) == 0
    c.close_sync()
