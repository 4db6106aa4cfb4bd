"""HTTP transport: the only module that imports requests.

Owns the session and its connection pool, timeouts, the one retry loop, and the translation of
every requests/urllib3 failure into ``llm_client_sync.errors``.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    StreamError,
    status_error_class,
)
from .observe import hooks as _hooks

__all__ = ["RetryPolicy", "Timeout", "Transport", "TransportResponse", "StreamResponse"]

log = logging.getLogger("llm_client_sync.transport")

_USER_AGENT = "llm-client-sync/0.1.0"
_READ1 = int(urllib3.__version__.split(".")[0]) >= 2
Observer = Callable[[int, Mapping[str, str]], None]


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds: ``connect``; ``read`` (per socket read of a JSON response); ``stream_idle`` (no
    byte for this long on a stream -> StreamError); ``total`` (deadline across all retries of one
    call, None for none)."""

    connect: float = 10.0
    read: float = 600.0
    stream_idle: float = 300.0
    total: float | None = None

    @classmethod
    def coerce(cls, value: "Timeout | float | tuple | None") -> "Timeout":
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, Mapping):
            return cls(**value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return cls(connect=min(float(value), 10.0), read=float(value), stream_idle=float(value))
        raise ConfigurationError(f"timeout must be a positive number of seconds or a Timeout, got {value!r}")


_RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before retrying; a value, tested with a fake clock.

    Backoff is ``min(base * 2**attempt, cap)`` reduced by up to ``jitter`` (a fraction). Server
    hints win: ``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date); a hint above
    ``max_retry_after`` means "give up now". ``x-should-retry: true/false`` overrides the status.
    """

    max_retries: int = 2
    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 120.0

    def should_retry(self, status: int, headers: Mapping[str, str], body: Any = None) -> bool:
        hint = _header(headers, "x-should-retry")
        if hint == "true":
            return True
        if hint == "false":
            return False
        if status == 429 and _error_code(body) == "insufficient_quota":
            return False
        return status in _RETRY_STATUSES or status >= 500

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None, *,
              now: float | None = None, rand: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based); None: the hint is too long."""
        hinted = self.hinted_delay(headers or {}, now=now)
        if hinted is not None:
            return None if hinted > self.max_retry_after else hinted
        backoff = min(self.base * (2 ** attempt), self.cap)
        return backoff * (1.0 - self.jitter * rand())

    @staticmethod
    def hinted_delay(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
        ms = _header(headers, "retry-after-ms")
        if ms:
            try:
                return max(float(ms) / 1000.0, 0.0)
            except ValueError:
                pass
        ra = _header(headers, "retry-after")
        if ra:
            try:
                return max(float(ra), 0.0)
            except ValueError:
                parsed = email.utils.parsedate_tz(ra)
                if parsed is not None:
                    wall = time.time() if now is None else now
                    return max(email.utils.mktime_tz(parsed) - wall, 0.0)
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not isinstance(headers, requests.structures.CaseInsensitiveDict):
        lname = name.lower()
        for k, v in headers.items():
            if k.lower() == lname:
                value = v
                break
    return value.strip().lower() if isinstance(value, str) else value


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get("code") or body["error"].get("type")
    return None


class _BearerAuth(requests.auth.AuthBase):
    """Setting auth explicitly keeps requests from applying a ~/.netrc entry over our header."""

    __slots__ = ("_header",)

    def __init__(self, api_key: str | None) -> None:
        self._header = f"Bearer {api_key}" if api_key else None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._header:
            r.headers["Authorization"] = self._header
        else:
            r.headers.pop("Authorization", None)
        return r

    def __repr__(self) -> str:
        return "<BearerAuth ***>"


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
        import json

        return json.loads(self.content)


class StreamResponse:
    """An open streaming response; ``iter_bytes`` yields data as soon as it arrives.

    ``close()`` may be called from another thread: a reader blocked in ``iter_bytes`` then stops
    (its read fails or returns EOF) and the connection is not reused.
    """

    def __init__(self, resp: requests.Response, request_id: str | None) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers
        self.request_id = request_id
        self.closed = False

    def iter_bytes(self, size: int = 65536) -> Iterator[bytes]:
        raw = self._resp.raw
        try:
            if _READ1:
                # read1 returns whatever one socket read gives: no waiting for a full buffer on
                # close-delimited bodies, and chunked framing is undone by http.client
                while not self.closed:
                    data = raw.read1(size)
                    if not data:
                        return
                    yield data
            else:  # urllib3 1.x
                yield from raw.stream(size, decode_content=True)
        except Exception as exc:
            if self.closed:
                return
            raise _stream_error(exc, self.request_id) from exc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            # shut the socket down first so a reader blocked in another thread wakes up
            conn = getattr(self._resp.raw, "_fp", None)
            sock = getattr(getattr(conn, "fp", None), "raw", None)
            sock = getattr(sock, "_sock", None)
            if sock is not None:
                import socket

                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        except Exception:  # pragma: no cover - best effort
            pass
        try:
            self._resp.close()
        except Exception:  # pragma: no cover - closing never raises to the user
            pass


def _stream_error(exc: BaseException, request_id: str | None) -> StreamError:
    text = type(exc).__name__
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return StreamError(f"stream idle timeout: no data received ({text})", request_id=request_id)
    return StreamError(f"stream connection lost: {text}: {exc}", request_id=request_id)


class Transport:
    """Sends authenticated requests with retries; thread-safe, shared by all threads of a provider.

    Args:
        base_url: e.g. ``https://api.openai.com/v1``.
        api_key: sent as ``Authorization: Bearer``; never logged or shown in reprs.
        pool_maxsize: connections kept per host; size it for the threads sharing the provider.
        observers: callables ``(status_code, headers)`` run after every response (rate limiter).

    The session is recreated in a forked child (gunicorn --preload, Celery prefork), so parent
    and child never share a socket.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        pool_maxsize: int = 100,
        verify: bool | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must start with http:// or https://, got {base_url!r}")
        if pool_maxsize < 1:
            raise ConfigurationError("pool_maxsize must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._auth = _BearerAuth(api_key)
        self._headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        self.timeout = Timeout.coerce(timeout)
        self.retry = retry or RetryPolicy()
        self.pool_maxsize = pool_maxsize
        self._verify = verify
        self._clock = clock
        self._sleep = sleep
        self.observers: list[Observer] = []
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
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_maxsize, max_retries=0)
        s.mount("https://", adapter)
        s.mount("http://", adapter)
        s.headers.update(self._headers)
        s.auth = self._auth
        if self._verify is not None:
            s.verify = self._verify
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
                headers: Mapping[str, str] | None = None) -> TransportResponse:
        """Send with retries; returns a 2xx response or raises an APIError subclass."""
        resp = self._send(method, path, json=json, data=data, files=files, params=params,
                          headers=headers, stream=False)
        try:
            content = resp.content
        except requests.RequestException as exc:
            raise _connection_error(exc) from exc
        return TransportResponse(resp.status_code, resp.headers, content, _request_id(resp.headers))

    def open_stream(self, path: str, *, json: Any, headers: Mapping[str, str] | None = None) -> StreamResponse:
        """POST and return the open event stream once its 2xx status arrived (retried until then)."""
        extra = {"Accept": "text/event-stream", **(headers or {})}
        resp = self._send("POST", path, json=json, headers=extra, stream=True)
        return StreamResponse(resp, _request_id(resp.headers))

    def _send(self, method: str, path: str, *, stream: bool, **kw: Any) -> requests.Response:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        t = self.timeout
        deadline = None if t.total is None else self._clock() + t.total
        attempt = 0
        while True:
            timeout = (t.connect, t.stream_idle if stream else t.read)
            if deadline is not None:
                left = deadline - self._clock()
                if left <= 0:
                    raise APITimeoutError(f"total deadline of {t.total}s passed before {method} {path}")
                timeout = (min(timeout[0], left), min(timeout[1], left))
            start = self._clock()
            try:
                resp = self._get_session().request(method, url, timeout=timeout, stream=stream,
                                                   allow_redirects=False, **kw)
            except requests.RequestException as exc:
                err = _connection_error(exc)
                delay = self._retry_delay(attempt, {}, deadline)
                log.debug("%s %s failed (%s); retry in %s", method, path, type(exc).__name__, delay)
                if delay is None:
                    raise err from exc
                if _hooks.active:
                    _hooks.emit("retry", data={"attempt": attempt + 1, "delay": delay, "error": type(err).__name__})
                self._sleep(delay)
                attempt += 1
                continue
            for observe in self.observers:
                observe(resp.status_code, resp.headers)
            rid = _request_id(resp.headers)
            log.debug("%s %s -> %s in %.3fs (request id %s, attempt %d)", method, path,
                      resp.status_code, self._clock() - start, rid, attempt + 1)
            if resp.status_code < 300:
                return resp
            body = _read_error_body(resp)
            if self.retry.should_retry(resp.status_code, resp.headers, body):
                delay = self._retry_delay(attempt, resp.headers, deadline)
                if delay is not None:
                    resp.close()
                    if _hooks.active:
                        _hooks.emit("retry", data={"attempt": attempt + 1, "delay": delay, "status": resp.status_code})
                    self._sleep(delay)
                    attempt += 1
                    continue
            raise _status_error(resp.status_code, body, resp.headers, rid)

    def _retry_delay(self, attempt: int, headers: Mapping[str, str], deadline: float | None) -> float | None:
        if attempt >= self.retry.max_retries:
            return None
        delay = self.retry.delay(attempt, headers)
        if delay is None or (deadline is not None and self._clock() + delay >= deadline):
            return None
        return delay


def _request_id(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id")


def _read_error_body(resp: requests.Response) -> Any:
    try:
        raw = resp.content
    except requests.RequestException:
        return None
    finally:
        resp.close()
    try:
        return resp.json() if raw else None
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _status_error(status: int, body: Any, headers: Mapping[str, str], rid: str | None) -> APIStatusError:
    message = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        message = body["error"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    text = f"HTTP {status}: {message or 'no error message'}"
    if rid:
        text += f" (request id {rid})"
    return status_error_class(status)(text, status_code=status, body=body, headers=headers, request_id=rid)


def _connection_error(exc: BaseException) -> APIConnectionError:
    if isinstance(exc, requests.exceptions.Timeout):
        return APITimeoutError(f"request timed out ({type(exc).__name__})")
    reason = str(exc)
    return APIConnectionError(f"connection failed ({type(exc).__name__}): {reason[:300]}")
