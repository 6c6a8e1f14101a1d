"""strata.integrations.sglang driven the way SGLang's HiCacheController calls an L3 backend:
register_mem_pool_host, then batch_exists -> batch_get_v1 (prefetch) and batch_set_v1 (backup)
with page-hash keys and host_indices into the registered host pool."""

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

import strata
from strata.integrations import sglang as sgl

PAGE = 16
TOKEN_BYTES = 512  # per part (K or V) per token


def config(model="Qwen/Qwen3-8B", tp_rank=0, tp_size=2, mla=False, address=None):
    return SimpleNamespace(tp_rank=tp_rank, tp_size=tp_size, pp_rank=0, pp_size=1,
                           is_mla_model=mla, model_name=model,
                           extra_config={"backend_name": "strata",
                                         "module_path": "strata.integrations.sglang",
                                         "class_name": "StrataHiCacheStorage",
                                         "strata_address": address})


def host_indices(pages):
    return np.concatenate([np.arange(p * PAGE, (p + 1) * PAGE) for p in pages]).astype(np.int64)


def fill(pool, pages, seed):
    rng = np.random.default_rng(seed)
    for p in pages:
        pool.page_view(p)[:] = rng.integers(0, 256, pool.page_bytes, dtype=np.uint8)


@pytest.fixture
def backend(node):
    b = sgl.StrataHiCacheStorage(config(address=node.address), {})
    pool = sgl.NumpyHostPool(num_pages=64, page_size=PAGE, bytes_per_token=TOKEN_BYTES)
    b.register_mem_pool_host(pool)
    yield b, pool
    b.close()


def test_namespace_has_model_and_rank(node):
    b = sgl.StrataHiCacheStorage(config(tp_rank=1, tp_size=4, address=node.address), {})
    assert b.namespace == "sglang/Qwen/Qwen3-8B/tp1of4"
    m = sgl.StrataHiCacheStorage(config(mla=True, address=node.address), {})
    assert m.namespace == "sglang/Qwen/Qwen3-8B/mla"
    b.close()
    m.close()


def test_backup_then_prefetch_zero_copy(backend, request):
    b, pool = backend
    tokens = np.arange(PAGE * 6, dtype=np.int64) + hash(request.node.name) % 1000
    keys = strata.sglang_page_hashes(tokens, PAGE)
    assert len(keys) == 6
    assert b.batch_exists(keys) == 0
    # Backup pages 0-3 from host slots 10..13.
    fill(pool, range(10, 14), seed=1)
    assert b.batch_set_v1(keys[:4], host_indices(range(10, 14))) == [True] * 4
    assert b.batch_exists(keys) == 4
    assert b.exists(keys[0]) and not b.exists(keys[5])
    # A second backup of the same pages sends nothing new and still reports success.
    assert b.batch_set_v1(keys[:4], host_indices(range(10, 14))) == [True] * 4
    # Prefetch the hit prefix into different slots: bytes identical, written in place.
    addr = pool.kv_buffer.ctypes.data
    tracemalloc.start()
    ok = b.batch_get_v1(keys[:4], host_indices([40, 41, 42, 43]))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ok == [True] * 4
    assert peak < pool.part_bytes // 2, peak  # no page-sized Python objects were made
    assert pool.kv_buffer.ctypes.data == addr == b._reg.address
    for src, dst in zip(range(10, 14), range(40, 44)):
        assert np.array_equal(pool.page_view(src), pool.page_view(dst))
    # Misses are False per page; nothing lands in their slots.
    ok = b.batch_get_v1([keys[4], keys[0]], host_indices([50, 51]))
    assert ok == [False, True]
    assert not pool.page_view(50).any()


def test_missing_part_is_not_a_hit(backend):
    b, pool = backend
    keys = strata.sglang_page_hashes(np.arange(PAGE * 2) + 5000, PAGE)
    fill(pool, [0, 1], seed=2)
    assert b.batch_set_v1(keys, host_indices([0, 1])) == [True, True]
    b.client.remove(b.namespace, [bytes.fromhex(keys[1]) + b"\x01"])  # V of page 1 gone
    assert b.batch_exists(keys) == 1
    assert b.batch_get_v1(keys, host_indices([2, 3])) == [True, False]


def test_bad_host_indices(backend):
    b, pool = backend
    keys = strata.sglang_page_hashes(np.arange(PAGE) + 9000, PAGE)
    fill(pool, [0], seed=3)
    b.batch_set_v1(keys, host_indices([0]))
    before = pool.kv_buffer.copy()
    with pytest.raises(TypeError, match="integers"):
        b.batch_get_v1(keys, host_indices([5]).astype(np.float32))
    with pytest.raises(ValueError, match="outside"):
        b.batch_get_v1(keys, host_indices([64]))  # one past the pool
    with pytest.raises(ValueError, match="slots"):
        b.batch_get_v1(keys, host_indices([5])[:-1])
    assert np.array_equal(pool.kv_buffer, before)


def test_mla_pool_one_part_per_page(node):
    b = sgl.StrataHiCacheStorage(config(mla=True, address=node.address), {})
    pool = sgl.NumpyHostPool(num_pages=8, page_size=PAGE, bytes_per_token=576 * 2, is_mla=True,
                             dtype=np.float16)
    b.register_mem_pool_host(pool)
    keys = strata.sglang_page_hashes(np.arange(PAGE * 2) + 7000, PAGE)
    fill(pool, [0, 1], seed=4)
    assert b.batch_set_v1(keys, host_indices([0, 1])) == [True, True]
    assert b.batch_exists(keys) == 2
    assert b.batch_get_v1(keys, host_indices([6, 7])) == [True, True]
    assert np.array_equal(pool.page_view(0), pool.page_view(6))
    b.close()


def test_older_copying_interface(backend):
    b, pool = backend
    keys = strata.sglang_page_hashes(np.arange(PAGE * 2) + 11000, PAGE)
    vals = [np.full(pool.page_bytes, 3, dtype=np.uint8), np.full(pool.page_bytes, 4, dtype=np.uint8)]
    assert b.batch_set(keys, vals) is True
    got = b.batch_get(keys + ["00" * 32])
    assert np.array_equal(got[0], vals[0]) and np.array_equal(got[1], vals[1]) and got[2] is None
    assert b.get(keys[1]) is not None


def test_four_threads_prefetch(backend, run_in_threads):
    b, pool = backend
    key_sets = [strata.sglang_page_hashes(np.arange(PAGE * 4) + 20000 + 1000 * t, PAGE)
                for t in range(4)]
    for t in range(4):
        fill(pool, range(t * 4, t * 4 + 4), seed=10 + t)
        assert b.batch_set_v1(key_sets[t], host_indices(range(t * 4, t * 4 + 4))) == [True] * 4

    def worker(t):
        for _ in range(5):
            assert b.batch_exists(key_sets[t]) == 4
            dst = range(32 + t * 4, 32 + t * 4 + 4)
            assert b.batch_get_v1(key_sets[t], host_indices(dst)) == [True] * 4

    run_in_threads(worker)
    for t in range(4):
        for i in range(4):
            assert np.array_equal(pool.page_view(t * 4 + i), pool.page_view(32 + t * 4 + i))
