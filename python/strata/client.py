"""strata.Client: the C++ client's batched calls, plus async forms.

The synchronous methods are the extension's (strata._strata._Client); each releases the GIL for
its whole call, so threads calling one shared Client run in parallel. The *_async forms run the
same call on a small thread pool owned by the client and return concurrent.futures.Future.
"""

import concurrent.futures
import threading

from . import _strata


class Client(_strata._Client):
    """A connection to a Strata node or cluster.

    Client(address="HOST:PORT")                   one node (or the cluster it serves)
    Client(nodes=["HOST:PORT", ...])              a static cluster
    Client(etcd=["http://HOST:PORT"], cluster=N)  the nodes registered in etcd

    Keyword options: replicas (per block, default 1), deadline_ms, connect_timeout_ms,
    data_path ("auto" | "ucx" | "grpc"), token (bearer token for nodes with auth on),
    tls_ca_file, async_workers (threads behind the *_async forms, default 4).

    Methods (namespace first, then a list of keys; keys are str or bytes):
      put(ns, keys, values, parents=None) -> [Status]         values: any buffers
      get(ns, keys) -> [bytes | None | Status]
      exists(ns, keys) -> [bool]
      remove(ns, keys) -> [bool]
      lookup(ns, keys, lease_ms=0) -> int   leading keys present; lease_ms > 0 pins them
      register(buffer) -> Registration      buffer protocol or DLPack, C-contiguous
      get_into(ns, keys, reg, offsets, sizes=None) -> [int | None | Status]
          block i lands at reg offset offsets[i], at most sizes[i] bytes (int or list;
          default: up to the end of the buffer); the result is its size, None for a miss
      put_from(ns, keys, reg, offsets, sizes, parents=None) -> [Status]
    """

    def __init__(self, address=None, *, async_workers=4, **kwargs):
        super().__init__(address, **kwargs)
        self._async_workers = async_workers
        self._pool = None
        self._pool_lock = threading.Lock()

    def _executor(self):
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._async_workers, thread_name_prefix="strata")
            return self._pool

    def _submit(self, fn, *args, **kwargs):
        return self._executor().submit(fn, *args, **kwargs)

    def put_async(self, *args, **kwargs):
        return self._submit(self.put, *args, **kwargs)

    def get_async(self, *args, **kwargs):
        return self._submit(self.get, *args, **kwargs)

    def exists_async(self, *args, **kwargs):
        return self._submit(self.exists, *args, **kwargs)

    def remove_async(self, *args, **kwargs):
        return self._submit(self.remove, *args, **kwargs)

    def lookup_async(self, *args, **kwargs):
        return self._submit(self.lookup, *args, **kwargs)

    def get_into_async(self, *args, **kwargs):
        return self._submit(self.get_into, *args, **kwargs)

    def put_from_async(self, *args, **kwargs):
        return self._submit(self.put_from, *args, **kwargs)

    def close(self):
        """Waits for async calls in flight, then disconnects. Registrations still open keep
        the connection until they close."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        super().close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
