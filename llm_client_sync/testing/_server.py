"""The local OpenAI-compatible HTTP server: sockets, routing, recording, response writers."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "BytesResponse",
    "JSONResponse",
    "RecordedRequest",
    "Request",
    "SSEResponse",
    "ServerCore",
    "StreamRecord",
    "register_default_route",
]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the server received it."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


@dataclass(slots=True)
class Request:
    """What a route handler gets: the recorded request, its path parameters, and the server."""

    recorded: RecordedRequest
    params: dict[str, str]
    server: "ServerCore"

    @property
    def json(self) -> Any:
        return self.recorded.json

    @property
    def method(self) -> str:
        return self.recorded.method

    @property
    def path(self) -> str:
        return self.recorded.path


@dataclass(slots=True)
class JSONResponse:
    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class BytesResponse:
    content: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"


@dataclass(slots=True)
class SSEResponse:
    """A stream of pre-framed SSE events (bytes, each ending in a blank line).

    ``framing`` "chunked" (Transfer-Encoding) or "close" (no length: the body ends when the
    socket closes). ``chunk_delay`` between events, ``first_delay`` before the first;
    ``drop_after`` events then the socket is cut; ``stall_after`` events then ``stall`` seconds
    of silence (for idle timeouts); ``split_writes`` cuts each event into writes of that many
    bytes (to exercise split reads).
    """

    events: Iterable[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)
    framing: str = "chunked"
    chunk_delay: float = 0.0
    first_delay: float = 0.0
    drop_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0
    split_writes: int | None = None


@dataclass(slots=True)
class StreamRecord:
    """How one streamed response ended, for tests: ``done`` is set when the server stops writing."""

    path: str
    events_sent: int = 0
    completed: bool = False
    client_disconnected: bool = False
    done: threading.Event = field(default_factory=threading.Event)


Handler = Callable[[Request], Any]
_DEFAULT_ROUTES: list[tuple[str, str, Handler]] = []


def register_default_route(method: str, pattern: str, handler: Handler) -> None:
    """Add a route every new server gets; ``pattern`` like ``/v1/batches/{batch_id}``."""
    _DEFAULT_ROUTES.append((method.upper(), pattern, handler))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    core: "ServerCore"

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self.core._connection_closed()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets or drops its connection is normal in tests: no traceback on stderr."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ServerCore:
    """Socket server with a route table and a request log (thread-safe). Subclassed by
    ``MockOpenAIServer``, which adds the OpenAI endpoints and scripting."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the test server only listens on loopback")
        self.host = host
        self.port = port
        self.latency = latency
        self.lock = threading.RLock()
        self.state: dict[str, Any] = {}
        self._requests: list[RecordedRequest] = []
        self._streams: list[StreamRecord] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._closed = threading.Condition(self.lock)
        self._connections_closed = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.record_requests = True
        for method, pattern, handler in _DEFAULT_ROUTES:
            self.route(method, pattern, handler)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "ServerCore":
        if self._httpd is not None:
            return self
        core = self

        class _Handler(_RequestHandler):
            server_core = core

        self._httpd = _HTTPServer((self.host, self.port), _Handler)
        self._httpd.core = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"mock-openai-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = stop

    def __enter__(self) -> "ServerCore":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give a provider: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.url}/v1"

    # -- routes and records -----------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Add (or override, newest first) a route; the handler returns a *Response."""
        with self.lock:
            self._routes.insert(0, (method.upper(), _compile(pattern), handler))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    @property
    def streams(self) -> list[StreamRecord]:
        with self.lock:
            return list(self._streams)

    @property
    def connections_closed(self) -> int:
        """Connections the server has finished with (closed by either side, errors included)."""
        with self.lock:
            return self._connections_closed

    def wait_connections_closed(self, count: int, timeout: float = 5.0) -> bool:
        """Block until the server has finished with ``count`` connections in all; False on timeout."""
        with self._closed:
            return self._closed.wait_for(lambda: self._connections_closed >= count, timeout=timeout)

    def _connection_closed(self) -> None:
        with self._closed:
            self._connections_closed += 1
            self._closed.notify_all()

    def clear(self) -> None:
        with self.lock:
            self._requests.clear()
            self._streams.clear()

    def _dispatch(self, rec: RecordedRequest) -> Any:
        path = rec.path
        with self.lock:
            routes = list(self._routes)
        allowed = False
        for method, pattern, handler in routes:
            m = pattern.match(path)
            if m is None:
                continue
            allowed = True
            if method == rec.method:
                return handler(Request(rec, m.groupdict(), self))
        if allowed:
            return error_response(405, f"method {rec.method} not allowed on {path}")
        return error_response(404, f"Unknown request URL: {rec.method} {path}", code="unknown_url")


def error_response(status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                   param: str | None = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's ``{"error": {...}}`` envelope."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status=status, headers=dict(headers or {}))


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: with Nagle each response would wait ~40 ms
    disable_nagle_algorithm = True
    server_core: ServerCore
    server_version = "mock-openai/1"

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        return

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_DELETE = do_PUT = do_GET

    def _handle(self) -> None:
        core = self.server_core
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        rec = RecordedRequest(self.command, parts.path, parse_qs(parts.query),
                              {k: v for k, v in self.headers.items()}, body)
        if core.record_requests:
            with core.lock:
                core._requests.append(rec)
        try:
            resp = core._dispatch(rec)
        except Exception as exc:  # a handler bug must still answer, as a 500
            resp = error_response(500, f"mock server handler failed: {type(exc).__name__}: {exc}",
                                  type="server_error")
        try:
            if isinstance(resp, SSEResponse):
                self._write_sse(resp, rec.path)
            elif isinstance(resp, BytesResponse):
                self._write(resp.status, resp.content, resp.content_type, resp.headers)
            elif isinstance(resp, JSONResponse):
                self._write(resp.status, json.dumps(resp.body).encode(), "application/json", resp.headers)
            elif resp is None:  # the handler cut the connection on purpose
                self.close_connection = True
                _abort(self.connection)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _write(self, status: int, content: bytes, ctype: str, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(content)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(content)

    def _write_sse(self, resp: SSEResponse, path: str) -> None:
        core = self.server_core
        record = StreamRecord(path)
        with core.lock:
            core._streams.append(record)
        chunked = resp.framing == "chunked"
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            for k, v in resp.headers.items():
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.flush()
            if resp.first_delay:
                time.sleep(resp.first_delay)
            for i, event in enumerate(resp.events):
                if resp.drop_after is not None and i >= resp.drop_after:
                    self.close_connection = True
                    _abort(self.connection)
                    return
                if resp.stall_after is not None and i == resp.stall_after:
                    time.sleep(resp.stall)
                elif i and resp.chunk_delay:
                    time.sleep(resp.chunk_delay)
                step = resp.split_writes or len(event) or 1
                for j in range(0, len(event), step):
                    piece = event[j:j + step]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    self.wfile.flush()
                record.events_sent += 1
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            record.completed = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            record.client_disconnected = True
            self.close_connection = True
        finally:
            record.done.set()


def _abort(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
