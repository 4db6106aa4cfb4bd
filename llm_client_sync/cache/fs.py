"""FileCache: one JSON file per entry at ``cache_dir/collection/ab/<key>.json``, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Callable

from .._atomic import atomic_write
from ..errors import ConfigurationError
from ._base import CacheBackend

__all__ = ["FileCache"]

_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def _safe_name(name: str) -> str:
    """``name`` itself when it is a plain file name, else ``~`` + its hash (``~`` never clashes)."""
    if _SAFE.fullmatch(name):
        return name
    return "~" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class FileCache(CacheBackend):
    """Entries as JSON files; thread-safe and safe across processes sharing ``cache_dir``.

    A write goes to a private temp file in the target folder, then ``os.replace`` swaps it in,
    so a reader sees the old entry or the new one, never half of one; the last writer wins.
    ``ttl`` is kept in the file and checked on read (expired files are removed then).
    """

    needs_deadline = False

    def __init__(self, cache_dir: str | os.PathLike[str], *, fsync: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(cache_dir, (str, os.PathLike)) or not str(cache_dir):
            raise ConfigurationError("cache_dir must be a folder path, e.g. cache_dir='./cache'")
        self.root = Path(cache_dir).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigurationError(f"cache_dir {str(self.root)!r} exists and is not a folder")
        self._fsync = fsync
        self._clock = clock

    def __repr__(self) -> str:
        return f"FileCache({str(self.root)!r})"

    def path(self, key: str, collection: str) -> Path:
        """Where the entry for ``key`` lives."""
        stem = _safe_name(key)
        shard = stem[1:3] if stem.startswith("~") else stem[:2]
        return self.root / _safe_name(collection) / shard / f"{stem}.json"

    def get(self, key: str, collection: str) -> dict | None:
        path = self.path(key, collection)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            return {"corrupt": "not JSON"}  # the ResponseCache rejects it and warns
        if not isinstance(doc, dict) or set(doc) != {"expires_at", "value"}:
            return {"corrupt": "not a FileCache entry"}
        expires = doc["expires_at"]
        if isinstance(expires, (int, float)) and self._clock() >= expires:
            self._unlink(path)
            return None
        return doc["value"]

    def set(self, key: str, value: dict, collection: str, ttl: float | None = None) -> None:
        path = self.path(key, collection)
        expires = None if ttl is None else self._clock() + ttl
        data = json.dumps({"expires_at": expires, "value": value}, ensure_ascii=False,
                          separators=(",", ":"), allow_nan=False).encode("utf-8")
        atomic_write(path, data, fsync=self._fsync, make_dirs=True)

    def delete(self, key: str, collection: str) -> None:
        self._unlink(self.path(key, collection))

    def clear(self, collection: str | None = None) -> int:
        """Remove every entry (of one collection, or all); returns how many files went."""
        base = self.root / _safe_name(collection) if collection is not None else self.root
        removed = 0
        for path in base.rglob("*.json") if base.is_dir() else ():
            removed += self._unlink(path)
        return removed

    @staticmethod
    def _unlink(path: Path) -> int:
        try:
            path.unlink()
            return 1
        except (FileNotFoundError, NotADirectoryError):
            return 0
