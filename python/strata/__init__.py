"""strata: Python access to a Strata KV-cache cluster.

    import numpy as np, strata
    c = strata.Client("127.0.0.1:7100")            # or nodes=[...], or etcd=[...], cluster="..."
    c.put("acme/llama3-8b/tp0", [b"k0"], [np.arange(4, dtype=np.uint8)])
    c.get("acme/llama3-8b/tp0", [b"k0", b"nope"])   # -> [b"\\x00\\x01\\x02\\x03", None]

    pool = np.zeros(64 << 20, dtype=np.uint8)
    reg = c.register(pool)                           # pinned until reg.close()
    c.get_into(ns, keys, reg, offsets, sizes)        # bytes land in `pool`, no copies in Python

Calls are batched: one result per key, in order. A miss is None (get, get_into) or False
(exists); a key's own failure is a falsy strata.Status; a call that fails as a whole raises
strata.StrataError with .code (strata.StatusCode). Bad arguments raise ValueError / TypeError
before anything is sent. Every call releases the GIL while it waits; the *_async forms return
concurrent.futures.Future.
"""

from . import _strata  # noqa: F401 - the extension, strata._strata
from ._strata import (  # noqa: F401
    BlockHasher,
    Registration,
    Status,
    StatusCode,
    StrataError,
    address_of,
    keep_large_buffers_in_heap,
    sglang_page_hashes,
    to_hex,
)
from .client import Client  # noqa: F401
from . import hashing  # noqa: F401

__all__ = [
    "BlockHasher",
    "Client",
    "Registration",
    "Status",
    "StatusCode",
    "StrataError",
    "address_of",
    "hashing",
    "keep_large_buffers_in_heap",
    "sglang_page_hashes",
    "to_hex",
]
