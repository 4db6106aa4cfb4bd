"""The transport's behaviour the mutation runs found unpinned: retry hints and the retryable
predicate (Google RetryInfo bodies at the size cap, in wrapped lists; RetryPolicy defaults and
backoff arithmetic), then the whole module: body and error-body caps, the retry loop's bounds and
deadline, a body lost mid-way, the TLS-verification chain, the messages a user acts on, session
close and cancel scopes."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import ssl
import threading
import typing

import pytest
import requests

from llm_client_sync import RetryPolicy, Timeout
from llm_client_sync import errors as E
from llm_client_sync import transport as transport_module
from llm_client_sync.testing import JSONResponse, MockOpenAIServer
from llm_client_sync.transport import (
    MAX_RETRY_AFTER,
    CancelToken,
    Transport,
    TransportResponse,
    body_limit,
    cancel_scope,
    header_value,
    is_retryable,
    retry_after_seconds,
)

responses = pytest.importorskip("responses")

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
CAP = 1024 * 1024  # the error-body cap of the transport


def _envelope(delay="7s"):
    return {"error": {"code": 429, "details": [{"@type": RETRY_INFO, "retryDelay": delay}]}}


def _padded(size: int) -> str:
    """A JSON error body of exactly ``size`` characters carrying a RetryInfo of 7 s."""
    head = json.dumps(_envelope())
    return head[:-1] + ', "pad": "' + "x" * (size - len(head) - 11) + '"}'


@pytest.mark.parametrize("kind", [str, bytes])
def test_google_body_at_the_cap_is_read_and_over_it_ignored(kind):
    at = _padded(CAP)
    assert len(at) == CAP and json.loads(at)
    conv = (lambda s: s.encode()) if kind is bytes else (lambda s: s)
    assert retry_after_seconds({}, conv(at)) == 7.0
    over = _padded(CAP + 1)
    assert len(over) == CAP + 1
    assert retry_after_seconds({}, conv(over)) is None


def test_google_hint_in_a_wrapped_list_after_an_item_without_details():
    body = [{"error": {"code": 429}}, {"error": "text"}, _envelope("3s")]
    assert retry_after_seconds({}, body) == 3.0
    assert retry_after_seconds({}, json.dumps(body)) == 3.0


def test_google_hint_only_in_the_first_four_items():
    assert retry_after_seconds({}, [{}] * 3 + [_envelope("2s")]) == 2.0
    assert retry_after_seconds({}, [{}] * 4 + [_envelope("2s")]) is None


def test_retry_policy_defaults():
    p = RetryPolicy()
    assert (p.max_retries, p.base, p.cap, p.jitter, p.max_retry_after) == (2, 0.5, 8.0, 0.25, MAX_RETRY_AFTER)
    assert MAX_RETRY_AFTER == 120.0


@pytest.mark.parametrize("attempt, want", [(-3, 0.5), (0, 0.5), (1, 1.0), (2, 2.0), (4, 8.0), (5, 8.0), (10**6, 8.0)])
def test_backoff_doubles_up_to_the_cap(attempt, want):
    p = RetryPolicy()
    assert p.delay(attempt, {}, rand=lambda: 0.0) == want
    assert p.delay(attempt, {}, rand=lambda: 1.0) == pytest.approx(want * 0.75)


def test_hint_at_max_retry_after_is_honoured_above_it_gives_up():
    p = RetryPolicy(max_retry_after=30.0)
    assert p.delay(0, {"retry-after": "30"}) == 30.0
    assert p.delay(0, {"retry-after": "31"}) is None
    assert RetryPolicy.hinted_delay({"retry-after-ms": "1500"}) == 1.5
    assert p.hinted_delay({"retry-after": "2"}) == 2.0  # also through an instance


@pytest.mark.parametrize("status, want", [(407, False), (408, True), (409, True), (410, False), (428, False),
                                          (429, True), (430, False), (499, False), (500, True), (503, True)])
def test_retryable_statuses_edges(status, want):
    assert is_retryable(status) is want
    assert RetryPolicy().should_retry(status, {}) is want


def test_server_hint_overrides_status_case_insensitively():
    assert is_retryable(400, {"x-should-retry": "TRUE"}) is True
    assert is_retryable(503, {"x-should-retry": "False"}) is False
    assert is_retryable(503, {"x-should-retry": "maybe"}) is True


def test_google_hint_only_in_the_first_32_details():
    other = {"@type": "type.googleapis.com/google.rpc.Help"}
    hint = {"@type": RETRY_INFO, "retryDelay": "4s"}
    assert retry_after_seconds({}, {"error": {"details": [other] * 31 + [hint]}}) == 4.0
    assert retry_after_seconds({}, {"error": {"details": [other] * 32 + [hint]}}) is None


@pytest.mark.parametrize("delay, want", [({"seconds": 3}, 3.0), ({"nanos": 500_000_000}, 0.5),
                                         ({"seconds": "2", "nanos": 250_000_000}, 2.25), ({}, None)])
def test_google_proto_duration_with_missing_parts(delay, want):
    assert retry_after_seconds({}, _envelope(delay)) == want


def test_insufficient_quota_in_the_error_type_is_not_retryable():
    assert is_retryable(429, {}, {"error": {"type": "insufficient_quota", "message": "billing"}}) is False
    assert is_retryable(429, {}, {"error": {"code": "insufficient_quota"}}) is False
    assert is_retryable(429, {}, {"error": {"type": "rate_limit_exceeded"}}) is True


def test_retry_policy_is_an_immutable_value():
    p = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_retries = 5  # type: ignore[misc]
    assert dataclasses.replace(p, max_retries=5) == RetryPolicy(max_retries=5) != p
    assert hash(p) == hash(RetryPolicy())


# -- the whole module: the transport's observable behaviour the second mutation run found unpinned ----
# (``responses`` answers inside requests' adapter: no sockets unless a test needs the pool)


BASE = "https://api.example.test/v1"
NO_RETRY = RetryPolicy(max_retries=0)


@pytest.fixture()
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


class _Clock:
    """A transport clock that only moves when the transport sleeps (by ``step`` per sleep)."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 1000.0
        self.step = step
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += self.step or seconds


class _BreaksAfter(io.RawIOBase):
    """A response body whose connection resets after the first bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not self.data:
            raise ConnectionResetError("connection reset by peer")
        n = len(self.data)
        buf[:n], self.data = self.data, b""
        return n


@pytest.mark.parametrize("cls", [Timeout, RetryPolicy, TransportResponse])
def test_public_dataclass_annotations_resolve(cls):
    # config loaders and type checkers at run time (pydantic, cattrs, typeguard) evaluate them
    hints = typing.get_type_hints(cls)
    assert set(hints) >= {f.name for f in dataclasses.fields(cls)}
    if cls is Timeout:
        assert hints["total"] == typing.Optional[float]


def test_body_limit_of_one_byte_is_a_valid_cap(mock):
    mock.get(f"{BASE}/one", body=b"1")
    mock.get(f"{BASE}/two", body=b"12")
    t = Transport(BASE, "k", retry=NO_RETRY)
    with body_limit(1) as cap:
        assert cap == 1
        assert t.request("GET", "one").content == b"1"
        with pytest.raises(E.ResponseTooLargeError) as info:
            t.request("GET", "two")
    assert "max_body_bytes=1 " in str(info.value)


def test_too_large_body_says_how_to_raise_the_cap(mock):
    mock.get(f"{BASE}/big", body=b"x" * 2048)
    with pytest.raises(E.ResponseTooLargeError) as info:
        Transport(BASE, "k", retry=NO_RETRY, max_body_bytes=1024).request("GET", "big")
    assert str(info.value).startswith("response body exceeds max_body_bytes=1,024 (after decompression)")
    assert "raise the cap with Transport(max_body_bytes=...) if this is expected, else check base_url" in str(info.value)


def test_deadline_passed_during_a_retry_wait_is_a_timeout_naming_the_attempts(mock):
    # the process overslept (suspended laptop, GC pause): the next attempt is not sent
    mock.post(f"{BASE}/chat", status=500, json={"error": {"message": "boom"}})
    clock = _Clock(step=60.0)
    t = Transport(BASE, "k", timeout=Timeout(total=10.0), retry=RetryPolicy(max_retries=3, base=1.0, jitter=0),
                  clock=clock, sleep=clock.sleep)
    with pytest.raises(E.APITimeoutError) as info:
        t.request("POST", "chat", json={})
    assert str(info.value) == "total deadline of 10s passed before POST chat (after 1 attempts)"
    assert len(mock.calls) == 1 and clock.slept == [1.0]


def test_body_lost_mid_way_is_retried_and_the_retry_answer_returned(mock):
    mock.post(f"{BASE}/chat", body=io.BufferedReader(_BreaksAfter(b'{"par')), headers={"content-length": "100"})
    mock.post(f"{BASE}/chat", json={"ok": 1})
    clock = _Clock()
    notes: list[tuple] = []
    t = Transport(BASE, "k", retry=RetryPolicy(max_retries=1, base=0.5, jitter=0), clock=clock, sleep=clock.sleep)
    t.retry_observers.append(lambda attempt, delay, **why: notes.append((attempt, delay, why)))
    r = t.request("POST", "chat", json={})
    assert isinstance(r, TransportResponse) and r.json() == {"ok": 1} and len(mock.calls) == 2
    assert clock.slept == [0.5] and notes == [(1, 0.5, {"error": "APIConnectionError"})]


def test_body_lost_with_no_retries_left_is_a_connection_error(mock):
    mock.post(f"{BASE}/chat", body=io.BufferedReader(_BreaksAfter(b'{"par')), headers={"content-length": "100"})
    with pytest.raises(E.APIConnectionError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert "connection lost while reading the body" in str(info.value) and len(mock.calls) == 1


def _ssl_failure(text: str, cause: BaseException | None = None) -> requests.exceptions.SSLError:
    exc = requests.exceptions.SSLError(text)
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize("exc", [
    _ssl_failure("HTTPSConnectionPool: Max retries exceeded", ssl.SSLCertVerificationError(1, "self-signed")),
    _ssl_failure("pool error", OSError("[SSL: CERTIFICATE_VERIFY_FAILED] (_ssl.c:1006)")),
    _ssl_failure("tls: certificate verify failed: unable to get local issuer certificate"),
    _ssl_failure("hostname mismatch, certificate is not valid for 'api.example.test'"),
    requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "wrapped as the first argument")),
], ids=["cause", "cause-text", "lowercase", "hostname", "args"])
def test_certificate_failures_anywhere_in_the_chain_say_tls_verification(mock, exc):
    mock.post(f"{BASE}/chat", body=exc)
    with pytest.raises(E.TLSVerificationError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert "REQUESTS_CA_BUNDLE or ca_bundle=" in str(info.value)


def test_other_tls_failures_are_connection_errors_not_certificate_advice(mock):
    exc = _ssl_failure("[SSL: WRONG_VERSION_NUMBER] wrong version number", ssl.SSLError(1, "WRONG_VERSION_NUMBER"))
    mock.post(f"{BASE}/chat", body=exc)
    with pytest.raises(E.APIConnectionError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert not isinstance(info.value, E.TLSVerificationError)
    assert str(info.value).startswith("connection failed (SSLError): ") and "ca_bundle" not in str(info.value)


def test_close_releases_the_pooled_connection_and_the_transport_reopens():
    with MockOpenAIServer() as server:
        t = Transport(server.base_url, "k", retry=NO_RETRY)
        assert t.request("GET", "models").status_code == 200
        assert server.connections_closed == 0  # kept alive in the pool
        t.close()
        assert server.wait_connections_closed(1, timeout=2.0)
        assert t.request("GET", "models").status_code == 200  # a new session after close
        t.close()
        assert server.wait_connections_closed(2, timeout=2.0)


def test_close_in_a_forked_child_leaves_the_parents_session_alone(monkeypatch):
    t = Transport("http://127.0.0.1:9", "k")
    inherited = t._get_session()
    closed: list[int] = []
    monkeypatch.setattr(inherited, "close", lambda: closed.append(1))
    parent = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: parent + 1)  # as seen in the child after a fork
    t.close()
    assert closed == []
    monkeypatch.setattr(os, "getpid", lambda: parent)
    t2 = Transport("http://127.0.0.1:9", "k")
    own = t2._get_session()
    monkeypatch.setattr(own, "close", lambda: closed.append(2))
    t2.close()
    assert closed == [2]


# -- the messages a user acts on ------------------------------------------------------------------
@pytest.mark.parametrize("body, want", [
    ({"error": {"message": "model not found", "type": "invalid_request_error"}}, "HTTP 400: model not found"),
    ({"error": "quota exceeded for this key"}, "HTTP 400: quota exceeded for this key"),
    ("  upstream unavailable  \n", "HTTP 400: upstream unavailable"),
    ([{"error": {"code": 400}}], "HTTP 400: no error message"),
    ("", "HTTP 400: no error message"),
], ids=["openai", "string-error", "text", "json-list", "empty"])
def test_status_error_message_from_each_body_shape(mock, body, want):
    kw = {"json": body} if isinstance(body, (dict, list)) else {"body": body}
    mock.post(f"{BASE}/chat", status=400, headers={"x-request-id": "req_9"}, **kw)
    with pytest.raises(E.APIStatusError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert str(info.value) == want + " (request id req_9)"
    assert info.value.status_code == 400 and info.value.request_id == "req_9"


def test_status_error_message_is_cut_at_1000_characters(mock):
    mock.post(f"{BASE}/chat", status=400, json={"error": {"message": "m" * 1500}})
    with pytest.raises(E.APIStatusError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert str(info.value) == "HTTP 400: " + "m" * 1000
    assert info.value.body["error"]["message"] == "m" * 1500  # the body itself is kept whole


def test_refused_redirect_says_why_and_what_to_set(mock):
    mock.post(f"{BASE}/chat", status=308, headers={"Location": "https://other.example/v1/chat"})
    with pytest.raises(E.APIStatusError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    assert str(info.value) == (
        f"HTTP 308: the server redirects {BASE}/chat to https://other.example/v1/chat; redirects are not "
        "followed (a POST body and the API key must not be re-sent elsewhere): set base_url to the final URL")


def test_corrupt_gzip_body_is_a_validation_error_saying_so(mock):
    mock.get(f"{BASE}/x", body=b"this is not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(E.APIResponseValidationError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("GET", "x")
    assert str(info.value).startswith("the compressed body is corrupt (Error -3 ")


@pytest.mark.parametrize("stream, exc, want", [
    (True, requests.exceptions.ReadTimeout("read timed out"),
     "no response headers within first_byte=2s (ReadTimeout); raise Timeout(first_byte=...) if the server is "
     "known to be slow"),
    (False, requests.exceptions.ReadTimeout("read timed out"), "no response within read=3s (ReadTimeout)"),
    (True, requests.exceptions.ConnectTimeout("connect timed out"), "request timed out (ConnectTimeout)"),
])
def test_timeout_before_the_headers_names_the_timeout_to_raise(mock, stream, exc, want):
    mock.post(f"{BASE}/chat", body=exc)
    t = Transport(BASE, "k", retry=NO_RETRY, timeout=Timeout(first_byte=2, read=3))
    with pytest.raises(E.APITimeoutError) as info:
        t.open_stream("chat", json={}) if stream else t.request("POST", "chat", json={})
    assert str(info.value) == want


def test_timeout_after_the_deadline_names_the_deadline(mock):
    clock = _Clock()

    def late(request):
        clock.now += 30.0
        raise requests.exceptions.ReadTimeout("read timed out")

    mock.add_callback("POST", f"{BASE}/chat", callback=late)
    t = Transport(BASE, "k", retry=RetryPolicy(max_retries=2), timeout=Timeout(total=20.0), clock=clock,
                  sleep=clock.sleep)
    with pytest.raises(E.APITimeoutError) as info:
        t.request("POST", "chat", json={})
    assert str(info.value) == "total deadline of 20s passed (ReadTimeout)"
    assert len(mock.calls) == 1 and clock.slept == []


@pytest.mark.parametrize("stream", [False, True])
def test_deadline_passed_before_the_body_is_read(mock, stream):
    clock = _Clock()

    def slow_headers(request):
        clock.now += 30.0  # the headers took the whole budget
        return 200, {"Content-Type": "text/event-stream" if stream else "application/json"}, b'{"ok": 1}'

    mock.add_callback("POST", f"{BASE}/chat", callback=slow_headers)
    t = Transport(BASE, "k", retry=NO_RETRY, timeout=Timeout(total=20.0), clock=clock, sleep=clock.sleep)
    if stream:
        s = t.open_stream("chat", json={})
        with pytest.raises(E.StreamError) as info:
            list(s.iter_bytes())
        assert str(info.value) == "total deadline of 20s passed while reading the event stream"
        assert info.value.deadline_passed is True
    else:
        with pytest.raises(E.APITimeoutError) as info:
            t.request("POST", "chat", json={})
        assert str(info.value) == "total deadline of 20s passed while reading the response body"


def test_stream_connection_lost_names_the_failure(mock):
    mock.post(f"{BASE}/chat", body=io.BufferedReader(_BreaksAfter(b"data: {}\n\n")),
              headers={"Content-Type": "text/event-stream"})
    s = Transport(BASE, "k", retry=NO_RETRY).open_stream("chat", json={})
    got = []
    with pytest.raises(E.StreamError) as info:
        for chunk in s.iter_bytes():
            got.append(chunk)
    assert got == [b"data: {}\n\n"]
    assert str(info.value) == "stream connection lost: ConnectionResetError: connection reset by peer"


def test_unencodable_body_is_a_configuration_error_not_a_connection_failure(mock):
    with pytest.raises(E.ConfigurationError) as info:
        Transport(BASE, "k").request("POST", "chat", json={"x": object()})
    assert str(info.value).startswith("the request cannot be built (TypeError: Object of type object is not JSON ")
    assert str(info.value).endswith("; check the parameters, headers and base_url")
    assert len(mock.calls) == 0


def test_cancel_between_attempts_stops_the_retry_before_it_is_sent():
    token = CancelToken()
    with MockOpenAIServer() as server:
        server.add_error(503, {"error": {"message": "busy"}})
        t = Transport(server.base_url, "k", retry=RetryPolicy(max_retries=2, base=0.01, jitter=0),
                      sleep=lambda s: None)
        with cancel_scope(token), pytest.raises(E.RequestCancelledError) as info:
            t.request("POST", "chat/completions", json={"model": "m", "messages": []}, before_retry=token.cancel)
        t.close()
        assert str(info.value) == "the call was cancelled before it was sent"
        assert len(server.requests) == 1


# -- caps, edges of the retry loop and of the options ---------------------------------------------
def test_header_lookup_is_case_insensitive_on_a_plain_mapping():
    headers = {"Content-Type": "application/json", "Retry-After": " 5 ", "X-Raw": b"v\xe9"}
    assert header_value(headers, "retry-after") == "5"
    assert header_value(headers, "content-type") == "application/json"
    assert header_value(headers, "x-raw") == "v\u00e9"  # bytes are latin-1, as on the wire
    assert header_value(headers, "x-missing") is None
    assert header_value({1: "x", "X-N": 3}, "x-n") is None  # not a string


def test_documented_body_caps():
    assert transport_module.FILE_BODY_BYTES == 2 * 2**30 and isinstance(transport_module.FILE_BODY_BYTES, int)
    with body_limit(transport_module.FILE_BODY_BYTES) as cap:
        assert cap == 2 * 2**30


@pytest.mark.parametrize("bad", [0, -1, 2.5, "1", True, None])
def test_body_limit_takes_only_a_positive_int(bad):
    with pytest.raises(E.ConfigurationError, match="max_bytes must be a positive number of bytes"):
        with body_limit(bad):
            pass


@pytest.mark.parametrize("value, want", [
    (0.5, Timeout(connect=0.5, read=0.5, stream_idle=0.5, first_byte=0.5)),
    (30, Timeout(connect=10.0, read=30.0, stream_idle=30.0, first_byte=30.0)),
    ({"read": 5}, Timeout(read=5)),
])
def test_timeout_coerce(value, want):
    assert Timeout.coerce(value) == want


@pytest.mark.parametrize("bad", [True, 0, -2.0, float("inf"), "30"])
def test_timeout_coerce_refuses_non_positive_and_non_numbers(bad):
    with pytest.raises(E.ConfigurationError):
        Timeout.coerce(bad)


def test_body_read_with_under_a_second_left_is_still_read(mock):
    clock = _Clock()

    def answer(request):
        clock.now += 19.5  # half a second of the budget left for the body
        return 200, {"Content-Type": "application/json"}, b'{"ok": 1}'

    mock.add_callback("POST", f"{BASE}/chat", callback=answer)
    t = Transport(BASE, "k", retry=NO_RETRY, timeout=Timeout(total=20.0), clock=clock, sleep=clock.sleep)
    assert t.request("POST", "chat", json={}).json() == {"ok": 1}


def test_status_300_is_not_a_success(mock):
    mock.get(f"{BASE}/x", status=300, json={"choices": ["a", "b"]}, headers={"Location": f"{BASE}/a"})
    with pytest.raises(E.APIStatusError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("GET", "x")
    assert info.value.status_code == 300 and "redirects are not followed" in str(info.value)


class _Endless(io.RawIOBase):
    """An error body of ``size`` bytes served in 64 KiB reads; counts what the client took."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        self.left = size
        self.head = head
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = min(len(buf), 65536, self.left)
        data = (self.head + b"x" * n)[:n]
        self.head = self.head[n:]
        buf[:n] = data
        self.left -= n
        self.served += n
        return n


def test_error_body_is_read_only_up_to_its_cap(mock):
    head = json.dumps(_envelope("9s")).encode()[:-1] + b', "pad": "'
    body = _Endless(8 * CAP, head)
    mock.post(f"{BASE}/chat", status=400, body=io.BufferedReader(body, 65536))
    with pytest.raises(E.APIStatusError) as info:
        Transport(BASE, "k", retry=NO_RETRY).request("POST", "chat", json={})
    # cut at 1 MiB: no longer JSON, kept as text; the rest was never read
    assert isinstance(info.value.body, str) and len(info.value.body) == CAP
    assert body.served < CAP + 3 * 65536


def test_retry_hint_past_the_deadline_gives_up_at_once(mock):
    mock.post(f"{BASE}/chat", status=503, json={"error": {"message": "busy"}}, headers={"Retry-After": "30"})
    mock.post(f"{BASE}/chat", json={"ok": 1})
    clock = _Clock()
    t = Transport(BASE, "k", timeout=Timeout(total=10.0), clock=clock, sleep=clock.sleep)
    with pytest.raises(E.APIStatusError) as info:
        t.request("POST", "chat", json={})
    assert info.value.status_code == 503 and clock.slept == [] and len(mock.calls) == 1


def test_retries_stop_after_max_retries(mock):
    for _ in range(3):
        mock.post(f"{BASE}/chat", status=503, json={"error": {"message": "busy"}})
    mock.post(f"{BASE}/chat", json={"ok": 1})  # a fourth attempt would succeed: it must not be made
    clock = _Clock()
    t = Transport(BASE, "k", retry=RetryPolicy(max_retries=2, base=1.0, jitter=0), clock=clock, sleep=clock.sleep)
    with pytest.raises(E.APIStatusError) as info:
        t.request("POST", "chat", json={})
    assert info.value.status_code == 503 and len(mock.calls) == 3 and clock.slept == [1.0, 2.0]


@pytest.mark.parametrize("kw", [{"verify": False}, {"ca_bundle": "ca"}])
def test_explicit_verify_wins_over_requests_ca_bundle(mock, monkeypatch, tmp_path, kw):
    env_ca, own_ca = tmp_path / "env.pem", tmp_path / "own.pem"
    env_ca.write_text("env")
    own_ca.write_text("own")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(env_ca))
    mock.get(f"{BASE}/x", json={})
    kw = {k: (str(own_ca) if v == "ca" else v) for k, v in kw.items()}
    Transport(BASE, "k", retry=NO_RETRY, **kw).request("GET", "x")
    assert mock.calls[0].request.req_kwargs["verify"] == kw.get("verify", kw.get("ca_bundle"))


def test_growing_the_pool_to_its_current_size_keeps_the_connections():
    with MockOpenAIServer() as server:
        t = Transport(server.base_url, "k", retry=NO_RETRY, pool_maxsize=4)
        t.request("GET", "models")
        session = t._get_session()
        t.ensure_pool_size(4)
        assert t._get_session() is session and server.connections_closed == 0
        t.ensure_pool_size(8)
        assert t.pool_maxsize == 8 and t._get_session() is not session
        assert server.wait_connections_closed(1, timeout=2.0)  # the old pool was closed
        t.close()


# -- cancellation scopes ----------------------------------------------------------------------------
def test_scopes_nest_an_outer_cancel_reaches_inner_tokens():
    outer, middle, inner = CancelToken(), CancelToken(), CancelToken()
    with cancel_scope(outer):
        with cancel_scope(middle):
            with cancel_scope(inner):
                pass
    outer.cancel()
    assert middle.cancelled and inner.cancelled
    late = CancelToken()
    with cancel_scope(outer), cancel_scope(late):  # opened under an already-cancelled scope
        assert late.cancelled
    lone_a, lone_b = CancelToken(), CancelToken()
    with cancel_scope(lone_a), cancel_scope(lone_b):
        pass
    lone_b.cancel()
    assert not lone_a.cancelled  # an inner cancel does not reach the outer token


def test_cancelling_a_finished_calls_token_leaves_the_pooled_connection_alone():
    with MockOpenAIServer() as server:
        # each accepted connection is served by its own thread: the name tells a reused connection
        server.route("GET", "/v1/ping", lambda req: JSONResponse({"conn": threading.current_thread().name}))
        t = Transport(server.base_url, "k", retry=NO_RETRY)
        token = CancelToken()
        with cancel_scope(token):
            first = t.request("GET", "ping").json()["conn"]
        token.cancel()  # e.g. an aio task cancelled after its call returned
        assert t.request("GET", "ping").json()["conn"] == first
        t.close()


def test_http_proxy_pools_obey_cancel_socks_pools_stay_socks(monkeypatch):
    socks_pools = {"http": object, "https": object}

    class FakeSocksManager:  # PySocks is optional: stands in for urllib3.contrib.socks
        def __init__(self, *args, **kwargs) -> None:
            self.pool_classes_by_scheme = socks_pools

    monkeypatch.setattr(requests.adapters, "SOCKSProxyManager", FakeSocksManager)
    adapter = Transport(BASE, "k")._get_session().get_adapter(BASE)
    # through an HTTP proxy the connections are registered with the cancel token like direct ones
    assert adapter.proxy_manager_for("http://proxy.internal:3128").pool_classes_by_scheme is transport_module._POOLS
    # a SOCKS manager's own pool classes do the SOCKS handshake: replacing them would bypass the proxy
    assert adapter.proxy_manager_for("SOCKS5h://proxy.internal:1080").pool_classes_by_scheme is socks_pools


def test_transport_response_without_a_request_id_has_none():
    r = TransportResponse(200, {"Content-Type": "application/json"}, b'{"a": 1}')
    assert r.request_id is None and r.json() == {"a": 1} and r.text == '{"a": 1}'


def test_debug_log_names_the_status_request_id_and_attempt(mock, caplog):
    mock.post(f"{BASE}/chat", status=503, json={"error": {"message": "busy"}}, headers={"x-request-id": "req_1"})
    mock.post(f"{BASE}/chat", json={"ok": 1}, headers={"x-request-id": "req_2"})
    clock = _Clock()
    t = Transport(BASE, "k", retry=RetryPolicy(max_retries=1, base=0.5, jitter=0), clock=clock, sleep=clock.sleep)
    with caplog.at_level("DEBUG", logger="llm_client_sync.transport"):
        t.request("POST", "chat", json={})
    answered = [m for m in caplog.messages if " -> " in m]
    assert answered == ["POST chat -> 503 in 0.000s (request id req_1, attempt 1)",
                        "POST chat -> 200 in 0.000s (request id req_2, attempt 2)"]
