"""SGLang HiCache storage backend (L3) over Strata.

SGLang's HiCacheController drives an L3 backend (sglang/srt/mem_cache/hicache_storage.py,
HiCacheStorage) in this order:

  backend = StrataHiCacheStorage(storage_config, kwargs)     # 'dynamic' backend factory
  backend.register_mem_pool_host(mem_pool_host)               # the host (L2) KV pool
  prefetch:  n = backend.batch_exists(page_keys)              # leading pages present
             ok = backend.batch_get_v1(page_keys[:n], host_indices)   # into the host pool
  backup:    ok = backend.batch_set_v1(page_keys, host_indices)       # from the host pool

Keys are SGLang page hashes (hex SHA-256 chain, strata.sglang_page_hashes); batches are at most
128 pages. Data moves zero-copy: the host pool's buffer is registered once, and each page's
bytes go straight between Strata and their place in the pool (mem_pool_host.
get_page_buffer_meta(host_indices) gives each page's parts, addresses and sizes: K and V for MHA
with page_first, one latent for MLA; each part is one Strata block, key = page hash bytes + the
part's index). Model and TP rank are in the namespace: "sglang/<model>/tp<r>of<n>"
("sglang/<model>/mla" for MLA models, whose pages are the same on every rank).

Selecting it in SGLang:

    python -m sglang.launch_server --model-path MODEL --enable-hierarchical-cache \\
      --hicache-storage-backend dynamic \\
      --hicache-mem-layout page_first \\
      --hicache-storage-backend-extra-config '{"backend_name": "strata",
        "module_path": "strata.integrations.sglang", "class_name": "StrataHiCacheStorage",
        "strata_address": "127.0.0.1:7100"}'

(extra-config keys: strata_address | strata_nodes (list) | strata_etcd + strata_cluster,
strata_token, strata_namespace_prefix.)
"""

import numpy as np

from .. import Client
from . import make_namespace

try:  # pragma: no cover - only with SGLang installed
    from sglang.srt.mem_cache.hicache_storage import HiCacheStorage as _Base
except Exception:  # noqa: BLE001
    _Base = object


def _page_key(key):
    """Strata key bytes for an SGLang page key (64 hex chars -> its 32 bytes)."""
    if isinstance(key, bytes):
        return key
    try:
        b = bytes.fromhex(key)
        if 0 < len(b) <= 62:
            return b
    except ValueError:
        pass
    b = key.encode("utf-8")
    if len(b) > 62:
        raise ValueError(f"page key longer than 62 bytes: {key[:80]!r}")
    return b


def _indices(host_indices):
    """host_indices (torch tensor, numpy array or list of ints) as an int64 numpy array."""
    if hasattr(host_indices, "__dlpack__") and not isinstance(host_indices, np.ndarray):
        host_indices = host_indices.cpu().numpy() if hasattr(host_indices, "cpu") else host_indices
    arr = np.asarray(host_indices)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"host_indices must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False).reshape(-1)


class NumpyHostPool:
    """A stand-in for SGLang's host KV pool (MHATokenToKVPoolHost / MLATokenToKVPoolHost with
    layout page_first) backed by one numpy array: page p's K bytes then V bytes (MLA: one latent
    part) are contiguous. Implements the parts of the pool the backend uses:
    kv_buffer, page_size, layout, get_page_buffer_meta(host_indices)."""

    def __init__(self, num_pages, page_size, bytes_per_token, is_mla=False, dtype=np.uint8):
        self.page_size = page_size
        self.is_mla = is_mla
        self.layout = "page_first"
        self.parts = 1 if is_mla else 2
        self.part_bytes = page_size * bytes_per_token
        self.page_bytes = self.parts * self.part_bytes
        itemsize = np.dtype(dtype).itemsize
        if self.page_bytes % itemsize:
            raise ValueError("page bytes must be a multiple of the dtype size")
        self.kv_buffer = np.zeros(num_pages * self.page_bytes // itemsize, dtype=dtype)
        self.num_pages = num_pages
        self.size = num_pages * page_size  # token slots, as SGLang's pools call it

    def page_view(self, page):
        """Page `page`'s bytes (all parts), a view into kv_buffer."""
        b = self.kv_buffer.view(np.uint8)
        return b[page * self.page_bytes:(page + 1) * self.page_bytes]

    def get_page_buffer_meta(self, host_indices):
        idx = _indices(host_indices)
        pages = idx[:: self.page_size] // self.page_size
        base = self.kv_buffer.ctypes.data
        ptrs, sizes = [], []
        for p in pages.tolist():
            for part in range(self.parts):
                ptrs.append(base + p * self.page_bytes + part * self.part_bytes)
                sizes.append(self.part_bytes)
        return ptrs, sizes


class StrataHiCacheStorage(_Base):
    """SGLang HiCacheStorage over Strata (see the module docstring)."""

    def __init__(self, storage_config=None, kwargs=None, *, client=None, namespace=None,
                 **client_kwargs):
        extra = dict(getattr(storage_config, "extra_config", None) or {})
        model = getattr(storage_config, "model_name", None) or extra.get("model_name", "model")
        tp_rank = getattr(storage_config, "tp_rank", 0)
        tp_size = getattr(storage_config, "tp_size", 1)
        self.is_mla = bool(getattr(storage_config, "is_mla_model", False))
        prefix = extra.get("strata_namespace_prefix", "sglang")
        if namespace is None:
            scope = "mla" if self.is_mla else f"tp{tp_rank}of{tp_size}"
            pp_size = getattr(storage_config, "pp_size", 1) or 1
            extra_scope = f"pp{getattr(storage_config, 'pp_rank', 0)}of{pp_size}" if pp_size > 1 else None
            namespace = make_namespace(prefix, model, scope, extra_scope)
        self.namespace = namespace
        if client is None:
            if extra.get("strata_token"):
                client_kwargs.setdefault("token", extra["strata_token"])
            if extra.get("strata_nodes"):
                client = Client(nodes=list(extra["strata_nodes"]), **client_kwargs)
            elif extra.get("strata_etcd"):
                client = Client(etcd=list(extra["strata_etcd"]), cluster=extra["strata_cluster"],
                                **client_kwargs)
            else:
                client = Client(extra.get("strata_address", "127.0.0.1:7100"), **client_kwargs)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.mem_pool_host = None
        self._reg = None
        self.parts = 1 if self.is_mla else 2

    # -- host pool -----------------------------------------------------------------------------
    def register_mem_pool_host(self, mem_pool_host):
        """Registers the pool's buffer with Strata once; get/set then move bytes in place.
        A page is stored as one Strata block per part the pool reports for it
        (get_page_buffer_meta: K and V for MHA with page_first, one latent for MLA, per layer
        with layer_first)."""
        self.mem_pool_host = mem_pool_host
        ptrs, _ = mem_pool_host.get_page_buffer_meta(np.arange(mem_pool_host.page_size))
        if not 1 <= len(ptrs) <= 255:
            raise ValueError(f"host pool reports {len(ptrs)} parts per page (1-255 supported)")
        self.parts = len(ptrs)
        if self._reg is not None:
            self._reg.close()
        self._reg = self.client.register(mem_pool_host.kv_buffer)

    def _keys(self, keys):
        """Strata keys of `keys`' parts, in page order (page key bytes + the part's index)."""
        out = []
        for k in keys:
            kb = _page_key(k)
            out.extend(kb + bytes([i]) for i in range(self.parts))
        return out

    def _placement(self, keys, host_indices):
        if self._reg is None:
            raise ValueError("register_mem_pool_host() first")
        idx = _indices(host_indices)
        if idx.size != len(keys) * self.mem_pool_host.page_size:
            raise ValueError(f"host_indices: {idx.size} slots for {len(keys)} pages of "
                             f"{self.mem_pool_host.page_size}")
        slots = getattr(self.mem_pool_host, "size", None)  # token slots in the pool
        if idx.size and (idx.min() < 0 or (slots is not None and idx.max() >= slots)):
            raise ValueError(f"host_indices: outside the host pool ({slots} slots)")
        ptrs, sizes = self.mem_pool_host.get_page_buffer_meta(idx)
        if len(ptrs) != len(keys) * self.parts:
            raise ValueError(f"host pool gave {len(ptrs)} parts for {len(keys)} pages")
        base = self._reg.address
        offsets = [p - base for p in ptrs]
        if any(o < 0 for o in offsets):
            raise ValueError("host_indices: a page lies outside the registered host pool")
        return self._keys(keys), offsets, sizes

    # -- the zero-copy interface ---------------------------------------------------------------
    def batch_exists(self, keys, extra_info=None):
        """Number of leading pages whose every part is stored."""
        if not keys:
            return 0
        return self.client.lookup(self.namespace, self._keys(keys)) // self.parts

    def batch_get_v1(self, keys, host_indices, extra_info=None):
        """Loads pages into the host pool at host_indices; True per page fully loaded."""
        if not keys:
            return []
        skeys, offsets, sizes = self._placement(keys, host_indices)
        res = self.client.get_into(self.namespace, skeys, self._reg, offsets, sizes)
        ok = [isinstance(r, int) and not isinstance(r, bool) and r == s for r, s in zip(res, sizes)]
        return [all(ok[i * self.parts:(i + 1) * self.parts]) for i in range(len(keys))]

    def batch_set_v1(self, keys, host_indices, extra_info=None):
        """Stores pages from the host pool; pages already stored are not sent again."""
        if not keys:
            return []
        skeys, offsets, sizes = self._placement(keys, host_indices)
        present = self.client.exists(self.namespace, skeys)
        todo = [i for i, p in enumerate(present) if not p]
        ok = list(present)
        if todo:
            res = self.client.put_from(self.namespace, [skeys[i] for i in todo], self._reg,
                                       [offsets[i] for i in todo], [sizes[i] for i in todo])
            for i, st in zip(todo, res):
                ok[i] = bool(st)
        return [all(ok[i * self.parts:(i + 1) * self.parts]) for i in range(len(keys))]

    # -- the older interface (values as buffers; copies) ---------------------------------------
    def exists(self, key):
        return self.batch_exists([key]) == 1

    def get(self, key, target_location=None, target_sizes=None):
        got = self.batch_get([key], [target_location] if target_location is not None else None)
        return got[0]

    def batch_get(self, keys, target_locations=None, target_sizes=None):
        """Each page's parts concatenated, as numpy uint8 (or copied into target_locations[i]
        when given); None for a page not fully stored."""
        res = self.client.get(self.namespace, self._keys(keys))
        out = []
        for i in range(len(keys)):
            parts = res[i * self.parts:(i + 1) * self.parts]
            if not all(isinstance(p, bytes) for p in parts):
                out.append(None)
                continue
            data = np.frombuffer(b"".join(parts), dtype=np.uint8)
            if target_locations is not None and target_locations[i] is not None:
                dst = np.asarray(target_locations[i]).reshape(-1).view(np.uint8)
                dst[: data.size] = data
                out.append(target_locations[i])
            else:
                out.append(data)
        return out

    def set(self, key, value=None, target_location=None, target_sizes=None):
        return self.batch_set([key], [value])

    def batch_set(self, keys, values=None, target_locations=None, target_sizes=None):
        """Stores each page's bytes (split evenly into its parts). True when all were stored."""
        skeys, payloads = self._keys(keys), []
        for v in values:
            b = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
            if b.size % self.parts:
                raise ValueError("a page's bytes must split evenly into its parts")
            n = b.size // self.parts
            payloads.extend(b[j * n:(j + 1) * n] for j in range(self.parts))
        return all(self.client.put(self.namespace, skeys, payloads))

    def clear(self):
        pass  # Strata's blocks age out by its own eviction; nothing is held here

    def get_stats(self):
        return None

    def close(self):
        if self._reg is not None:
            self._reg.close()
            self._reg = None
        if self._owns_client:
            self.client.close()
