"""The transport against hostile servers, over real sockets: a small scripted socket server per
test plays each fault (trickling bodies, silence, bombs, endless lines, wrong content types,
absurd retry hints, bad certificates, redirects, proxies) and records what the client did."""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zlib
from typing import Any, Callable

import pytest

from llm_client_sync import (
    APIStatusError,
    APITimeoutError,
    OpenAIProvider,
    RetryPolicy,
    StreamError,
    StreamEventType as E,
    Timeout,
)
from llm_client_sync.errors import (
    LLMClientError,
    RequestCancelledError,
    ResponseTooLargeError,
    TLSVerificationError,
)
from llm_client_sync import transport as transport_module
from llm_client_sync.transport import Transport

NO_RETRY = RetryPolicy(max_retries=0)
FAST = RetryPolicy(max_retries=2, base=0.01, cap=0.01, jitter=0)
COMPLETION = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5-nano",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello json"},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def chunk_event(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    obj = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-5-nano",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class Conn:
    """One accepted connection as the script sees it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.request = b""

    def read_request(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            got = self.sock.recv(65536)
            if not got:
                return data
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(body) < length:
            got = self.sock.recv(65536)
            if not got:
                break
            body += got
        self.request = head + b"\r\n\r\n" + body
        return self.request

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def head(self, status: str = "200 OK", headers: dict[str, str] | None = None) -> bool:
        # one request per connection: the client opens a new one for its next request
        lines = [f"HTTP/1.1 {status}", "Connection: close"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode())

    def wait_closed(self, timeout: float) -> bool:
        """True once the client closed its side (recv gives EOF or an error)."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except OSError:
            return True
        return False


class Scripted:
    """Accepts connections; each runs ``script(conn)`` in its own thread. Records requests, when
    each connection was accepted, and when the client closed it (``closed_at``)."""

    def __init__(self, script: Callable[[Conn], Any], tls: tuple[str, str] | None = None) -> None:
        self.script = script
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.scheme = "https" if tls else "http"
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls)
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/v1"
        self.accepted: list[float] = []
        self.requests: list[bytes] = []
        self.closed_at: list[float] = []
        self.closed_event = threading.Event()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    def _loop(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted.append(time.monotonic())
            t = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.ctx is not None:
                try:
                    sock = self.ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate
            conn = Conn(sock)
            if not conn.read_request():
                return
            self.requests.append(conn.request)
            self.script(conn)
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if conn.wait_closed(10):
                self.closed_at.append(time.monotonic())
                self.closed_event.set()
        except OSError:
            self.closed_at.append(time.monotonic())
            self.closed_event.set()
        finally:
            sock.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self._accept.join(2)


@pytest.fixture()
def scripted():
    servers: list[Scripted] = []

    def make(script: Callable[[Conn], Any], **kw: Any) -> Scripted:
        s = Scripted(script, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def provider(server: Scripted, **kw: Any) -> OpenAIProvider:
    kw.setdefault("retry", NO_RETRY)
    return OpenAIProvider(model="gpt-5-nano", api_key="sk-test", base_url=server.url, **kw)


def trickle(conn: Conn, every: float, limit: float = 8.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end and conn.send(b" "):
        time.sleep(every)


SSE = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# -- deadlines ---------------------------------------------------------------------------------
def test_total_bounds_a_trickling_json_body(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": "100000"})
        trickle(conn, 0.1)

    server = scripted(script)
    p = provider(server, timeout=Timeout(total=1.0, read=30))
    t0 = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        p.complete("x")
    took = time.monotonic() - t0
    assert 0.9 <= took < 1.6, took
    assert "total deadline of 1s" in str(info.value)
    assert server.closed_event.wait(2)  # the connection is dropped, not left half-read


def test_total_bounds_a_body_that_never_ends(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": "100"})
        conn.wait_closed(8)

    p = provider(scripted(script), timeout=Timeout(total=0.8, read=30))
    t0 = time.monotonic()
    with pytest.raises(APITimeoutError):
        p.complete("x")
    assert time.monotonic() - t0 < 1.4


def test_total_bounds_a_trickling_stream_and_keeps_the_partial(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers=SSE)
        end = time.monotonic() + 8
        while time.monotonic() < end and conn.send(chunked(chunk_event("w "))):
            time.sleep(0.1)

    p = provider(scripted(script), timeout=Timeout(total=1.0, stream_idle=30))
    events = []
    t0 = time.monotonic()
    with pytest.raises(StreamError) as info:
        for ev in p.stream("x"):
            events.append(ev)
    took = time.monotonic() - t0
    assert 0.9 <= took < 1.6, took
    assert events[-1].type is E.ERROR and events[-1].data is info.value
    assert "total deadline" in str(info.value)
    assert info.value.partial.content.startswith("w w ")


def test_per_call_timeout_overrides_the_transport_default(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": "100000"})
        trickle(conn, 0.1)

    server = scripted(script)
    t = Transport(server.url, "k", timeout=Timeout(read=30), retry=NO_RETRY)
    t0 = time.monotonic()
    with pytest.raises(APITimeoutError):
        t.request("POST", "/chat/completions", json={}, timeout=Timeout(total=0.5))
    assert time.monotonic() - t0 < 1.1
    t.close()


def test_silent_server_gives_up_a_stream_after_first_byte(scripted):
    assert Timeout().first_byte == 60.0 and Timeout().read == 600.0  # documented defaults

    def script(conn: Conn) -> None:
        conn.wait_closed(10)  # accepts, reads the request, never answers

    server = scripted(script)
    p = provider(server, timeout=Timeout(first_byte=0.5), retry=FAST)
    t0 = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        p.stream("x")
    assert time.monotonic() - t0 < 1.2
    assert "first_byte" in str(info.value)
    assert server.closed_event.wait(2)
    assert len(server.accepted) == 1  # a silent server is not asked again


def test_non_stream_call_keeps_the_long_read_not_first_byte(scripted):
    body = json.dumps(COMPLETION).encode()

    def script(conn: Conn) -> None:
        time.sleep(0.6)  # a reasoning model thinking before its (non-stream) answer
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    p = provider(scripted(script), timeout=Timeout(first_byte=0.2, read=5))
    assert p.complete("x").content == "hello json"


# -- sizes -------------------------------------------------------------------------------------
def test_body_cap_stops_a_huge_body(scripted):
    assert transport_module.MAX_BODY_BYTES == 64 * 2**20 and transport_module.MAX_LINE_BYTES == 16 * 2**20
    sent = []

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(200 * 2**20)})
        block = b"0" * 2**16
        n = 0
        while n < 200 * 2**20 and conn.send(block):
            n += len(block)
        sent.append(n)

    server = scripted(script)
    p = provider(server)
    p.transport.max_body_bytes = 2 * 2**20
    with pytest.raises(ResponseTooLargeError) as info:
        p.complete("x")
    assert "max_body_bytes=2,097,152" in str(info.value)
    assert server.closed_event.wait(3)
    assert sent and sent[0] < 100 * 2**20  # the client stopped reading long before the end


def test_per_call_body_cap_for_a_file_download(scripted):
    body = b'"' + b"x" * (3 * 2**20) + b'"'

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script)
    t = Transport(server.url, "k", retry=NO_RETRY, max_body_bytes=2**20)
    with pytest.raises(ResponseTooLargeError):
        t.request("GET", "/files/f/content")
    with transport_module.body_limit(8 * 2**20):
        assert t.request("GET", "/files/f/content").content == body
    t.close()
    p = provider(server)
    p.transport.max_body_bytes = 2**20  # API answers capped, raw file access (provider.request) not
    assert p.request("GET", "/files/f/content").content == body


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(scripted):
    bomb = zlib.compressobj(1, zlib.DEFLATED, 31)
    payload = bomb.compress(b"\0" * (256 * 2**20)) + bomb.flush()  # 256 MiB of zeros in ~250 KB

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                           "Content-Length": str(len(payload))})
        conn.send(payload)

    import resource

    p = provider(scripted(script))
    p.transport.max_body_bytes = 4 * 2**20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ResponseTooLargeError):
        p.complete("x")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, grown_mb


def test_endless_sse_line_is_a_stream_error(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers=SSE)
        conn.send(chunked(chunk_event("first ")))
        conn.send(chunked(b"data: "))
        block = chunked(b"x" * 2**16)
        end = time.monotonic() + 8
        while time.monotonic() < end and conn.send(block):
            pass

    server = scripted(script)
    p = provider(server)
    p.transport.max_line_bytes = 2**20
    events = []
    with pytest.raises(StreamError) as info:
        for ev in p.stream("x"):
            events.append(ev)
    assert "max_line_bytes=1,048,576" in str(info.value)
    assert events[-1].type is E.ERROR and info.value.partial.content == "first "
    assert len(server.requests) == 1


# -- encodings and content types -----------------------------------------------------------------
@pytest.mark.parametrize("encoding, wbits", [("gzip", 31), ("deflate", 15), ("deflate", -15)])
def test_compressed_event_stream_is_decoded_incrementally(scripted, encoding, wbits):
    def script(conn: Conn) -> None:
        z = zlib.compressobj(6, zlib.DEFLATED, wbits)
        conn.head(headers={**SSE, "Content-Encoding": encoding})
        conn.send(chunked(z.compress(chunk_event("Hello")) + z.flush(zlib.Z_SYNC_FLUSH)))
        time.sleep(1.0)
        rest = z.compress(chunk_event(" world") + chunk_event(None, "stop") + b"data: [DONE]\n\n") + z.flush()
        conn.send(chunked(rest) + b"0\r\n\r\n")

    p = provider(scripted(script))
    t0 = time.monotonic()
    first = None
    with p.stream("x") as st:
        for ev in st:
            if ev.type is E.TOKEN and first is None:
                first = time.monotonic() - t0
        result = st.result()
    assert first is not None and first < 0.5, first
    assert result.content == "Hello world"


def test_json_answer_to_a_stream_request_is_parsed_once(scripted):
    body = json.dumps(COMPLETION).encode()

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script)
    with provider(server, retry=FAST).stream("x") as st:
        events = list(st)
    assert [e.type for e in events][-1] is E.DONE
    assert "".join(e.data for e in events if e.type is E.TOKEN) == "hello json"
    assert st.result().usage.total_tokens == 5
    assert len(server.requests) == 1


@pytest.mark.parametrize("ctype, body, expect", [
    ("application/json", b'{"error": {"message": "model overloaded"}}', "model overloaded"),
    ("application/json", b"{not json", "not JSON"),
    ("text/html", b"<html>captive portal</html>", "check base_url"),
])
def test_wrong_answer_to_a_stream_request_is_one_clear_error(scripted, ctype, body, expect):
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": ctype, "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script)
    with pytest.raises(StreamError) as info:
        list(provider(server, retry=FAST).stream("x"))
    assert expect in str(info.value)
    assert len(server.requests) == 1  # never re-sent


# -- retry hints -------------------------------------------------------------------------------
@pytest.mark.parametrize("hint", [{"retry-after": "nan"}, {"retry-after": "-5"}, {"retry-after": "inf"},
                                  {"retry-after": "Infinity"}, {"retry-after-ms": "NaN"},
                                  {"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"},
                                  {"retry-after": "Mon, 01 Jan 0001 00:00:00 GMT"}])
def test_absurd_retry_hints_fall_back_to_backoff(scripted, hint):
    def script(conn: Conn) -> None:
        if len(server.requests) <= 2:
            body = b'{"error": {"message": "slow down"}}'
            conn.head("429 Too Many Requests", {**hint, "Content-Type": "application/json",
                                                 "Content-Length": str(len(body))})
            conn.send(body)
        else:
            body = json.dumps(COMPLETION).encode()
            conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
            conn.send(body)

    server = scripted(script)
    slept: list[float] = []
    p = provider(server, retry=RetryPolicy(max_retries=2, base=0.01, cap=0.01), sleep=slept.append)
    assert p.complete("x").content == "hello json"
    assert len(slept) == 2 and all(0 < s <= 0.01 for s in slept), slept


def test_google_retry_info_in_the_body_is_the_hint(scripted):
    err = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.25s"}]}}

    def script(conn: Conn) -> None:
        body = json.dumps(err if len(server.requests) == 1 else COMPLETION).encode()
        status = "429 Too Many Requests" if len(server.requests) == 1 else "200 OK"
        conn.head(status, {"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script)
    slept: list[float] = []
    assert provider(server, retry=FAST, sleep=slept.append).complete("x").content == "hello json"
    assert slept == [0.25]


# -- TLS, redirects, proxies, auth ------------------------------------------------------------------
@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def test_tls_verification_failure_is_not_retried_and_says_what_to_do(scripted, self_signed):
    def script(conn: Conn) -> None:
        body = json.dumps(COMPLETION).encode()
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script, tls=self_signed)
    with pytest.raises(TLSVerificationError) as info:
        provider(server, retry=FAST).complete("x")
    msg = str(info.value)
    assert "REQUESTS_CA_BUNDLE" in msg and "ca_bundle=" in msg and "verify=" in msg
    assert len(server.accepted) == 1  # not retried
    assert provider(server, ca_bundle=self_signed[0]).complete("x").content == "hello json"


def test_refused_redirect_names_its_target(scripted):
    def script(conn: Conn) -> None:
        conn.head("307 Temporary Redirect", {"Location": "https://elsewhere.example/v1/chat/completions",
                                             "Content-Length": "0"})

    with pytest.raises(APIStatusError) as info:
        provider(scripted(script)).complete("x")
    assert info.value.status_code == 307
    assert "https://elsewhere.example/v1/chat/completions" in str(info.value)


def test_proxies_option_sends_through_the_proxy(scripted):
    def script(conn: Conn) -> None:
        body = json.dumps(COMPLETION).encode()
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    proxy = scripted(script)
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://llm.invalid/v1",
                       proxies={"http": f"http://127.0.0.1:{proxy.port}"}, retry=NO_RETRY)
    assert p.complete("x").content == "hello json"
    assert proxy.requests[0].startswith(b"POST http://llm.invalid/v1/chat/completions ")


def test_auth_header_is_pluggable_over_the_wire(scripted):
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": "2", "request-id": "req_ant_1"})
        conn.send(b"{}")

    server = scripted(script)
    t = Transport(server.url, "ant-key", auth_header="x-api-key", auth_scheme=None, retry=NO_RETRY)
    resp = t.request("POST", "/messages", json={})
    head = server.requests[0].split(b"\r\n\r\n")[0].lower()
    assert b"x-api-key: ant-key" in head and b"authorization" not in head
    assert resp.request_id == "req_ant_1"
    t.close()


# -- release and cancellation -------------------------------------------------------------------
def _endless_stream(conn: Conn) -> None:
    conn.head(headers=SSE)
    end = time.monotonic() + 8
    while time.monotonic() < end and conn.send(chunked(chunk_event("w "))):
        time.sleep(0.02)


def test_abandoned_stream_releases_its_connection_and_settles_at_once(scripted):
    from llm_client_sync.ratelimit import RateLimit

    server = scripted(_endless_stream)
    p = provider(server, rate_limit=RateLimit(rpm=1000, tpm=1_000_000))
    settled: list[int] = []
    real = p.limiter.settle
    p.limiter.settle = lambda res, tokens: (settled.append(tokens), real(res, tokens))  # type: ignore[method-assign]
    gc.disable()  # prove it is not the garbage collector that closes it
    try:
        for ev in p.stream("x"):
            if ev.type is E.TOKEN:
                break  # a plain for/break, no with, the Stream dropped
        t0 = time.monotonic()
        assert server.closed_event.wait(2)
        assert server.closed_at[0] - t0 < 0.5
        assert len(settled) == 1
    finally:
        gc.enable()


def run_and_cancel(make_coro: Callable[[], Any], after: float) -> float:
    """Run ``make_coro()`` as a task, cancel it ``after`` seconds; the time of the cancel."""

    async def main() -> float:
        task = asyncio.ensure_future(make_coro())
        await asyncio.sleep(after)
        task.cancel()
        t = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        return t

    return asyncio.run(main())


def test_aio_cancel_during_a_silent_call_frees_the_thread_and_sends_nothing_more(scripted):
    from llm_client_sync.aio import AsyncOpenAIProvider

    server = scripted(lambda conn: conn.wait_closed(10))
    sync = provider(server, retry=RetryPolicy(max_retries=5, base=0.01, cap=0.01))
    exited: list[tuple[float, BaseException | None]] = []
    real = sync.complete

    def complete(*a: Any, **kw: Any) -> Any:
        try:
            return real(*a, **kw)
        except BaseException as exc:
            exited.append((time.monotonic(), exc))
            raise

    sync.complete = complete  # type: ignore[method-assign]

    t_cancel = run_and_cancel(lambda: AsyncOpenAIProvider(provider=sync).complete("x"), after=0.3)
    deadline = time.monotonic() + 2
    while not exited and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exited and exited[0][0] - t_cancel < 0.3
    assert isinstance(exited[0][1], RequestCancelledError)
    assert server.closed_event.wait(1)
    time.sleep(0.2)
    assert len(server.accepted) == 1  # no retry after the cancellation


def test_aio_cancel_during_retry_wait_stops_retries(scripted):
    from llm_client_sync.aio import AsyncOpenAIProvider

    def script(conn: Conn) -> None:
        body = b'{"error": {"message": "busy"}}'
        conn.head("503 Service Unavailable", {"Content-Type": "application/json", "retry-after": "0.5",
                                              "Content-Length": str(len(body))})
        conn.send(body)

    server = scripted(script)
    sync = provider(server, retry=RetryPolicy(max_retries=10))

    # cancelled after the first 503 was answered, during the 0.5 s wait before the retry
    run_and_cancel(lambda: AsyncOpenAIProvider(provider=sync).complete("x"), after=0.25)
    time.sleep(0.8)  # the retry would have been sent by now
    assert len(server.requests) == 1


def test_aio_stream_cancelled_before_headers_closes_the_request(scripted):
    from llm_client_sync.aio import AsyncOpenAIProvider

    server = scripted(lambda conn: conn.wait_closed(10))

    llm = AsyncOpenAIProvider(provider=provider(server))

    async def consume() -> None:
        async for _ in llm.stream("x"):
            pass

    t_cancel = run_and_cancel(consume, after=0.3)
    assert server.closed_event.wait(2)
    assert server.closed_at[0] - t_cancel < 0.3
    assert len(server.accepted) == 1


def test_aio_configuration_mistakes_are_in_the_error_tree():
    from llm_client_sync import ConfigurationError
    from llm_client_sync.aio import AsyncAgent, AsyncOpenAIProvider

    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError):
        AsyncOpenAIProvider("gpt-5-nano", provider=p)
    from llm_client_sync.agent import Agent

    with pytest.raises(ConfigurationError):
        AsyncAgent(Agent(p), tools=[lambda: 1])
    assert issubclass(ConfigurationError, LLMClientError)


def test_a_stream_opened_in_a_cancel_scope_obeys_it_while_read_later(scripted):
    from llm_client_sync.transport import CancelToken, cancel_scope

    server = scripted(_endless_stream)
    token = CancelToken()
    with cancel_scope(token):
        st = provider(server).stream("x")
    events = []
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(RequestCancelledError):
        for ev in st:
            events.append(ev)
    assert time.monotonic() - t0 < 1.0
    assert any(e.type is E.TOKEN for e in events) and events[-1].type is E.ERROR
    assert server.closed_event.wait(2)
