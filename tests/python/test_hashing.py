"""Engine block keys, checked against vectors computed here from the engines' documented
algorithms (hashlib, cbor2)."""

import hashlib
import struct

import cbor2
import numpy as np
import pytest

import strata
from strata import hashing


def sglang_reference(tokens, page_size, prior=None):
    # SGLang get_hash_str: sha256(bytes.fromhex(prior) + u32 LE tokens).hexdigest(), chained.
    out = []
    for start in range(0, len(tokens) - page_size + 1, page_size):
        h = hashlib.sha256()
        if prior:
            h.update(bytes.fromhex(prior))
        for t in tokens[start:start + page_size]:
            h.update(t.to_bytes(4, byteorder="little", signed=False))
        prior = h.hexdigest()
        out.append(prior)
    return out


def test_sglang_page_hashes_match_reference():
    tokens = [(i * 7919) % 128256 for i in range(1000)]
    assert strata.sglang_page_hashes(tokens, 64) == sglang_reference(tokens, 64)
    assert len(strata.sglang_page_hashes(tokens, 64)) == 15  # full pages only
    arr = np.array(tokens, dtype=np.int64)
    assert strata.sglang_page_hashes(arr, 1) == sglang_reference(tokens, 1)
    prior = "ab" * 32
    assert strata.sglang_page_hashes(tokens, 16, prior) == sglang_reference(tokens, 16, prior)
    # A fixed vector: sha256 of u32 LE 1,2,3,4.
    assert strata.sglang_page_hashes([1, 2, 3, 4], 4) == [
        hashlib.sha256(struct.pack("<4I", 1, 2, 3, 4)).hexdigest()]
    with pytest.raises(ValueError):
        strata.sglang_page_hashes([1 << 32], 1)
    with pytest.raises(TypeError):
        strata.sglang_page_hashes(np.array([1.0, 2.0]), 1)


def vllm_reference(tokens, block_size, seed, extra=None):
    def sha256_cbor(x):
        return hashlib.sha256(cbor2.dumps(x, canonical=True)).digest()
    parent = sha256_cbor(seed)
    out = []
    for i in range(len(tokens) // block_size):
        parent = sha256_cbor((parent, tuple(tokens[i * block_size:(i + 1) * block_size]), extra))
        out.append(parent)
    return out


@pytest.mark.parametrize("extra", [None, ("lora-a",), ("salt", 7, (b"\x01\x02", -3))])
def test_vllm_sha256_cbor_chain_matches_cbor2(extra):
    tokens = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32] + list(range(100, 150))
    got = hashing.vllm_block_hashes(tokens, 16, hash_seed="0", extra_keys=extra)
    assert got == vllm_reference(tokens, 16, "0", extra)
    assert len(got) == 3 and all(len(h) == 32 for h in got)


def test_vllm_canonical_cbor_matches_cbor2():
    for v in [0, 23, 24, 255, 256, 65536, 2**40, -1, -25, -2**40, b"", b"x" * 300, "é" * 30,
              None, True, False, (1, (2, [b"3"]), "4"), tuple(range(1000))]:
        assert hashing.cbor_canonical(v) == cbor2.dumps(v, canonical=True), v


def test_block_hasher_matches_its_documented_formula():
    ns, bt = "acme/llama", 4
    tokens = list(range(10))
    h = strata.BlockHasher(ns, block_tokens=bt)
    salt = hashlib.sha256(b"strata/v1/namespace/" + ns.encode()).digest()
    prev, want = b"", []
    for i in range(len(tokens) // bt):
        block = struct.pack(f"<{bt}I", *tokens[i * bt:(i + 1) * bt])
        prev = hashlib.sha256(salt + bytes([len(prev)]) + prev + block).digest()[:16]
        want.append(prev)
    assert h.keys(tokens) == want
    assert h.next(None, tokens[:4]) == want[0]
    assert h.next(want[0], tokens[4:8]) == want[1]
    assert strata.BlockHasher(ns, block_tokens=bt, key_bytes=32).keys(tokens[:4])[0][:16] == want[0]
    assert len(strata.BlockHasher(ns, block_tokens=bt, hash="xxh3_128").keys(tokens)[0]) == 16
