"""The batch runner's checkpoint: an append-only JSONL file, one line per finished item.

Line 1 is a header (format version, model); every other line is a finished item
``{"index", "id", "fp", "ok", "attempts", "result" | "error"}``. The last line for an index wins
(a failed item retried on resume gets a second line; a succeeded item is never written twice).
Opening repairs what a crash or a damaged disk leaves (a torn last line, unreadable or malformed
records) and keeps every good record; a file that is not a checkpoint is refused untouched. Only
the driver thread writes; per-index state is kept in compact arrays (~18 bytes per item) so a
million-item run stays small.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import re
import time
from array import array
from typing import Any, Callable, Iterator, Mapping

from .._atomic import atomic_writer
from .._redact import redact
from ..errors import ConfigurationError

__all__ = ["Checkpoint", "FAILED", "FORMAT_VERSION", "ItemState", "OK", "PENDING", "fingerprint"]

log = logging.getLogger("llm_client_sync.batch")

FORMAT_VERSION = 1
_FSYNC_POLICIES = ("always", "interval", "never")
_MAGIC = b'{"llm_client_sync_batch"'

MAX_LINE = 64 * 1024 * 1024
"""Longest record line read back (a line beyond it is damage, not a result)."""

MAX_INDEX_GAP = 1 << 20
"""How far past the records already read an index may point. Items finish nearly in input order
(at most ``max_in_flight`` apart), so a larger jump is damage; the bound keeps a hostile index from
making the loader allocate memory sized by a number in the file."""

_FP = re.compile(r"[0-9a-f]{16}\Z")


class ItemState(enum.IntEnum):
    """What the checkpoint knows of one input item."""

    PENDING = 0  # no record: the item runs
    OK = 1
    FAILED = 2  # runs again on resume


PENDING, OK, FAILED = ItemState.PENDING, ItemState.OK, ItemState.FAILED


def fingerprint(item: Any) -> str:
    """16 hex characters identifying an input item (canonical JSON, blake2b)."""
    text = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def _fp_int(fp: str) -> int:
    return int.from_bytes(bytes.fromhex(fp), "big", signed=True)


def _bad_record(rec: Any, limit: int) -> str | None:
    """Why ``rec`` is not a record this library writes (None: it is one)."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    index = rec.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        return f"index {index!r} is not a non-negative integer"
    if index > limit:
        return f"index {index} is far beyond the {limit - MAX_INDEX_GAP} records before it"
    if not isinstance(rec.get("fp"), str) or not _FP.match(rec["fp"]):
        return "no input fingerprint"
    if not isinstance(rec.get("ok"), bool):
        return "'ok' is not true/false"
    if not isinstance(rec.get("id"), str):
        return "'id' is not a string"
    attempts = rec.get("attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        return f"attempts {attempts!r} is not a positive integer"
    if not isinstance(rec.get("result"), (dict, type(None))) or not isinstance(rec.get("error"), (dict, type(None))):
        return "'result'/'error' are not objects"
    if rec["ok"] and not isinstance(rec.get("result"), dict):
        return "a success without a result"
    return None


class Checkpoint:
    """Append-only JSONL checkpoint (not thread-safe: the runner's driver thread alone uses it).

    Args:
        path: the file (created with its header when missing).
        fsync: "always" (every line), "interval" (at most every ``fsync_interval`` seconds, and
            on close) or "never" (flush only; survives a killed process, not a power cut).

    After ``open``: ``repaired_bytes`` (a torn tail cut off), ``dropped`` (damaged records
    removed; their items run again) and ``loaded`` (good records read).
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
        self.dropped: list[tuple[int, str]] = []  # (byte offset, why) of each damaged record removed
        self.loaded = 0
        self._fh: Any = None
        self._reader: Any = None

    # -- open / load ---------------------------------------------------------------------------
    def open(self, header: Mapping[str, Any]) -> "Checkpoint":
        """Load (repairing damage) or create the file; refuse one made for another run or program."""
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and not self._load(header):
            exists = False  # only a torn header: the crash came before any item finished
        self._fh = open(self.path, "ab")
        if not exists:
            self.header = {"llm_client_sync_batch": FORMAT_VERSION, **header}
            self._fh.truncate(0)
            self._write_raw(json.dumps(self.header, separators=(",", ":")).encode() + b"\n")
            self.sync()
        self._reader = open(self.path, "rb")
        return self

    def _refuse(self, why: str) -> ConfigurationError:
        return ConfigurationError(f"{self.path} {why}; pass another checkpoint path, or delete this file to start "
                                  "over (it was left untouched)")

    def _load(self, header: Mapping[str, Any]) -> bool:
        """Read the file; False when it holds only the start of a header (a crash at creation)."""
        good: list[tuple[int, int]] = []  # (offset, length) of the good record lines
        with open(self.path, "rb") as fh:
            first = fh.readline(4096)
            if not first.endswith(b"\n"):
                if first and not fh.read(1) and first[:len(_MAGIC)] == _MAGIC[:len(first)]:
                    log.warning("checkpoint %s held only a torn header (%d bytes): starting it again",
                                self.path, len(first))
                    return False
                raise self._refuse("is not a llm_client_sync batch checkpoint (no header line)")
            try:
                found = json.loads(first)
            except (ValueError, RecursionError):
                found = None
            if not isinstance(found, dict) or "llm_client_sync_batch" not in found:
                raise self._refuse(f"is not a llm_client_sync batch checkpoint (first line {first[:60]!r})")
            if found["llm_client_sync_batch"] != FORMAT_VERSION:
                raise self._refuse(f"has checkpoint format {found['llm_client_sync_batch']!r}, which is not "
                                   f"supported (expected {FORMAT_VERSION})")
            for key, value in header.items():
                if key in found and found[key] != value:
                    raise self._refuse(f"was made with {key}={found[key]!r}, this run has {value!r}")
            self.header = found
            end = fh.tell()
            torn_at = None
            while True:
                offset = fh.tell()
                line = fh.readline(MAX_LINE + 1)
                if not line:
                    break
                if not line.endswith(b"\n"):
                    if len(line) <= MAX_LINE and not fh.read(1):
                        torn_at = offset  # a crash mid-write: the tail is cut off below
                        break
                    while line and not line.endswith(b"\n"):  # skip the rest of an endless line
                        line = fh.readline(MAX_LINE)
                    self.dropped.append((offset, f"a line longer than {MAX_LINE} bytes"))
                    continue
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    self.dropped.append((offset, f"not JSON ({type(exc).__name__})"))
                    continue
                why = _bad_record(rec, self.loaded + MAX_INDEX_GAP)
                if why is not None:
                    self.dropped.append((offset, why))
                    continue
                good.append((offset, len(line)))
                self._remember(rec, offset)
                self.loaded += 1
                end = fh.tell()
        size = os.path.getsize(self.path)
        if self.dropped:
            self._rewrite(first, good)
        elif size > end:
            self._truncate(end, size)
        if torn_at is not None and self.dropped:
            self.repaired_bytes = size - torn_at
        return True

    def _truncate(self, end: int, size: int) -> None:
        # a crash mid-write left a partial last line: drop it, that item simply runs again
        with open(self.path, "r+b") as fh:
            fh.truncate(end)
            fh.flush()
            os.fsync(fh.fileno())
        self.repaired_bytes = size - end
        log.warning("checkpoint %s: cut off a torn last record (%d bytes); that item runs again",
                    self.path, self.repaired_bytes)

    def _rewrite(self, header_line: bytes, good: list[tuple[int, int]]) -> None:
        """Keep the header and every good record, drop the damaged ones (atomically)."""
        where = ", ".join(f"byte {o}: {why}" for o, why in self.dropped[:5])
        more = f" and {len(self.dropped) - 5} more" if len(self.dropped) > 5 else ""
        log.warning("checkpoint %s: removed %d damaged record(s) (%s%s); kept %d good ones; the damaged "
                    "items run again", self.path, len(self.dropped), where, more, len(good))
        new_offsets: dict[int, int] = {}
        with open(self.path, "rb") as src, atomic_writer(self.path, "wb") as dst:
            dst.write(header_line)
            for offset, length in good:
                src.seek(offset)
                new_offsets[offset] = dst.tell()
                dst.write(src.read(length))
        for index in range(len(self._state)):
            if self._state[index]:
                self._offsets[index] = new_offsets[self._offsets[index]]

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
        if self._state[index] == OK and not rec.get("ok"):
            return  # never downgrade a success (a second line cannot happen, but be safe)
        self._state[index] = OK if rec.get("ok") else FAILED
        self._attempts[index] = min(int(rec.get("attempts") or 1), 255)
        self._fps[index] = _fp_int(rec["fp"])
        self._offsets[index] = offset

    # -- queries -------------------------------------------------------------------------------
    def state(self, index: int) -> ItemState:
        return ItemState(self._state[index]) if index < len(self._state) else PENDING

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
