"""HTTP transport: the only module that imports requests.

Owns the session and its connection pool, timeouts and the call deadline, the body reader (caps,
decompression), the one retry loop with its one Retry-After parser and "is this retryable"
predicate, cancellation, and the translation of every requests/urllib3 failure into
``llm_client_sync.errors``.
"""

from __future__ import annotations

import contextlib
import email.utils
import json as _json
import logging
import math
import os
import random
import re
import socket
import threading
import time
import weakref
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._redact import check_api_key, scrub_exception
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    RequestCancelledError,
    ResponseTooLargeError,
    StreamError,
    TLSVerificationError,
    status_error_class,
)

__all__ = [
    "CancelToken",
    "RetryPolicy",
    "StreamResponse",
    "Timeout",
    "Transport",
    "TransportResponse",
    "body_limit",
    "cancel_scope",
    "header_value",
    "is_retryable",
    "retry_after_seconds",
]

log = logging.getLogger("llm_client_sync.transport")

_USER_AGENT = f"llm-client-sync/{__version__}"
_READ1 = int(urllib3.__version__.split(".")[0]) >= 2
Observer = Callable[[int, Mapping[str, str]], None]

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Default cap of a non-stream response body, after decompression (64 MiB)."""
FILE_BODY_BYTES = 2 * 1024 * 1024 * 1024
"""Cap of a body fetched through ``provider.request`` (files, Batch API results): 2 GiB."""
MAX_LINE_BYTES = 16 * 1024 * 1024
"""Default cap of one SSE line, and of one event's data (16 MiB)."""
MAX_RETRY_AFTER = 120.0
"""Default ``RetryPolicy.max_retry_after``: longer hints give up at once (and cap a limiter's pause)."""
_ERROR_BODY_BYTES = 1024 * 1024  # an error body is read up to this much, the rest dropped
_READ_SIZE = 65536


def _positive(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ConfigurationError(f"Timeout.{name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds (positive numbers).

    - ``connect``: to open a connection (10 s).
    - ``read``: per socket read of a non-stream response, headers included (600 s: a reasoning
      model may think for minutes before it answers).
    - ``first_byte``: how long a **stream** request waits for the response headers (60 s). An
      OpenAI stream's headers arrive within seconds even for long reasoning (the model thinks
      after them), so a server that accepted the connection and stays silent is given up after
      this, not after ``read``, and not retried (with the defaults a silent server costs a stream
      caller 60 s, not 3 x 300 s).
    - ``stream_idle``: no byte on an open stream for this long -> StreamError (300 s).
    - ``total``: one deadline for the whole call (every retry, the headers *and* the body or the
      whole event stream), None for none. It counts from the call's start; a body that never
      ends or trickles a byte a second ends about ``total`` seconds later (plus one socket poll)
      with APITimeoutError, a stream with an ERROR event and StreamError (its ``partial`` keeps
      what arrived).

    A plain number ``t`` means ``connect=min(t, 10)`` and ``read = first_byte = stream_idle = t``.
    """

    connect: float = 10.0
    read: float = 600.0
    stream_idle: float = 300.0
    total: float | None = None
    first_byte: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "stream_idle", "first_byte"):
            _positive(name, getattr(self, name))
        _positive("total", self.total, allow_none=True)

    @classmethod
    def coerce(cls, value: "Timeout | float | tuple | None") -> "Timeout":
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, Mapping):
            try:
                return cls(**value)
            except TypeError as exc:
                raise ConfigurationError(f"unknown Timeout field in {dict(value)!r}") from exc
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
            v = float(value)
            return cls(connect=min(v, 10.0), read=v, stream_idle=v, first_byte=v)
        raise ConfigurationError(f"timeout must be a positive number of seconds or a Timeout, got {value!r}")


# -- retry hints: the one parser ------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")  # google.protobuf.Duration JSON: "30s", "1.5s"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _finite_seconds(value: float) -> float | None:
    return value if math.isfinite(value) and value > 0 else None


def _hint_number(text: str, divisor: float) -> float | None:
    """A numeric hint in seconds: None for garbage, NaN, infinity literals, zero and negatives;
    a literal too large for a float (``1e400``) is a huge finite wait (callers give up on it)."""
    try:
        value = float(text)
    except ValueError:
        return None
    if value == math.inf and text.strip().lower().lstrip("+") not in ("inf", "infinity"):
        return _HUGE
    return _finite_seconds(value / divisor)


_HUGE = 1e300  # "a very long time": above every cap, still finite


def retry_after_seconds(headers: Mapping[str, str] | None, body: Any = None, *,
                        now: float | None = None) -> float | None:
    """How long the server asks us to wait, in seconds; None when it gave no usable hint.

    The one Retry-After parser of the library (the transport's retries, the rate limiters'
    pauses and the fallback chain all use it). Never raises, never returns NaN, infinity, zero
    or a negative number; callers cap what it returns (``RetryPolicy.max_retry_after``: above it
    the call gives up at once; a limiter pauses at most ``MAX_RETRY_AFTER``).

    ==================================  =========================  ===============================
    hint                                this library               openai SDK
    ==================================  =========================  ===============================
    ``retry-after-ms: 250``             0.25 s (read first)        same
    ``retry-after: 2`` / ``2.5``        2 s / 2.5 s                same
    ``retry-after: <HTTP date>``        date - now                 same
    ``retry-after-ms`` unreadable or    falls through to           garbage falls through; NaN
    NaN                                 ``retry-after``            stops there (own backoff)
    Google ``RetryInfo`` in the error   its ``retryDelay``         not read
    body (``error.details[]``)          ("30s")
    0, negative, a date in the past     no hint: own backoff       same
    NaN, ``inf``, garbage, an absurd    no hint: own backoff       same (1.x: a date past year
    date (year 0001 or 99999)                                      9999 raised ValueError)
    a number too big for a float        "very long": give up       same (3.x)
    (``1e400``)
    above ``max_retry_after`` (120 s)   give up at once: raise     3.x: same (120 s); 1.x: only
                                        (a fallback chain moves    0 < x <= 60 s honoured, longer
                                        on, the caller decides)    hints ignored for own backoff
    ==================================  =========================  ===============================

    ``now`` is the wall clock (``time.time()``) used for HTTP dates.
    """
    try:
        ms = header_value(headers, "retry-after-ms")
        if ms:
            hinted = _hint_number(ms, 1000.0)
            if hinted is not None:
                return hinted
        ra = header_value(headers, "retry-after")
        if ra:
            hinted = _hint_number(ra, 1.0)
            if hinted is not None:
                return hinted
            parsed = email.utils.parsedate_tz(ra)
            if parsed is not None:
                wall = time.time() if now is None else now
                hinted = _finite_seconds(float(email.utils.mktime_tz(parsed)) - wall)
                if hinted is not None:
                    return hinted
        return _google_retry_delay(body)
    except (ValueError, TypeError, OverflowError, IndexError, AttributeError, OSError):  # absurd input: no hint
        return None


def _google_retry_delay(body: Any) -> float | None:
    """``{"error": {"details": [{"@type": ".../google.rpc.RetryInfo", "retryDelay": "30s"}]}}``."""
    if isinstance(body, (bytes, str)):
        if len(body) > _ERROR_BODY_BYTES or (_RETRY_INFO.encode() if isinstance(body, bytes) else _RETRY_INFO) not in body:
            return None
        try:
            body = _json.loads(body)
        except (ValueError, RecursionError):
            return None
    errors = body if isinstance(body, list) else [body]  # Gemini sometimes wraps the envelope in a list
    for item in errors[:4]:
        err = item.get("error") if isinstance(item, dict) else None
        details = err.get("details") if isinstance(err, dict) else None
        if not isinstance(details, list):
            continue
        for d in details[:32]:
            if isinstance(d, dict) and d.get("@type") == _RETRY_INFO:
                delay = d.get("retryDelay")
                if isinstance(delay, dict):  # the proto form {"seconds": 30, "nanos": 0}
                    try:
                        return _finite_seconds(float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9)
                    except (TypeError, ValueError):
                        return None
                m = _DURATION.match(delay) if isinstance(delay, str) else None
                return _finite_seconds(float(m.group(1))) if m else None
    return None


# -- "is this retryable": the one predicate ------------------------------------------------------
_RETRY_STATUSES = frozenset({408, 409, 429})


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code") or body["error"].get("type")
        return code if isinstance(code, str) else None
    return None


def is_retryable(error: BaseException | int, headers: Mapping[str, str] | None = None, body: Any = None) -> bool:
    """The one "is this transient" predicate: for an HTTP status (with its headers and body) or
    a library error. Retryable: connection errors and timeouts (not TLS verification failures,
    not cancellations, not an over-large body), broken streams, 408/409/429/5xx; never 429
    ``insufficient_quota``. ``x-should-retry: true/false`` from the server wins."""
    if isinstance(error, BaseException):
        if isinstance(error, APIStatusError):
            return is_retryable(error.status_code, error.headers, error.body)
        if isinstance(error, (TLSVerificationError, RequestCancelledError)):
            return False
        return isinstance(error, (APIConnectionError, StreamError))
    hint = header_value(headers, "x-should-retry")
    if hint is not None and hint.lower() in ("true", "false"):
        return hint.lower() == "true"
    if error == 429 and _error_code(body) == "insufficient_quota":
        return False
    return error in _RETRY_STATUSES or error >= 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying; a value, tested with a fake clock.

    Backoff is ``min(base * 2**attempt, cap)`` reduced by up to ``jitter`` (a fraction). Server
    hints win (see ``retry_after_seconds`` for what each means); a hint above
    ``max_retry_after`` means "give up now". ``x-should-retry: true/false`` overrides the status.
    """

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = MAX_RETRY_AFTER

    def should_retry(self, status: int, headers: Mapping[str, str], body: Any = None) -> bool:
        return is_retryable(status, headers, body)

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None, *,
              now: float | None = None, rand: Callable[[], float] = random.random,
              body: Any = None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based); None: the hint is too long."""
        hinted = retry_after_seconds(headers, body, now=now)
        if hinted is not None:
            return None if hinted > self.max_retry_after else hinted
        # 2.0 ** 1100 overflows a float: beyond 60 doublings the cap has long been reached
        backoff = min(self.base * (2.0 ** min(max(int(attempt), 0), 60)), self.cap)
        return backoff * (1.0 - self.jitter * rand())

    @staticmethod
    def hinted_delay(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
        """The server's hint in seconds (``retry_after_seconds``); kept for compatibility."""
        return retry_after_seconds(headers, now=now)


# -- the one header lookup ------------------------------------------------------------------------
def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """The one header lookup: case-insensitive on any mapping, stripped; None when absent or
    not a string."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None and not isinstance(headers, requests.structures.CaseInsensitiveDict):
        lname = name.lower()
        for k, v in headers.items():
            if isinstance(k, str) and k.lower() == lname:
                value = v
                break
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip() if isinstance(value, str) else None


_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-goog-request-id", "x-amzn-requestid", "cf-ray")


def _request_id(headers: Mapping[str, str]) -> str | None:
    """The server's request id: OpenAI ``x-request-id``, Anthropic ``request-id``, Google
    ``x-goog-request-id``, else a proxy's (``x-amzn-requestid``, Cloudflare ``cf-ray``)."""
    for name in _REQUEST_ID_HEADERS:
        value = header_value(headers, name)
        if value:
            return value
    return None


# -- cancellation ---------------------------------------------------------------------------------
class CancelToken:
    """Cancels the calls made inside ``cancel_scope(token)``: no new request is sent, a retry
    wait ends at once, and the connection in flight is shut down (its blocked read wakes up).
    Thread-safe; ``cancel()`` is meant to be called from another thread."""

    __slots__ = ("_event", "_lock", "_conns", "_children", "deadline", "__weakref__")

    def __init__(self) -> None:
        self.deadline: float | None = None  # transport-clock time no call in the scope may pass
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._conns: set[Any] = set()
        # tokens of scopes opened inside this one, for as long as they live: a Stream opened in
        # the scope keeps obeying it while it is read later
        self._children: weakref.WeakSet[CancelToken] = weakref.WeakSet()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when cancelled meanwhile."""
        return self._event.wait(seconds)

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            conns, self._conns = self._conns, set()
            children = list(self._children)
        for conn in conns:
            _shutdown(getattr(conn, "sock", None))
        for child in children:
            child.cancel()

    def check(self) -> None:
        if self._event.is_set():
            raise RequestCancelledError("the call was cancelled")

    def _attach(self, conn: Any) -> None:
        with self._lock:
            if not self._event.is_set():
                self._conns.add(conn)
                return
        _shutdown(getattr(conn, "sock", None))

    def _detach(self, conn: Any) -> None:
        with self._lock:
            self._conns.discard(conn)


_local = threading.local()


def _current_token() -> CancelToken | None:
    stack = getattr(_local, "tokens", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def cancel_scope(token: CancelToken) -> Iterator[CancelToken]:
    """Every Transport call this thread makes inside the block obeys ``token`` (scopes nest: an
    outer token's cancel reaches the inner one, also after the inner block ended, e.g. a Stream
    opened in the block and read later)."""
    stack = getattr(_local, "tokens", None)
    if stack is None:
        stack = _local.tokens = []
    outer = stack[-1] if stack else None
    if outer is not None:
        with outer._lock:
            outer._children.add(token)
        if outer.cancelled:
            token.cancel()
    stack.append(token)
    try:
        yield token
    finally:
        stack.pop()


def _body_cap() -> int | None:
    return getattr(_local, "body_cap", None)


@contextlib.contextmanager
def body_limit(max_bytes: int) -> Iterator[int]:
    """Non-stream bodies received by this thread inside the block may be up to ``max_bytes``
    (instead of the transport's ``max_body_bytes``): for file downloads such as Batch API
    results; ``provider.request`` uses ``FILE_BODY_BYTES``."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ConfigurationError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
    outer = _body_cap()
    _local.body_cap = max_bytes
    try:
        yield max_bytes
    finally:
        _local.body_cap = outer


class _Cancelled(Exception):
    """Raised inside urllib3 when a cancelled scope asks for a connection (never escapes)."""


class _PoolMixin:
    """Registers each connection taken from the pool with the thread's cancel token, so a
    cancel can shut it down while a request is blocked on it."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        token = _current_token()
        if token is not None and token.cancelled:
            raise _Cancelled()
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if token is not None:
            conn._llm_cancel = token
            token._attach(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        token = getattr(conn, "_llm_cancel", None)
        if token is not None:
            conn._llm_cancel = None
            token._detach(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_PoolMixin, HTTPConnectionPool):
    pass


class _HTTPSPool(_PoolMixin, HTTPSConnectionPool):
    pass


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers bring their own pool classes
            manager.pool_classes_by_scheme = _POOLS
        return manager


def _shutdown(sock: Any) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError):
        pass


def _socket_of(resp: requests.Response) -> Any:
    raw = resp.raw
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:  # urllib3 1.x, or the connection already detached: through http.client
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock


# -- the body reader ------------------------------------------------------------------------------
class _Body:
    """Reads one response body as it arrives: decodes gzip/deflate incrementally with bounded
    output, enforces the per-read timeout, the call's deadline, the size cap and cancellation.

    ``stream`` picks the error type: StreamError for an event stream, else
    APITimeoutError/APIConnectionError.
    """

    __slots__ = ("_resp", "_raw", "_sock", "_idle", "_deadline", "_clock", "_token", "_max", "_stream",
                 "_total", "request_id", "_decoder", "_deflate", "closed", "_timeout_set", "_bad_encoding", "eof")

    def __init__(self, resp: requests.Response, *, idle: float, deadline: float | None, total: float | None,
                 clock: Callable[[], float], token: CancelToken | None, max_bytes: int | None,
                 stream: bool, request_id: str | None) -> None:
        self._resp = resp
        self._raw = resp.raw
        self._sock = _socket_of(resp)
        self._idle = idle
        self._deadline = deadline
        self._total = total
        self._clock = clock
        self._token = token
        self._max = max_bytes
        self._stream = stream
        self.request_id = request_id
        self.closed = False
        self.eof = False
        self._timeout_set: float | None = None
        enc = (header_value(resp.headers, "content-encoding") or "identity").lower()
        self._deflate = False
        self._bad_encoding: str | None = None
        if enc in ("gzip", "x-gzip"):
            self._decoder: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS)
            self._deflate = True  # some servers send raw deflate without the zlib header
        elif enc in ("identity", ""):
            self._decoder = None
        else:
            self._decoder = None
            self._bad_encoding = enc

    def _invalid(self, message: str) -> LLMError:
        if self._stream:
            return StreamError(message, request_id=self.request_id)
        return APIResponseValidationError(message, request_id=self.request_id)

    def _set_timeout(self) -> None:
        timeout = self._idle
        if self._deadline is not None:
            left = self._deadline - self._clock()
            if left <= 0:
                raise self._deadline_error()
            timeout = min(timeout, left)
        if self._sock is not None and timeout != self._timeout_set:
            try:
                self._sock.settimeout(timeout)
                self._timeout_set = timeout
            except OSError:
                pass

    def _deadline_error(self) -> LLMError:
        text = f"total deadline of {self._total:g}s passed while reading the response body"
        if self._stream:
            err = StreamError(text.replace("response body", "event stream"), request_id=self.request_id)
            err.deadline_passed = True  # type: ignore[attr-defined]  # never re-opened
            return err
        return APITimeoutError(text, request_id=self.request_id)

    def _read_error(self, exc: BaseException) -> LLMError:
        if self._token is not None and self._token.cancelled:
            return RequestCancelledError("the call was cancelled while reading the response",
                                         request_id=self.request_id)
        if self._deadline is not None and self._clock() >= self._deadline:
            return self._deadline_error()
        scrub_exception(exc)
        name = type(exc).__name__
        timed_out = isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.ReadTimeoutError,
                                     TimeoutError, socket.timeout)) or "timed out" in str(exc)
        if self._stream:
            if timed_out:
                return StreamError(f"stream idle timeout: no data received for {self._idle:g}s ({name})",
                                   request_id=self.request_id)
            return StreamError(f"stream connection lost: {name}: {exc}", request_id=self.request_id)
        if timed_out:
            return APITimeoutError(f"read timed out: no data for {self._idle:g}s while reading the body ({name})",
                                   request_id=self.request_id)
        return APIConnectionError(f"connection lost while reading the body ({name}): {str(exc)[:300]}",
                                  request_id=self.request_id)

    def _read_raw(self, size: int) -> bytes:
        raw = self._raw
        if _READ1:
            # read1 returns whatever one socket read gives: no waiting for a full buffer on
            # close-delimited bodies, and chunked framing is undone by http.client
            return raw.read1(size, decode_content=False)
        return raw.read(size, decode_content=False)  # urllib3 1.x

    def _direct_reader(self) -> Callable[[int], bytes] | None:
        """http.client's ``read1`` under urllib3's (it undoes chunked framing): a stream reads
        through it directly, skipping urllib3's per-read bookkeeping (we decode ourselves)."""
        fp = getattr(self._raw, "_fp", None)
        read1 = getattr(fp, "read1", None)
        if not _READ1 or read1 is None or getattr(self._raw, "_decoder", None) is not None:
            return None
        return read1

    def chunks(self, size: int = _READ_SIZE) -> Iterator[bytes]:
        """Decoded bytes as they arrive; ends at the end of the body."""
        if self._stream and self._decoder is None and self._bad_encoding is None and self._max is None:
            direct = self._direct_reader()
            if direct is not None:
                yield from self._stream_chunks(direct, size)
                return
        if self._bad_encoding is not None:
            raise self._invalid(f"the server used Content-Encoding {self._bad_encoding!r}, which this client "
                                "did not accept (it asks for gzip or deflate)")
        count = 0
        limit = self._max
        while not self.closed:
            self._set_timeout()
            try:
                data = self._read_raw(size)
            except Exception as exc:
                if self.closed:
                    return
                raise self._read_error(exc) from exc
            if self._token is not None and self._token.cancelled:
                raise RequestCancelledError("the call was cancelled while reading the response",
                                            request_id=self.request_id)
            if not data:
                self.eof = True
                if self._decoder is not None:
                    tail = self._decoder.flush()
                    if tail:
                        yield tail
                return
            if self._decoder is not None:
                for piece in self._decode(data, size):
                    count += len(piece)
                    if limit is not None and count > limit:
                        raise self._too_large(limit)
                    yield piece
                continue
            count += len(data)
            if limit is not None and count > limit:
                raise self._too_large(limit)
            yield data

    def _stream_chunks(self, read1: Callable[[int], bytes], size: int) -> Iterator[bytes]:
        """The hot loop of an uncompressed event stream: one socket read per chunk."""
        token = self._token
        timed = self._deadline is not None
        self._set_timeout()
        while not self.closed:
            if timed:
                self._set_timeout()
            try:
                data = read1(size)
            except Exception as exc:
                if self.closed:
                    return
                raise self._read_error(exc) from exc
            if token is not None and token.cancelled:
                raise RequestCancelledError("the call was cancelled while reading the response",
                                            request_id=self.request_id)
            if not data:
                self.eof = True
                try:  # let urllib3 see the end too, so it hands the connection back to the pool
                    self._read_raw(size)
                except Exception:
                    pass
                return
            yield data

    def _decode(self, data: bytes, size: int) -> Iterator[bytes]:
        # bounded output per call: a decompression bomb is stopped by the cap, not by RSS
        try:
            out = self._decoder.decompress(data, size)
        except zlib.error as exc:
            if not self._deflate:
                raise self._invalid(f"the compressed body is corrupt ({exc})") from exc
            self._deflate = False
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            try:
                out = self._decoder.decompress(data, size)
            except zlib.error as exc2:
                raise self._invalid(f"the compressed body is corrupt ({exc2})") from exc2
        self._deflate = False
        if out:
            yield out
        while self._decoder.unconsumed_tail:
            try:
                out = self._decoder.decompress(self._decoder.unconsumed_tail, size)
            except zlib.error as exc:
                raise self._invalid(f"the compressed body is corrupt ({exc})") from exc
            if out:
                yield out

    def _too_large(self, limit: int) -> LLMError:
        text = (f"response body exceeds max_body_bytes={limit:,} (after decompression); raise the cap with "
                "Transport(max_body_bytes=...) if this is expected, else check base_url")
        if self._stream:
            return StreamError(text, request_id=self.request_id)
        return ResponseTooLargeError(text, request_id=self.request_id)

    def read_all(self) -> bytes:
        """The whole body (bounded by the cap)."""
        parts = list(self.chunks())
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_prefix(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body, dropping the rest (error bodies); never raises a
        read error: what arrived is returned."""
        parts: list[bytes] = []
        got = 0
        try:
            for chunk in self.chunks():
                parts.append(chunk)
                got += len(chunk)
                if got >= limit:
                    break
        except LLMError:
            pass
        return b"".join(parts)[:limit]


LLMError = APIError  # the errors _Body builds


@dataclass(frozen=True, slots=True)
class TransportResponse:
    """A finished (non-stream) HTTP response."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    request_id: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.content)


class StreamResponse:
    """An open streaming response; ``iter_bytes`` yields (decoded) data as soon as it arrives.

    ``close()`` may be called from another thread: a reader blocked in ``iter_bytes`` then stops
    (its read fails or returns EOF) and the connection is not reused. ``content_type`` tells an
    event stream from a JSON answer; ``max_line_bytes`` is the SSE line cap the reader applies.
    """

    def __init__(self, resp: requests.Response, request_id: str | None, body: _Body | None = None,
                 max_line_bytes: int = MAX_LINE_BYTES, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers
        self.request_id = request_id
        self.closed = False
        self.max_line_bytes = max_line_bytes
        self.max_body_bytes = max_body_bytes
        self._body = body or _Body(resp, idle=300.0, deadline=None, total=None, clock=time.monotonic,
                                   token=None, max_bytes=None, stream=True, request_id=request_id)

    @property
    def deadline(self) -> float | None:
        """The call's deadline on the transport's clock (None: no ``total``)."""
        return self._body._deadline

    @property
    def content_type(self) -> str:
        return (header_value(self.headers, "content-type") or "").lower()

    def iter_bytes(self, size: int = _READ_SIZE) -> Iterator[bytes]:
        if self.closed:
            return iter(())
        return self._body.chunks(size)

    def read_all(self, max_bytes: int | None = None) -> bytes:
        """The rest of the body as one value (a JSON answer to a stream request), capped."""
        self._body._max = self.max_body_bytes if max_bytes is None else max_bytes
        return self._body.read_all()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._body.closed = True
        if not self._body.eof:
            # shut the socket down first so a reader blocked in another thread wakes up (looked up
            # now: a socket already handed back to the pool belongs to another request)
            _shutdown(_socket_of(self._resp))
        try:
            self._resp.close()
        except Exception:  # pragma: no cover - closing never raises to the user
            pass


class Transport:
    """Sends authenticated requests with retries; thread-safe, shared by all threads of a provider.

    Args:
        base_url: e.g. ``https://api.openai.com/v1``.
        api_key: sent as ``Authorization: Bearer <key>``; never logged or shown in reprs.
        auth_header, auth_scheme: where the key goes: ``auth_header="x-api-key", auth_scheme=None``
            sends the bare key in ``x-api-key`` (Anthropic; ``x-goog-api-key`` for Gemini).
        timeout: a Timeout (or seconds); ``request``/``open_stream`` take a per-call one.
        retry: the RetryPolicy.
        pool_maxsize: connections kept per host; size it for the threads sharing the provider.
        proxies: ``{"https": "http://proxy:3128"}`` (as requests takes them); the ``HTTPS_PROXY``
            environment variables apply too.
        verify: False turns TLS verification off (don't); ``ca_bundle``: a CA file or folder to
            trust (a corporate proxy's), like ``REQUESTS_CA_BUNDLE``.
        max_body_bytes: cap of a non-stream body after decompression (64 MiB) ->
            ResponseTooLargeError. ``max_line_bytes``: cap of one SSE line or event (16 MiB) ->
            StreamError.
        observers: callables ``(status_code, headers)`` run after every response (rate limiter).
        retry_observers: callables ``(attempt, delay, **why)`` run before each retry's wait
            (``why``: ``status=`` or ``error=``); the provider reports retries to observe with it.

    The session is recreated in a forked child (gunicorn --preload, Celery prefork), so parent
    and child never share a socket. Calls made inside ``cancel_scope(token)`` stop when the
    token is cancelled (``aio`` uses this).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        auth_header: str = "Authorization",
        auth_scheme: str | None = "Bearer",
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        pool_maxsize: int = 100,
        proxies: Mapping[str, str] | None = None,
        verify: bool | str | None = None,
        ca_bundle: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_line_bytes: int = MAX_LINE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
        if pool_maxsize < 1:
            raise ConfigurationError("pool_maxsize must be at least 1")
        if not isinstance(auth_header, str) or not auth_header.strip():
            raise ConfigurationError(f"auth_header must be a header name, got {auth_header!r}")
        for name, value in (("max_body_bytes", max_body_bytes), ("max_line_bytes", max_line_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"{name} must be a positive number of bytes, got {value!r}")
        if ca_bundle is not None:
            if verify is False:
                raise ConfigurationError("pass ca_bundle= or verify=False, not both")
            if not isinstance(ca_bundle, (str, os.PathLike)) or not os.path.exists(ca_bundle):
                raise ConfigurationError(f"ca_bundle must be an existing CA file or folder, got {ca_bundle!r}")
            verify = os.fspath(ca_bundle)
        if proxies is not None and not isinstance(proxies, Mapping):
            raise ConfigurationError("proxies must be a mapping like {'https': 'http://proxy:3128'}")
        self.base_url = base_url.rstrip("/")
        self._auth = _KeyAuth(check_api_key(api_key), auth_header, auth_scheme)
        # only encodings we decode ourselves (requests would add br/zstd when their modules exist)
        self._headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "gzip, deflate", **(headers or {})}
        self.timeout = Timeout.coerce(timeout)
        self.retry = retry or RetryPolicy()
        self.pool_maxsize = pool_maxsize
        self.max_body_bytes = max_body_bytes
        self.max_line_bytes = max_line_bytes
        self._verify = verify
        self._proxies = dict(proxies) if proxies else None
        self._clock = clock
        self._sleep = sleep
        self.observers: list[Observer] = []
        self.retry_observers: list[Callable[..., None]] = []
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._pid = -1

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    # -- session ---------------------------------------------------------------------------
    def _get_session(self) -> requests.Session:
        session = self._session
        if session is not None and self._pid == os.getpid():
            return session
        with self._lock:
            if self._session is None or self._pid != os.getpid():
                # after a fork the inherited session's sockets belong to the parent: drop them
                # without closing (closing would shut the parent's connections down)
                self._session = self._new_session()
                self._pid = os.getpid()
            return self._session

    def _new_session(self) -> requests.Session:
        s = requests.Session()
        adapter = _Adapter(pool_connections=4, pool_maxsize=self.pool_maxsize, max_retries=0)
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        s.headers.update(self._headers)
        s.auth = self._auth
        if self._verify is not None:
            s.verify = self._verify
        if self._proxies:
            s.proxies.update(self._proxies)
        return s

    def ensure_pool_size(self, size: int) -> None:
        """Grow the connection pool to at least ``size`` (e.g. for a batch runner's workers)."""
        with self._lock:
            if size <= self.pool_maxsize:
                return
            self.pool_maxsize = size
            old, self._session = self._session, None
        if old is not None and self._pid == os.getpid():
            old.close()

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    # -- requests --------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                files: Any = None, params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None,
                timeout: Timeout | float | None = None, retry: RetryPolicy | None = None,
                before_retry: Callable[[], None] | None = None) -> TransportResponse:
        """Send with retries; returns a 2xx response (its whole body read within the deadline)
        or raises an APIError subclass. ``timeout`` and ``retry`` override the transport's for
        this call (its ``total`` counts from now). ``before_retry`` runs before each re-send (the
        provider charges its rate limiter there: the API counts every request it receives)."""
        return self._send(method, path, json=json, data=data, files=files, params=params,
                          headers=headers, stream=False, timeout=timeout, retry=retry, before_retry=before_retry)

    def open_stream(self, path: str, *, json: Any, headers: Mapping[str, str] | None = None,
                    timeout: Timeout | float | None = None, retry: RetryPolicy | None = None,
                    before_retry: Callable[[], None] | None = None) -> StreamResponse:
        """POST and return the open event stream once its 2xx status arrived (retried until then).

        Headers must arrive within ``first_byte``; then no byte for ``stream_idle`` ends the
        stream; ``total`` (from this call's start) bounds the whole stream."""
        extra = {"Accept": "text/event-stream", **(headers or {})}
        return self._send("POST", path, json=json, headers=extra, stream=True, timeout=timeout, retry=retry,
                          before_retry=before_retry)

    def _send(self, method: str, path: str, *, stream: bool, timeout: Any, retry: RetryPolicy | None = None,
              before_retry: Callable[[], None] | None = None, **kw: Any) -> Any:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        t = self.timeout if timeout is None else Timeout.coerce(timeout)
        deadline = None if t.total is None else self._clock() + t.total
        token = _current_token()
        if token is not None and token.deadline is not None:
            # a re-opened stream keeps the deadline of its first request
            deadline = token.deadline if deadline is None else min(deadline, token.deadline)
            if t.total is None:
                t = Timeout(t.connect, t.read, t.stream_idle, max(token.deadline - self._clock(), 1e-3), t.first_byte)
        attempt = 0
        while True:
            if token is not None:
                token.check()
            if attempt and before_retry is not None:
                before_retry()
            wait = t.first_byte if stream else t.read
            per_read = t.stream_idle if stream else t.read
            connect = t.connect
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    raise APITimeoutError(f"total deadline of {t.total:g}s passed before {method} {path}"
                                          + (f" (after {attempt} attempts)" if attempt else ""))
                connect, wait = min(connect, left), min(wait, left)
            start = self._clock()
            try:
                if self._verify is not None:  # explicit: requests lets REQUESTS_CA_BUNDLE override the session's
                    kw["verify"] = self._verify
                resp = self._get_session().request(method, url, timeout=(connect, wait), stream=True,
                                                   allow_redirects=False, **kw)
            except _Cancelled:
                raise RequestCancelledError("the call was cancelled before it was sent") from None
            except _UNSENDABLE as exc:  # a bad parameter: never retried, never "connection failed"
                raise ConfigurationError(f"the request cannot be built ({type(exc).__name__}: {exc}); "
                                         "check the parameters, headers and base_url") from scrub_exception(exc)
            except requests.RequestException as exc:
                if token is not None and token.cancelled:
                    raise RequestCancelledError("the call was cancelled") from exc
                err = _connection_error(exc, t, stream, deadline is not None and self._clock() >= deadline)
                # a server that stays silent for first_byte is not given a second and third minute
                silent = stream and isinstance(exc, requests.exceptions.ReadTimeout)
                delay = None if silent or not is_retryable(err) else self._retry_delay(attempt, {}, None, deadline,
                                                                                      retry)
                log.debug("%s %s failed (%s); retry in %s", method, path, type(exc).__name__, delay)
                if delay is None:
                    raise err from exc
                self._note_retry(attempt, delay, error=type(err).__name__)
                self._wait(delay, token)
                attempt += 1
                continue
            for observe in self.observers:
                observe(resp.status_code, resp.headers)
            rid = _request_id(resp.headers)
            log.debug("%s %s -> %s in %.3fs (request id %s, attempt %d)", method, path,
                      resp.status_code, self._clock() - start, rid, attempt + 1)
            body = _Body(resp, idle=per_read, deadline=deadline, total=t.total, clock=self._clock, token=token,
                         max_bytes=None if stream else (_body_cap() or self.max_body_bytes), stream=stream,
                         request_id=rid)
            if 200 <= resp.status_code < 300:
                if stream:
                    return StreamResponse(resp, rid, body, self.max_line_bytes, self.max_body_bytes)
                try:
                    content = body.read_all()
                except (APITimeoutError, RequestCancelledError, APIResponseValidationError):
                    resp.close()
                    raise
                except APIConnectionError as err:  # the connection broke mid-body: a transient failure
                    resp.close()
                    log.debug("%s %s: body lost (%s)", method, path, type(err).__name__)
                    delay = self._retry_delay(attempt, {}, None, deadline, retry)
                    if delay is None:
                        raise
                    self._note_retry(attempt, delay, error=type(err).__name__)
                    self._wait(delay, token)
                    attempt += 1
                    continue
                return TransportResponse(resp.status_code, resp.headers, content, rid)
            error_body = _parse_error_body(body.read_prefix(_ERROR_BODY_BYTES))
            resp.close()
            if 300 <= resp.status_code < 400:
                raise _redirect_error(resp.status_code, resp.headers, error_body, rid, url)
            if is_retryable(resp.status_code, resp.headers, error_body):
                delay = self._retry_delay(attempt, resp.headers, error_body, deadline, retry)
                if delay is not None:
                    self._note_retry(attempt, delay, status=resp.status_code)
                    self._wait(delay, token)
                    attempt += 1
                    continue
            raise _status_error(resp.status_code, error_body, resp.headers, rid)

    def _wait(self, delay: float, token: CancelToken | None) -> None:
        if token is None:
            self._sleep(delay)
            return
        if self._sleep is time.sleep:
            token.wait(delay)
        else:
            self._sleep(delay)
        token.check()

    def _note_retry(self, attempt: int, delay: float, **why: Any) -> None:
        for note in self.retry_observers:
            note(attempt + 1, delay, **why)

    def _retry_delay(self, attempt: int, headers: Mapping[str, str], body: Any,
                     deadline: float | None, retry: RetryPolicy | None = None) -> float | None:
        policy = retry or self.retry
        if attempt >= policy.max_retries:
            return None
        delay = policy.delay(attempt, headers, body=body)
        if delay is None or (deadline is not None and self._clock() + delay >= deadline):
            return None
        return delay


class _KeyAuth(requests.auth.AuthBase):
    """Puts the API key in one header (``Authorization: Bearer <key>`` by default, or e.g.
    ``x-api-key: <key>`` with ``scheme=None``). Setting auth explicitly keeps requests from
    applying a ~/.netrc entry over our header."""

    __slots__ = ("_name", "_value")

    def __init__(self, api_key: str | None, header: str = "Authorization", scheme: str | None = "Bearer") -> None:
        self._name = header
        self._value = (f"{scheme} {api_key}" if scheme else api_key) if api_key else None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._value:
            r.headers[self._name] = self._value
        else:
            r.headers.pop(self._name, None)
        return r

    def __repr__(self) -> str:
        return f"<KeyAuth {self._name}: ***>"


# raised while the request is built, before a byte is sent (TypeError: a body json cannot encode)
_UNSENDABLE = (requests.exceptions.InvalidJSONError, requests.exceptions.InvalidHeader,
               requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
               requests.exceptions.InvalidSchema, TypeError)


def _parse_error_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return _json.loads(raw)
    except (ValueError, RecursionError):
        return raw.decode("utf-8", errors="replace")


def _status_error(status: int, body: Any, headers: Mapping[str, str], rid: str | None) -> APIStatusError:
    message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    text = f"HTTP {status}: {str(message)[:1000] if message else 'no error message'}"
    if rid:
        text += f" (request id {rid})"
    return status_error_class(status)(text, status_code=status, body=body, headers=headers, request_id=rid)


def _redirect_error(status: int, headers: Mapping[str, str], body: Any, rid: str | None, url: str) -> APIStatusError:
    target = header_value(headers, "location") or "(no Location header)"
    text = (f"HTTP {status}: the server redirects {url} to {target[:500]}; redirects are not followed "
            "(a POST body and the API key must not be re-sent elsewhere): set base_url to the final URL")
    return status_error_class(status)(text, status_code=status, body=body, headers=headers, request_id=rid)


def _is_tls_verification(exc: BaseException) -> bool:
    import ssl

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        text = str(cur)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "hostname mismatch" in text:
            return True
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        cur = nxt
    return False


def _connection_error(exc: BaseException, t: Timeout | None = None, stream: bool = False,
                      deadline_passed: bool = False) -> APIConnectionError:
    scrub_exception(exc)  # requests/urllib3 messages hold URLs and header values
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError) and _is_tls_verification(exc):
        return TLSVerificationError(
            f"TLS certificate verification failed ({str(exc)[:300]}). Behind a proxy that re-signs TLS, "
            "point REQUESTS_CA_BUNDLE or ca_bundle= at its CA file (verify=False turns checking off: "
            "only for local tests).")
    if isinstance(exc, requests.exceptions.Timeout):
        if deadline_passed and t is not None:
            return APITimeoutError(f"total deadline of {t.total:g}s passed ({name})")
        if isinstance(exc, requests.exceptions.ConnectTimeout) or t is None:
            return APITimeoutError(f"request timed out ({name})")
        if stream:
            return APITimeoutError(f"no response headers within first_byte={t.first_byte:g}s ({name}); "
                                   "raise Timeout(first_byte=...) if the server is known to be slow")
        return APITimeoutError(f"no response within read={t.read:g}s ({name})")
    return APIConnectionError(f"connection failed ({name}): {str(exc)[:300]}")
