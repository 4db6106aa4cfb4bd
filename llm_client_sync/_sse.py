"""An incremental Server-Sent Events decoder: bytes in, events out (WHATWG event-stream rules).

Pure and push-based, so it can be fed a socket's reads or fixture bytes split at any point.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import StreamError

__all__ = ["SSEDecoder", "ServerSentEvent", "SSELineTooLong"]

DEFAULT_MAX_LINE = 16 * 1024 * 1024


class SSELineTooLong(StreamError):
    """One SSE line, or one event's data, exceeded the decoder's ``max_line`` bytes."""


class ServerSentEvent(NamedTuple):
    """One dispatched event: ``event`` defaults to "message"; ``data`` lines are joined by LF.
    (An immutable NamedTuple: cheap to build, one per event.)"""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes with ``feed``; it returns the events completed by them.

    Lines end in LF, CR or CRLF, also when the CR and LF arrive in different reads. Lines are
    split on bytes before decoding, so a UTF-8 character split across reads is reassembled (no
    multi-byte UTF-8 sequence contains a CR or LF byte). Comment lines (``:``) are counted in
    ``comments`` (keep-alives), not dispatched.

    A line that arrives in many reads is kept as a list of parts and joined once (linear in
    its size); a line, or one event's data, longer than ``max_line`` bytes raises SSELineTooLong
    (memory stays bounded whatever the server sends).
    """

    __slots__ = ("_buf", "_parts", "_plen", "_data", "_dlen", "_event", "_id", "_retry", "_skip_lf", "_first",
                 "comments", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._buf = b""
        self._parts: list[bytes] = []  # pieces of an unterminated line longer than one read
        self._plen = 0
        self._dlen = 0
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._skip_lf = False
        self._first = True
        self.comments = 0

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        if self._buf or self._parts:
            if b"\n" not in chunk and b"\r" not in chunk:
                # the line goes on: keep the piece, join once when its end arrives
                if self._buf:
                    self._parts.append(self._buf)
                    self._plen = len(self._buf)
                    self._buf = b""
                self._parts.append(chunk)
                self._plen += len(chunk)
                if self._plen > self.max_line:
                    raise self._too_long()
                return []
            if self._parts:
                self._parts.append(self._buf)
                self._parts.append(chunk)
                buf = b"".join(self._parts)
                self._parts = []
                self._plen = 0
            else:
                buf = self._buf + chunk
        else:
            buf = chunk
        events: list[ServerSentEvent] = []
        if b"\r" not in buf and not self._first:
            # fast path: the usual LF-only stream; "data:" and blank lines inline
            *lines, self._buf = buf.split(b"\n")
            data = self._data
            for line in lines:
                if line[:5] == b"data:":
                    self._dlen += len(line)
                    if self._dlen > self.max_line:
                        self._plen = self._dlen
                        self._data, self._dlen = [], 0
                        raise self._too_long()
                    data.append((line[6:] if line[5:6] == b" " else line[5:]).decode("utf-8", "replace"))
                elif not line:
                    if data:
                        events.append(ServerSentEvent(data[0] if len(data) == 1 else "\n".join(data),
                                                      self._event or "message", self._id, self._retry))
                        data = self._data = []
                        self._dlen = 0
                    self._event = ""
                else:
                    ev = self._line(line)
                    data = self._data
                    if ev is not None:
                        events.append(ev)
            if len(self._buf) > self.max_line:
                self._check_tail()
            return events
        start = 0
        n = len(buf)
        while True:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if lf < 0 and cr < 0:
                break
            if cr < 0 or (0 <= lf < cr):
                end, nxt = lf, lf + 1
            else:
                end, nxt = cr, cr + 1
                if nxt < n:
                    if buf[nxt:nxt + 1] == b"\n":
                        nxt += 1
                else:
                    self._skip_lf = True  # the LF of a CRLF may come in the next read
            ev = self._line(buf[start:end])
            if ev is not None:
                events.append(ev)
            start = nxt
        self._buf = buf[start:]
        self._check_tail()
        return events

    def _check_tail(self) -> None:
        self._plen = len(self._buf)
        if self._plen > self.max_line:
            raise self._too_long()

    def _too_long(self) -> SSELineTooLong:
        size = self._plen
        self._buf = b""
        self._parts = []
        self._plen = 0
        return SSELineTooLong(f"an event-stream line or event exceeds max_line_bytes={self.max_line:,} "
                              f"({size:,} bytes so far): not an API event stream, or raise the cap")

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: the spec discards an event that was not terminated by a blank line."""
        self._buf = b""
        self._parts = []
        self._plen = 0
        self._data = []
        self._dlen = 0
        self._event = ""
        return []

    @property
    def pending(self) -> bool:
        """True when bytes of an unterminated event are buffered (a truncated stream)."""
        return bool(self._buf) or bool(self._parts) or bool(self._data)

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if self._first:
            self._first = False
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
        if not raw:
            if not self._data:
                self._event = ""
                return None
            data = self._data
            ev = ServerSentEvent(data[0] if len(data) == 1 else "\n".join(data), self._event or "message",
                                 self._id, self._retry)
            self._data = []
            self._dlen = 0
            self._event = ""
            return ev
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._dlen += len(raw)  # an event's data is capped as a whole
            if self._dlen > self.max_line:
                self._plen = self._dlen
                self._data = []
                self._dlen = 0
                raise self._too_long()
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():  # str.isdigit() alone accepts "²", which int() rejects
                self._retry = int(value)
        return None
