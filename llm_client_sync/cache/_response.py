"""ResponseCache: keys, sealed entries, semantic lookups and failure isolation around a backend.

A cache must never break a call: every backend failure or slow answer becomes a miss, one
warning per outage, and the backend is left alone for ``retry_after`` seconds.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Mapping, Sequence

from .._warn import warn_user
from ..errors import CacheError, ConfigurationError
from ._base import CacheWarning, redact
from ._envelope import EntryExpired, EntryRejected, seal, unseal
from ._key import cache_key, prompt_text, semantic_scope

__all__ = ["ResponseCache"]

_MAX_REMEMBERED_VECTORS = 256
_FAILED = object()


class _DeadlineExceeded(Exception):
    """Internal: the backend did not answer within ``cache_timeout``."""


class _Closed(Exception):
    """Internal: the cache was closed (by another thread) before or during this call."""


class _DaemonPool:
    """Worker threads for backend calls, daemonic: a call hung on a frozen server (which no
    socket timeout ends) must not block interpreter exit, as ThreadPoolExecutor's workers would."""

    def __init__(self, max_workers: int) -> None:
        self._max = max_workers
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((future, fn, args))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if self._threads < self._max:
                    self._threads += 1
                    threading.Thread(target=self._work, name="llm-cache", daemon=True).start()
        return future

    def shutdown(self) -> None:
        with self._lock:
            for _ in range(self._threads):
                self._queue.put(None)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)
            self._idle.release()


_MAX_COLLECTION_LEN = 200


class ResponseCache:
    """One provider's view of a cache backend. Thread-safe; ``get``/``put`` never raise.

    Backend calls that may block on a network run on a small worker pool and are abandoned
    after ``timeout`` seconds (a dead socket must not hold the caller past the bound).

    Example:
        cache = ResponseCache(FileCache("./cache"), namespace="tenant-a")
        key = cache.key("/v1/chat/completions", body)
        value = cache.get(key, "default") or call_api_and_put(...)
    """

    def __init__(
        self,
        backend: Any,
        *,
        namespace: str | None = None,
        ttl: float | None = None,
        timeout: float = 1.0,
        retry_after: float = 10.0,
        semantic: bool = False,
        similarity_threshold: float = 0.95,
        embed_fn: Callable[[str], Sequence[float]] | None = None,
        signing_key: bytes | None = None,
        owns_backend: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if backend is not None and not all(callable(getattr(backend, m, None)) for m in ("get", "set", "delete")):
            raise ConfigurationError(f"backend must be a CacheBackend (get/set/delete), got {type(backend).__name__}")
        if semantic and (embed_fn is None or not callable(getattr(backend, "nearest", None))):
            raise ConfigurationError("semantic caching needs a backend with vector search (qdrant) and an embed_fn")
        self.backend = backend
        self.namespace = namespace
        self.ttl = ttl
        self.timeout = timeout
        self.retry_after = retry_after
        self.semantic = semantic
        self.similarity_threshold = similarity_threshold
        self._embed_fn = embed_fn
        self._signing_key = signing_key
        self._owns_backend = owns_backend
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "errors": 0, "writes": 0, "rejected": 0, "semantic_hits": 0}
        self._down_until: float | None = None
        self._outage = False
        self._embed_warned = False
        self._executor: _DaemonPool | None = None
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._closed = False

    def __repr__(self) -> str:
        return f"ResponseCache(backend={type(self.backend).__name__}, namespace={self.namespace!r})"

    # -- keys ---------------------------------------------------------------------------------

    def key(self, endpoint: str, body: Mapping[str, Any]) -> str:
        """Hex SHA-256 of endpoint + full request body + namespace (raises CacheError if not JSON)."""
        return cache_key(endpoint, body, self.namespace)

    # -- reads and writes ---------------------------------------------------------------------

    def get(self, key: str, collection: str, body: Mapping[str, Any] | None = None) -> dict | None:
        """The stored value for ``key``, or None on a miss, a bad entry or a failing backend."""
        if self._closed or not self._valid_collection(collection) or not self._available():
            self._count("misses")
            return None
        entry = self._guard("get", self.backend.get, key, collection)
        if entry is _FAILED:
            self._count("misses")
            return None
        value = self._open(entry, key, collection) if entry is not None else None
        if value is not None:
            self._count("hits")
            return value
        if self.semantic and body is not None:
            value = self._semantic_get(key, collection, body)
            if value is not None:
                self._count("hits", "semantic_hits")
                return value
        self._count("misses")
        return None

    def put(self, key: str, value: Mapping[str, Any], collection: str, body: Mapping[str, Any] | None = None) -> None:
        """Store ``value`` (a result's ``to_dict()``) under ``key``; failures only warn."""
        if self._closed or not isinstance(value, Mapping) or not self._valid_collection(collection):
            return
        if not self._available():
            return
        scope = semantic_scope(body, self.namespace) if self.semantic and body is not None else None
        try:
            entry = seal(key, collection, self.namespace, value, now=self._wall_clock(), ttl=self.ttl,
                         scope=scope, signing_key=self._signing_key)
        except CacheError as exc:
            self._count("errors")
            warn_user(f"not cached: {exc}", CacheWarning)
            return
        if self._guard("put", self.backend.set, key, entry, collection, self.ttl) is _FAILED:
            return
        self._count("writes")
        if scope is not None:
            self._semantic_put(key, collection, body, scope)

    def delete(self, key: str, collection: str) -> None:
        """Remove one entry (never raises)."""
        self._guard("delete", self.backend.delete, key, collection)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot of the counters: hits, misses, errors, writes, rejected, semantic_hits."""
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        """Stop the worker pool and close the backend if this cache created it. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown()
        if self._owns_backend:
            try:
                self.backend.close()
            except Exception as exc:
                warn_user(f"cache backend close failed: {redact(str(exc))}", CacheWarning)

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- semantic mode ------------------------------------------------------------------------

    def _semantic_get(self, key: str, collection: str, body: Mapping[str, Any]) -> dict | None:
        vector = self._embed(body)
        if vector is None:
            return None
        with self._lock:
            self._vectors[key] = vector
            while len(self._vectors) > _MAX_REMEMBERED_VECTORS:
                self._vectors.popitem(last=False)
        scope = semantic_scope(body, self.namespace)
        match = self._guard("semantic get", self.backend.nearest, vector, collection, scope,
                            self.similarity_threshold)
        if match is _FAILED or not isinstance(match, str) or match == key:
            return None
        entry = self._guard("semantic get", self.backend.get, match, collection)
        if entry is _FAILED or entry is None:
            return None
        return self._open(entry, match, collection, want_scope=scope)

    def _semantic_put(self, key: str, collection: str, body: Mapping[str, Any], scope: str) -> None:
        with self._lock:
            vector = self._vectors.pop(key, None)
        if vector is None:
            vector = self._embed(body)
        if vector is None:
            return
        self._guard("semantic put", self.backend.set_vector, key, collection, vector, scope, self.ttl)

    def _embed(self, body: Mapping[str, Any]) -> list[float] | None:
        text = prompt_text(body)
        if not text or self._embed_fn is None:
            return None
        try:
            return [float(x) for x in self._embed_fn(text)]
        except Exception as exc:
            self._count("errors")
            if not self._embed_warned:
                self._embed_warned = True
                warn_user(f"semantic cache: embedding the prompt failed, exact keys only: "
                              f"{type(exc).__name__}: {redact(str(exc))}", CacheWarning)
            return None

    # -- helpers ------------------------------------------------------------------------------

    def _open(self, entry: Any, key: str, collection: str, want_scope: str | None = None) -> dict | None:
        try:
            value, scope = unseal(entry, key, collection, self.namespace, now=self._wall_clock(),
                                  signing_key=self._signing_key)
            if want_scope is not None and scope != want_scope:
                raise EntryRejected("semantic match from another request scope")
            return value
        except EntryExpired:
            return None
        except EntryRejected as exc:
            self._count("rejected")
            warn_user(f"cache entry rejected in collection {collection!r}: {exc}", CacheWarning)
            return None
        except Exception as exc:  # a malformed entry must not escape either
            self._count("rejected")
            warn_user(f"cache entry rejected: {type(exc).__name__}", CacheWarning)
            return None

    def _valid_collection(self, collection: Any) -> bool:
        ok = isinstance(collection, str) and 0 < len(collection) <= _MAX_COLLECTION_LEN
        if not ok:
            self._count("errors")
            warn_user(f"cache collection must be a non-empty string of at most {_MAX_COLLECTION_LEN} "
                          f"characters, got {collection!r:.60}; not cached", CacheWarning)
        return ok

    def _guard(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` under the deadline; _FAILED after a failure (never raises).

        A CacheError from a backend is about one entry (it cannot store this value): counted and
        warned about. Anything else means the service is down or slow: the circuit opens.
        """
        try:
            result = self._call(fn, *args)
        except _Closed:
            return _FAILED
        except CacheError as exc:
            if self._closed:
                return _FAILED
            self._count("errors")
            warn_user(f"cache {op} failed: {redact(str(exc))}", CacheWarning)
            return _FAILED
        except Exception as exc:  # any backend failure is a miss, never the caller's problem
            if self._closed:  # closed under this call: a miss, not an outage
                return _FAILED
            self._failed(op, exc)
            return _FAILED
        self._recovered()
        return result

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not getattr(self.backend, "needs_deadline", True):
            return fn(*args)
        future = self._pool().submit(fn, *args)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise _DeadlineExceeded(f"no answer within cache_timeout={self.timeout:g} s") from exc

    def _pool(self) -> _DaemonPool:
        with self._lock:
            if self._closed:
                raise _Closed()
            if self._executor is None:
                # enough workers that 16+ caller threads do not queue behind each other
                self._executor = _DaemonPool(max_workers=32)
            return self._executor

    def _available(self) -> bool:
        with self._lock:
            return self._down_until is None or self._clock() >= self._down_until

    def _failed(self, op: str, exc: BaseException) -> None:
        with self._lock:
            self._counts["errors"] += 1
            self._down_until = self._clock() + self.retry_after
            first, self._outage = not self._outage, True
        if first:
            warn_user(
                f"cache backend {type(self.backend).__name__} failed on {op} "
                f"({type(exc).__name__}: {redact(str(exc))[:300]}); calling the API without the cache, "
                f"retrying the backend in {self.retry_after:g} s",
                CacheWarning)

    def _recovered(self) -> None:
        if self._outage:
            with self._lock:
                self._outage = False
                self._down_until = None

    def _count(self, *names: str) -> None:
        with self._lock:
            for name in names:
                self._counts[name] += 1
