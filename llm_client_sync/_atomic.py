"""The one atomic write: a temp file in the target's folder, fsync, then rename over the target.

Readers see the old file or the new one, never a half-written one; after a crash or power cut
the target is one of the two (the data and the rename are both synced). A leaf: no internal imports.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from typing import IO, Any, Callable, Iterator

__all__ = ["atomic_write", "atomic_writer"]

_REPLACE_ATTEMPTS = 5  # Windows refuses os.replace while a reader holds the target open


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = True, make_dirs: bool = False,
                  encoding: str | None = None, sleep: Callable[[float], None] = time.sleep) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on a clean exit it replaces ``path`` atomically.

    On an exception the temp file is removed and ``path`` is left as it was.

        >>> with atomic_writer("out.jsonl", "w", encoding="utf-8") as fh:  # doctest: +SKIP
        ...     fh.write("line\\n")
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_writer mode must be 'wb' or 'w', got {mode!r}")
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    prefix = f".{os.path.basename(target)[:40]}."
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    except FileNotFoundError:
        if not make_dirs:
            raise
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None) as fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        _replace(tmp, target, sleep)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    if fsync:
        _sync_dir(folder)


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, fsync: bool = True,
                 make_dirs: bool = False) -> None:
    """Write ``data`` (bytes, or str as UTF-8) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path, "wb", fsync=fsync, make_dirs=make_dirs) as fh:
        fh.write(payload)


def _replace(src: str, dst: str, sleep: Callable[[float], None]) -> None:
    for attempt in range(_REPLACE_ATTEMPTS):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if attempt == _REPLACE_ATTEMPTS - 1:
                raise
            sleep(0.01 * (attempt + 1))


def _sync_dir(folder: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
