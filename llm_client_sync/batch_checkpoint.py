"""The batch runner's checkpoint: an append-only JSONL file, one line per finished item.

Line 1 is a header (format version, model); every other line is a finished item
``{"index", "id", "fp", "ok", "attempts", "result" | "error"}``. The last line for an index wins
(a failed item retried on resume gets a second line; a succeeded item is never written twice).
Opening repairs a torn last line (a crash mid-write) by truncating it. Only the driver thread
writes; per-index state is kept in compact arrays (~18 bytes per item) so a million-item run
stays small.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from array import array
from typing import Any, Callable, Iterator, Mapping

from ._redact import redact
from .errors import ConfigurationError

__all__ = ["Checkpoint", "fingerprint", "FORMAT_VERSION"]

FORMAT_VERSION = 1
NONE, OK, FAILED = 0, 1, 2
_FSYNC_POLICIES = ("always", "interval", "never")


def fingerprint(item: Any) -> str:
    """16 hex characters identifying an input item (canonical JSON, blake2b)."""
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _fp_int(fp: str) -> int:
    return int.from_bytes(bytes.fromhex(fp), "big", signed=True)


class Checkpoint:
    """Append-only JSONL checkpoint (not thread-safe: the runner's driver thread alone uses it).

    Args:
        path: the file (created with its header when missing).
        fsync: "always" (every line), "interval" (at most every ``fsync_interval`` seconds, and
            on close) or "never" (flush only; survives a killed process, not a power cut).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: str = "interval", fsync_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if fsync not in _FSYNC_POLICIES:
            raise ConfigurationError(f"fsync must be one of {_FSYNC_POLICIES}, got {fsync!r}")
        self.path = os.fspath(path)
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._clock = clock
        self._last_sync = clock()
        self._state = bytearray()
        self._attempts = bytearray()
        self._fps = array("q")
        self._offsets = array("q")
        self.header: dict[str, Any] = {}
        self.repaired_bytes = 0
        self.loaded = 0
        self._fh: Any = None
        self._reader: Any = None

    # -- open / load ---------------------------------------------------------------------------
    def open(self, header: Mapping[str, Any]) -> "Checkpoint":
        """Load (repairing a torn tail) or create the file; refuse one made for another run."""
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists:
            self._load(header)
        self._fh = open(self.path, "ab")
        if not exists:
            self.header = {"llm_client_sync_batch": FORMAT_VERSION, **header}
            self._write_raw(json.dumps(self.header, separators=(",", ":")).encode() + b"\n")
            self.sync()
        self._reader = open(self.path, "rb")
        return self

    def _load(self, header: Mapping[str, Any]) -> None:
        good_end = 0
        with open(self.path, "rb") as fh:
            first = fh.readline()
            try:
                found = json.loads(first)
            except ValueError:
                found = None
            if not first.endswith(b"\n") or not isinstance(found, dict) or "llm_client_sync_batch" not in found:
                raise ConfigurationError(f"{self.path} is not a llm_client_sync batch checkpoint")
            if found["llm_client_sync_batch"] != FORMAT_VERSION:
                raise ConfigurationError(f"{self.path}: checkpoint format {found['llm_client_sync_batch']} "
                                         f"is not supported (expected {FORMAT_VERSION})")
            for key, value in header.items():
                if key in found and found[key] != value:
                    raise ConfigurationError(
                        f"checkpoint {self.path} was made with {key}={found[key]!r}, this run has {value!r}; "
                        "use another checkpoint file (or delete this one) to start over")
            self.header = found
            good_end = fh.tell()
            while True:
                offset = fh.tell()
                line = fh.readline()
                if not line:
                    break
                try:
                    rec = json.loads(line) if line.endswith(b"\n") else None
                except ValueError:
                    rec = None
                if rec is None:
                    if fh.readline():  # garbage in the middle: not a crash tail, so don't guess
                        raise ConfigurationError(f"checkpoint {self.path} is corrupt at byte {offset}")
                    break
                self._remember(rec, offset)
                self.loaded += 1
                good_end = fh.tell()
        size = os.path.getsize(self.path)
        if size > good_end:
            # a crash mid-write left a partial last line: drop it, that item simply runs again
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
            self.repaired_bytes = size - good_end

    def _grow(self, index: int) -> None:
        missing = index + 1 - len(self._state)
        if missing > 0:
            self._state.extend(bytes(missing))
            self._attempts.extend(bytes(missing))
            self._fps.extend([0] * missing)
            self._offsets.extend([-1] * missing)

    def _remember(self, rec: Mapping[str, Any], offset: int) -> None:
        index = int(rec["index"])
        self._grow(index)
        if self._state[index] == OK:
            return  # never downgrade a success (a second line cannot happen, but be safe)
        self._state[index] = OK if rec.get("ok") else FAILED
        self._attempts[index] = min(int(rec.get("attempts") or 1), 255)
        self._fps[index] = _fp_int(rec["fp"])
        self._offsets[index] = offset

    # -- queries -------------------------------------------------------------------------------
    def state(self, index: int) -> int:
        return self._state[index] if index < len(self._state) else NONE

    def attempts(self, index: int) -> int:
        return self._attempts[index] if index < len(self._attempts) else 0

    def matches(self, index: int, fp: str) -> bool:
        return self._fps[index] == _fp_int(fp)

    @property
    def max_index(self) -> int:
        """Highest index recorded, -1 when none."""
        for i in range(len(self._state) - 1, -1, -1):
            if self._state[i]:
                return i
        return -1

    def read(self, index: int) -> dict[str, Any]:
        """The current record for ``index`` (read back from the file)."""
        offset = self._offsets[index] if index < len(self._offsets) else -1
        if offset < 0:
            raise KeyError(index)
        if self._fh is not None:
            self._fh.flush()
        self._reader.seek(offset)
        return json.loads(self._reader.readline())

    def records(self) -> Iterator[dict[str, Any]]:
        """The current record of every recorded index, in index order."""
        for i in range(len(self._state)):
            if self._state[i]:
                yield self.read(i)

    def count(self, state: int) -> int:
        return self._state.count(bytes([state]))

    # -- writing -------------------------------------------------------------------------------
    def append(self, rec: Mapping[str, Any]) -> None:
        """Write one finished item (a complete line in one write)."""
        line = json.dumps(redact(rec), separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8") + b"\n"
        offset = self._fh.tell()
        self._write_raw(line)
        self._remember(rec, offset)
        if self.fsync == "always" or (self.fsync == "interval"
                                      and self._clock() - self._last_sync >= self.fsync_interval):
            self.sync()

    def _write_raw(self, data: bytes) -> None:
        self._fh.write(data)
        self._fh.flush()

    def sync(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self._fh.flush()
            if self.fsync != "never":
                os.fsync(self._fh.fileno())
            self._last_sync = self._clock()

    def close(self) -> None:
        if self._fh is not None and not self._fh.closed:
            self.sync()
            self._fh.close()
        if self._reader is not None and not self._reader.closed:
            self._reader.close()

    def __enter__(self) -> "Checkpoint":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
