"""LMCache remote connector over Strata.

LMCache (lmcache/v1/storage_backend/connector/base_connector.py) calls a RemoteConnector with
CacheEngineKey objects (or their string form "model@world_size@worker_id@chunk_hash@dtype
[@tag%value...]"). This connector maps each key to a Strata namespace (model, world size, worker,
dtype and tags: "lmcache/<model>/ws<N>/w<i>/<dtype>") and a Strata key (the chunk hash's bytes),
and implements the methods LMCache calls, in its call order:

  scheduler side:  batched_async_contains(lookup_id, keys, pin=True) -> int   (prefix hits)
  worker side:     batched_get_non_blocking(lookup_id, keys) -> [obj]          (loads, unpins)
  store:           batched_put(keys, objs) / put(key, obj)
  single key:      exists(key), exists_sync(key), get(key), remove_sync(key)
  probes:          batched_contains(keys), list(), ping(), close()

Only the contiguous found prefix counts (a chunk after a miss is useless to a prefix cache).
Pinning uses Strata leases: `pin=True` leases the found prefix on the node for `lease_ms`
(default 30 s), so eviction skips those blocks until the lookup's blocks are loaded (the
connector then forgets the pin) or the lease ends. The node has no call that ends a lease early;
release(lookup_id) forgets the pin here and the lease runs out on its own.

Values: put accepts an LMCache MemoryObj (its .byte_array) or any buffer (numpy, memoryview,
bytes, CPU torch tensor). get returns the bytes as a numpy uint8 array, or wrap_result(array)
when a wrap_result callable is given (e.g. one that builds an LMCache MemoryObj). The get path
copies once (gRPC bytes into the array); the zero-copy path is the SGLang adapter's.

Selecting it in LMCache (remote storage plugin framework), in the LMCache config YAML:

    chunk_size: 256
    local_cpu: true
    remote_storage_plugins: strata
    extra_config:
      remote_storage_plugin.strata.module_path: strata.integrations.lmcache
      remote_storage_plugin.strata.class_name: StrataConnectorAdapter
      remote_storage_plugin.strata.url: strata://127.0.0.1:7100
      strata.lease_ms: 30000

or, with older LMCache, remote_url: "external://127.0.0.1:7100/strata.integrations.lmcache/
?connector_name=StrataConnector" plus extra_config strata.address: 127.0.0.1:7100.
"""

import asyncio
import hashlib
import threading

import numpy as np

from .. import Client, StrataError  # noqa: F401
from . import make_namespace

try:  # pragma: no cover - only with LMCache installed
    from lmcache.v1.storage_backend.connector.base_connector import RemoteConnector as _Base
except Exception:  # noqa: BLE001 - any import failure means "no LMCache here"
    _Base = object

try:  # pragma: no cover
    from lmcache.v1.storage_backend.connector import ConnectorAdapter as _AdapterBase
except Exception:  # noqa: BLE001
    _AdapterBase = object

_DTYPES = {"half", "bfloat16", "float", "double", "int8", "uint8", "int16", "int32", "int64",
           "bool", "fp8_e4m3fn", "fp8_e4m3fnuz", "fp8_e5m2", "fp8_e5m2fnuz"}


def _key_string(key):
    if isinstance(key, str):
        return key
    to_string = getattr(key, "to_string", None)
    if to_string is None:
        raise TypeError(f"an LMCache key is a CacheEngineKey or its string, got {type(key).__name__}")
    return to_string()


def _hash_bytes(h):
    """Strata key bytes for LMCache's chunk hash (hex in the key string)."""
    s = h[2:] if h.startswith("0x") else h
    try:
        b = bytes.fromhex(s if len(s) % 2 == 0 else "0" + s)
    except ValueError:
        b = h.encode("utf-8")
    if not b:
        b = b"\0"
    if len(b) > 64:
        b = hashlib.sha256(b).digest()
    return b


def map_key(key, prefix="lmcache"):
    """(namespace, key bytes) for a CacheEngineKey or its string form. Both the current form
    model@ws@worker@hash@dtype[@tag%v...] and the older fmt@model@ws@worker@hash are taken."""
    s = _key_string(key)
    parts = s.split("@")
    if len(parts) >= 5 and parts[1].isdigit() and parts[2].lstrip("-").isdigit():
        model, ws, worker, chash, rest = parts[0], parts[1], parts[2], parts[3], parts[4:]
        dtype, tags = rest[0], rest[1:]
        ns = make_namespace(prefix, model, "ws" + ws, "w" + worker, dtype, *tags)
    elif len(parts) == 5 and parts[2].isdigit() and parts[3].lstrip("-").isdigit():
        fmt, model, ws, worker, chash = parts
        ns = make_namespace(prefix, model, "ws" + ws, "w" + worker, fmt)
    else:
        # Not an LMCache key: one namespace, the string itself as the key.
        ns, chash = make_namespace(prefix, "raw"), None
        b = s.encode("utf-8")
        return ns, (b if 0 < len(b) <= 64 else hashlib.sha256(b).digest())
    return ns, _hash_bytes(chash)


def _payload(obj):
    """The bytes of an LMCache MemoryObj, or the buffer itself."""
    for attr in ("byte_array", "tensor"):
        v = getattr(obj, attr, None)
        if v is not None and not callable(v):
            return v
    return obj


class StrataConnector(_Base):
    """LMCache RemoteConnector over a Strata client (see the module docstring)."""

    def __init__(self, url=None, loop=None, local_cpu_backend=None, config=None, *,
                 client=None, namespace_prefix="lmcache", lease_ms=None, wrap_result=None,
                 **client_kwargs):
        extra = (getattr(config, "extra_config", None) or {}) if config is not None else {}
        if lease_ms is None:
            lease_ms = int(extra.get("strata.lease_ms", 30000))
        self.lease_ms = lease_ms
        self.prefix = extra.get("strata.namespace_prefix", namespace_prefix)
        if client is None:
            address = url or extra.get("strata.address")
            if address and "://" in address:
                address = address.split("://", 1)[1].rstrip("/")
            if address and "," in address:
                client_kwargs.setdefault("nodes", address.split(","))
                address = None
            if "token" not in client_kwargs and extra.get("strata.token"):
                client_kwargs["token"] = extra["strata.token"]
            client = Client(address, **client_kwargs)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.loop = loop
        self.local_cpu_backend = local_cpu_backend
        self.wrap_result = wrap_result
        self._mu = threading.Lock()
        self._pins = {}  # lookup_id -> [(namespace, key)] leased by batched_async_contains

    # -- key mapping -----------------------------------------------------------------------
    def map_key(self, key):
        return map_key(key, self.prefix)

    def _grouped(self, keys):
        """Runs of consecutive keys that share a namespace: [(ns, [key bytes], [indices])]."""
        runs = []
        for i, k in enumerate(keys):
            ns, kb = self.map_key(k)
            if runs and runs[-1][0] == ns:
                runs[-1][1].append(kb)
                runs[-1][2].append(i)
            else:
                runs.append((ns, [kb], [i]))
        return runs

    def _wrap(self, data):
        if data is None:
            return None
        arr = np.frombuffer(data, dtype=np.uint8)
        return self.wrap_result(arr) if self.wrap_result is not None else arr

    # -- synchronous core ------------------------------------------------------------------
    def exists_sync(self, key):
        ns, kb = self.map_key(key)
        return self.client.exists(ns, [kb])[0]

    def get_sync(self, key):
        return self.batched_get_sync([key])[0]

    def put_sync(self, key, memory_obj):
        return self.batched_put_sync([key], [memory_obj])[0]

    def batched_get_sync(self, keys):
        out = [None] * len(keys)
        for ns, kbs, idx in self._grouped(keys):
            for i, v in zip(idx, self.client.get(ns, kbs)):
                out[i] = self._wrap(v) if isinstance(v, bytes) else None
        return out

    def batched_put_sync(self, keys, memory_objs):
        if len(keys) != len(memory_objs):
            raise ValueError(f"batched_put: {len(memory_objs)} objects for {len(keys)} keys")
        ok = [False] * len(keys)
        for ns, kbs, idx in self._grouped(keys):
            res = self.client.put(ns, kbs, [_payload(memory_objs[i]) for i in idx])
            for i, st in zip(idx, res):
                ok[i] = bool(st)
        return ok

    def batched_contains(self, keys, stop_after_first_not_exits=True):
        out = [False] * len(keys)
        for ns, kbs, idx in self._grouped(keys):
            for i, e in zip(idx, self.client.exists(ns, kbs)):
                out[i] = e
        if stop_after_first_not_exits and False in out:
            first = out.index(False)
            out[first:] = [False] * (len(out) - first)
        return out

    def contains_prefix(self, lookup_id, keys, pin=False):
        """The synchronous body of batched_async_contains."""
        hits = 0
        pinned = []
        for ns, kbs, _ in self._grouped(keys):
            n = self.client.lookup(ns, kbs, self.lease_ms if pin else 0)
            hits += n
            pinned.extend((ns, kb) for kb in kbs[:n])
            if n < len(kbs):
                break
        if pin and pinned:
            with self._mu:
                self._pins.setdefault(lookup_id, []).extend(pinned)
        return hits

    def pinned(self, lookup_id):
        """The (namespace, key) pairs batched_async_contains pinned for lookup_id and not yet
        loaded or released."""
        with self._mu:
            return list(self._pins.get(lookup_id, ()))

    def release(self, lookup_id):
        """Forgets lookup_id's pins (the node's leases then end at lease_ms)."""
        with self._mu:
            return len(self._pins.pop(lookup_id, ()))

    def remove_sync(self, key):
        ns, kb = self.map_key(key)
        return self.client.remove(ns, [kb])[0]

    # -- LMCache's RemoteConnector interface -----------------------------------------------
    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def exists(self, key):
        return await self._run(self.exists_sync, key)

    async def get(self, key):
        return await self._run(self.get_sync, key)

    async def put(self, key, memory_obj):
        await self._run(self.put_sync, key, memory_obj)

    def support_batched_get(self):
        return True

    async def batched_get(self, keys):
        return await self._run(self.batched_get_sync, keys)

    def support_batched_put(self):
        return True

    async def batched_put(self, keys, memory_objs):
        await self._run(self.batched_put_sync, keys, memory_objs)

    def support_batched_async_contains(self):
        return True

    async def batched_async_contains(self, lookup_id, keys, pin=False):
        return await self._run(self.contains_prefix, lookup_id, keys, pin)

    def support_batched_get_non_blocking(self):
        return True

    async def batched_get_non_blocking(self, lookup_id, keys):
        """Loads the keys (the prefix batched_async_contains found) and ends lookup_id's pins.
        Returns the loaded prefix: it stops at the first key that is gone."""
        def load():
            try:
                got = self.batched_get_sync(keys)
            finally:
                self.release(lookup_id)
            out = []
            for v in got:
                if v is None:
                    break
                out.append(v)
            return out
        return await self._run(load)

    def support_batched_contains(self):
        return True

    def support_ping(self):
        return True

    async def ping(self):
        def probe():
            try:
                self.client.exists(make_namespace(self.prefix, "ping"), [b"\0"])
                return 0
            except StrataError as e:
                return e.code
        return await self._run(probe)

    async def list(self):
        # Strata has no key listing (namespaces may hold millions of blocks).
        return []

    async def close(self):
        self.close_sync()

    def close_sync(self):
        if self._owns_client:
            self.client.close()

    def __repr__(self):
        return "<StrataConnector>"


class StrataConnectorAdapter(_AdapterBase):
    """LMCache ConnectorAdapter for the remote storage plugin framework (scheme strata://)."""

    def __init__(self, *args, **kwargs):
        if _AdapterBase is not object:
            super().__init__("strata://")
        self.schema = "strata://"

    def create_connector(self, context):
        return StrataConnector(url=context.url, loop=getattr(context, "loop", None),
                               local_cpu_backend=getattr(context, "local_cpu_backend", None),
                               config=getattr(context, "config", None))
