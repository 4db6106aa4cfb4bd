"""The CacheBackend interface every storage implements, and the warning a failing cache emits."""

from __future__ import annotations

from typing import Any, Sequence

from .._redact import redact as _redact

__all__ = ["CacheBackend", "CacheWarning", "SemanticBackend", "redact"]


class CacheWarning(RuntimeWarning):
    """A cache backend failed or returned a bad entry; the call went on to the API."""


class CacheBackend:
    """Key/value storage of JSON dicts, grouped in collections. Subclass it or duck-type it.

    Values are plain JSON dicts (the ResponseCache envelope); a backend stores them as JSON,
    never pickle. ``ttl`` is in seconds (None: keep until deleted). Implementations must be
    thread-safe. ``needs_deadline`` tells ResponseCache to run calls under its ``cache_timeout``
    on a worker thread (True for anything that talks to a network service).
    """

    needs_deadline: bool = True

    def get(self, key: str, collection: str) -> dict | None:
        raise NotImplementedError

    def set(self, key: str, value: dict, collection: str, ttl: float | None = None) -> None:
        raise NotImplementedError

    def delete(self, key: str, collection: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and files; the default has nothing to release."""

    def __enter__(self) -> "CacheBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SemanticBackend(CacheBackend):
    """A backend that can also find the stored key whose prompt vector is nearest to a vector."""

    def set_vector(self, key: str, collection: str, vector: Sequence[float], scope: str,
                   ttl: float | None = None) -> None:
        raise NotImplementedError

    def nearest(self, vector: Sequence[float], collection: str, scope: str, threshold: float) -> str | None:
        """The key of the most similar vector in ``collection`` and ``scope`` scoring >= threshold."""
        raise NotImplementedError


# one redaction for the whole library (API keys, Bearer/sk- tokens, URL credentials, passwords)
redact = _redact
