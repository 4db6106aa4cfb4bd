"""QdrantCache: exact entries as payloads under deterministic point ids, plus prompt vectors for
semantic lookups. Local mode (``path=`` or ":memory:") by default, any Qdrant server by URL.

qdrant-client is imported when this backend is built, never at ``import llm_client_sync``.

Local (``path=``) mode is meant for tests and development: qdrant-client stores its points
pickled in SQLite. So that a planted or corrupt store cannot run code when it is opened, this
module swaps the ``pickle`` that ``qdrant_client.local.persistence`` uses for one that only
rebuilds qdrant-client's own model classes; anything else is a ``CacheError``. Use a Qdrant
server (``qdrant_url``) in production.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
import pickle
import re
import threading
import time
import uuid
from contextlib import nullcontext
from typing import Any, Callable, Sequence

from ..errors import CacheError, ConfigurationError
from ._base import SemanticBackend, redact

__all__ = ["QdrantCache"]

_SAFE = re.compile(r"[A-Za-z0-9_-]{1,100}")
_ID_NAMESPACE = uuid.UUID("6f1d9a52-3c4b-5e8f-9a0b-1c2d3e4f5a6b")
_MODELS_MODULE = "qdrant_client.http.models.models"


class _ModelsOnlyUnpickler(pickle.Unpickler):
    """Rebuilds qdrant-client's pydantic models and enums; refuses every other global, so a
    pickle planted in a local store cannot call ``os.system`` or import anything."""

    def find_class(self, module: str, name: str) -> Any:
        if module == _MODELS_MODULE:
            from pydantic import BaseModel

            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, (BaseModel, enum.Enum)):
                return found
        raise pickle.UnpicklingError(f"refusing {module}.{name} in a Qdrant local store")


class _RestrictedPickle:
    """Stands in for the ``pickle`` module inside ``qdrant_client.local.persistence``."""

    dumps = staticmethod(pickle.dumps)
    UnpicklingError = pickle.UnpicklingError

    @staticmethod
    def loads(data: bytes) -> Any:
        return _ModelsOnlyUnpickler(io.BytesIO(data)).load()


def _restrict_local_unpickling() -> None:
    try:
        from qdrant_client.local import persistence
    except ImportError:  # pragma: no cover - a qdrant-client without local mode
        return
    if getattr(persistence, "pickle", None) is not _RestrictedPickle:
        persistence.pickle = _RestrictedPickle  # type: ignore[attr-defined]


class QdrantCache(SemanticBackend):
    """One Qdrant collection per cache collection (vectorless, payload = the JSON entry), and one
    ``<name>__vec<dim>`` collection per embedding size for semantic lookups.

    Thread-safe: calls into the in-process local mode are serialised by a lock.
    """

    def __init__(self, url: str | None = None, *, api_key: str | None = None, path: str | None = None,
                 prefix: str = "llm_cache_", timeout: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        from .._extras import import_extra

        QdrantClient = import_extra("qdrant_client", "qdrant", "cache_backend='qdrant'").QdrantClient

        if url and path:
            raise ConfigurationError("give qdrant_url (a server) or qdrant_path (local mode), not both")
        if not re.fullmatch(r"[A-Za-z0-9_-]{0,40}", prefix):
            raise ConfigurationError(f"qdrant prefix must be letters, digits, '_' or '-', got {prefix!r}")
        try:
            if url:
                self._client = QdrantClient(url=url, api_key=api_key, timeout=max(1, int(timeout + 0.999)))
            elif not path:
                self._client = QdrantClient(location=":memory:")
        except (ValueError, RuntimeError) as exc:  # a bad URL
            raise ConfigurationError(f"cannot open Qdrant: {redact(str(exc))}") from exc
        if path and not url:
            _restrict_local_unpickling()
            try:
                self._client = QdrantClient(path=path)
            except RuntimeError as exc:  # locked by another client (local mode is single-process)
                raise ConfigurationError(f"cannot open Qdrant: {redact(str(exc))}") from exc
            except Exception as exc:  # local mode loads every stored point when it opens
                raise CacheError(f"the Qdrant local store at {path!r} is corrupt or was not written by "
                                 f"qdrant-client ({type(exc).__name__}: {redact(str(exc))[:200]}); "
                                 "move it away or delete it") from exc
        self.local = not url
        # in-process local mode: nothing can hang on a socket, and its storage is not thread-safe
        self.needs_deadline = not self.local
        self._lock: Any = threading.RLock() if self.local else nullcontext()
        self._prefix = prefix
        self._clock = clock
        self._known: set[str] = set()
        self._known_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"QdrantCache(local={self.local})"

    # -- CacheBackend -------------------------------------------------------------------------

    def get(self, key: str, collection: str) -> dict | None:
        name = self._name(collection)
        if not self._exists(name):
            return None
        with self._lock:
            records = self._client.retrieve(name, ids=[self._point_id(key, collection)], with_payload=True)
        if not records:
            return None
        payload = records[0].payload or {}
        if payload.get("key") != key:
            return {"corrupt": "point id clash"}
        expires = payload.get("expires_at")
        if isinstance(expires, (int, float)) and self._clock() >= expires:
            self.delete(key, collection)
            return None
        try:
            return json.loads(payload.get("entry", ""))
        except (TypeError, ValueError):
            return {"corrupt": "not JSON"}  # rejected (and warned about) by ResponseCache

    def set(self, key: str, value: dict, collection: str, ttl: float | None = None) -> None:
        from qdrant_client import models

        name = self._ensure(self._name(collection), None)
        payload = {"key": key, "entry": json.dumps(value, ensure_ascii=False, allow_nan=False),
                   "expires_at": None if ttl is None else self._clock() + ttl}
        with self._lock:
            self._client.upsert(name, points=[models.PointStruct(id=self._point_id(key, collection),
                                                                 vector={}, payload=payload)])

    def delete(self, key: str, collection: str) -> None:
        from qdrant_client import models

        point = models.PointIdsList(points=[self._point_id(key, collection)])
        base = self._name(collection)
        with self._lock:
            names = [n for n in self._list() if n == base or n.startswith(base + "__vec")]
            for name in names:
                self._client.delete(name, points_selector=point)

    def close(self) -> None:
        with self._lock:
            self._client.close()

    # -- SemanticBackend ----------------------------------------------------------------------

    def set_vector(self, key: str, collection: str, vector: Sequence[float], scope: str,
                   ttl: float | None = None) -> None:
        from qdrant_client import models

        name = self._ensure(self._vec_name(collection, len(vector)), len(vector))
        payload = {"key": key, "scope": scope, "expires_at": None if ttl is None else self._clock() + ttl}
        with self._lock:
            self._client.upsert(name, points=[models.PointStruct(id=self._point_id(key, collection),
                                                                 vector=list(vector), payload=payload)])

    def nearest(self, vector: Sequence[float], collection: str, scope: str, threshold: float) -> str | None:
        from qdrant_client import models

        name = self._vec_name(collection, len(vector))
        if not self._exists(name):
            return None
        scope_filter = models.Filter(must=[models.FieldCondition(key="scope", match=models.MatchValue(value=scope))])
        with self._lock:
            found = self._client.query_points(name, query=list(vector), query_filter=scope_filter, limit=1,
                                              score_threshold=threshold, with_payload=True).points
        if not found:
            return None
        payload = found[0].payload or {}
        expires = payload.get("expires_at")
        if isinstance(expires, (int, float)) and self._clock() >= expires:
            return None
        key = payload.get("key")
        return key if isinstance(key, str) else None

    # -- internals ----------------------------------------------------------------------------

    def _name(self, collection: str) -> str:
        if _SAFE.fullmatch(collection):
            return f"{self._prefix}n_{collection}"
        return f"{self._prefix}h_{hashlib.sha256(collection.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"

    def _vec_name(self, collection: str, dim: int) -> str:
        return f"{self._name(collection)}__vec{dim}"

    @staticmethod
    def _point_id(key: str, collection: str) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{len(collection)}:{collection}:{key}"))

    def _list(self) -> list[str]:
        with self._lock:
            return [c.name for c in self._client.get_collections().collections]

    def _exists(self, name: str) -> bool:
        if name in self._known:
            return True
        with self._lock:
            found = self._client.collection_exists(name)
        if found:
            with self._known_lock:
                self._known.add(name)
        return found

    def _ensure(self, name: str, dim: int | None) -> str:
        from qdrant_client import models

        if self._exists(name):
            return name
        vectors: Any = {} if dim is None else models.VectorParams(size=dim, distance=models.Distance.COSINE)
        with self._lock:
            try:
                self._client.create_collection(name, vectors_config=vectors)
            except Exception:
                if not self._client.collection_exists(name):  # lost a creation race: fine
                    raise
            if dim is not None and not self.local:
                self._client.create_payload_index(name, field_name="scope",
                                                  field_schema=models.PayloadSchemaType.KEYWORD)
        with self._known_lock:
            self._known.add(name)
        return name
