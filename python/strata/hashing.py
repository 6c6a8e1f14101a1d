"""Block keys the way engines compute them, so Strata stores their blocks under their own keys
(Strata never re-hashes a key).

- sglang_page_hashes(tokens, page_size, prior_hash=None): SGLang HiCache page keys, hex strings
  (SHA-256 over the previous page's digest and the page's tokens as little-endian u32).
  Implemented in C++ (strata._strata).
- vllm_block_hashes(tokens, block_size, hash_seed=None, extra_keys=None): vLLM's
  `sha256_cbor` chain, 32-byte digests: hash_i = SHA-256(canonical CBOR of
  (hash_{i-1}, tuple(tokens_i), extra_keys_i)), hash_{-1} = NONE_HASH =
  sha256_cbor(PYTHONHASHSEED) (vLLM draws a random one when PYTHONHASHSEED is unset; pass the
  same seed the engine runs with, or the engine's NONE_HASH bytes as `none_hash`).
- strata.BlockHasher: Strata's own chain (client/block_hasher.h).
"""

import hashlib
import struct

from ._strata import BlockHasher, sglang_page_hashes

__all__ = ["BlockHasher", "cbor_canonical", "sglang_page_hashes", "sha256_cbor",
           "vllm_block_hashes", "vllm_none_hash"]


def _cbor_head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 1 << 8:
        return bytes([(major << 5) | 24, n])
    if n < 1 << 16:
        return bytes([(major << 5) | 25]) + struct.pack(">H", n)
    if n < 1 << 32:
        return bytes([(major << 5) | 26]) + struct.pack(">I", n)
    if n < 1 << 64:
        return bytes([(major << 5) | 27]) + struct.pack(">Q", n)
    raise ValueError("integer too large for CBOR without bignums")


def cbor_canonical(obj):
    """Canonical CBOR (RFC 8949 4.2.1: shortest heads, definite lengths) of the values vLLM puts
    in block-hash inputs: None, bool, int, bytes, str, and tuples/lists of them."""
    out = bytearray()
    _encode(obj, out)
    return bytes(out)


def _encode(obj, out):
    if obj is None:
        out.append(0xF6)
    elif obj is True:
        out.append(0xF5)
    elif obj is False:
        out.append(0xF4)
    elif isinstance(obj, int):
        if obj >= 0:
            out += _cbor_head(0, obj)
        else:
            out += _cbor_head(1, -1 - obj)
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        out += _cbor_head(2, len(b))
        out += b
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        out += _cbor_head(3, len(b))
        out += b
    elif isinstance(obj, (tuple, list)):
        out += _cbor_head(4, len(obj))
        for x in obj:
            _encode(x, out)
    else:
        raise TypeError(f"cannot hash a {type(obj).__name__} in a vLLM block key")


def sha256_cbor(obj):
    """vLLM's sha256_cbor: SHA-256 of the canonical CBOR of obj, 32 bytes."""
    return hashlib.sha256(cbor_canonical(obj)).digest()


def vllm_none_hash(hash_seed):
    """vLLM's NONE_HASH (the first block's parent) for PYTHONHASHSEED=hash_seed (a str)."""
    return sha256_cbor(hash_seed)


def vllm_block_hashes(tokens, block_size, hash_seed=None, extra_keys=None, none_hash=None):
    """vLLM sha256_cbor block hashes of every full block of `tokens` (bytes, 32 each).

    extra_keys: None, one tuple for every block, or a list with one entry (None or tuple) per
    full block (LoRA name, multimodal hashes, cache_salt on the first block...)."""
    if block_size <= 0:
        raise ValueError("block_size must be > 0")
    if none_hash is None:
        if hash_seed is None:
            raise ValueError("give hash_seed (the engine's PYTHONHASHSEED) or none_hash")
        none_hash = vllm_none_hash(hash_seed)
    tokens = [int(t) for t in tokens]
    n = len(tokens) // block_size
    if isinstance(extra_keys, list):
        if len(extra_keys) != n:
            raise ValueError(f"extra_keys: {len(extra_keys)} entries for {n} full blocks")
        per_block = extra_keys
    else:
        per_block = [extra_keys] * n
    hashes = []
    parent = bytes(none_hash)
    for i in range(n):
        block = tuple(tokens[i * block_size:(i + 1) * block_size])
        extra = per_block[i]
        parent = sha256_cbor((parent, block, tuple(extra) if extra is not None else None))
        hashes.append(parent)
    return hashes
