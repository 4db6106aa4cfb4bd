"""The provider over real sockets: retries, timeouts, stream failures, pools, forks, secrets."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from llm_client_sync import (
    APIConnectionError,
    APITimeoutError,
    InternalServerError,
    OpenAIProvider,
    RateLimitError,
    RetryPolicy,
    StreamError,
    StreamEventType as E,
    Timeout,
)
from llm_client_sync.testing import MockOpenAIServer

FAST = RetryPolicy(max_retries=2, base=0.001, cap=0.001)


@pytest.fixture()
def server():
    with MockOpenAIServer() as s:
        yield s


def provider(server, **kw):
    kw.setdefault("retry", FAST)
    return OpenAIProvider(model="gpt-5-nano", api_key="sk-secret-key-xyz", base_url=server.base_url, **kw)


def test_complete_returns_content_usage_cost_and_request_id(server):
    server.add_text("Hello there")
    r = provider(server).complete("Hi")
    assert r.content == "Hello there" and r.finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0
    assert r.cost == pytest.approx((r.usage.prompt_tokens * 0.05 + r.usage.completion_tokens * 0.40) / 1e6)
    assert r.request_id.startswith("req_mock")
    sent = server.requests[0]
    assert sent.headers["Authorization"] == "Bearer sk-secret-key-xyz"
    assert sent.json["messages"] == [{"role": "user", "content": "Hi"}]


def test_429_with_retry_after_then_success_sleeps_the_hint(server):
    slept = []
    server.add_error(429, headers={"retry-after": "2"})
    server.add_text("ok")
    p = provider(server, retry=RetryPolicy(max_retries=2), sleep=slept.append)
    assert p.complete("x").content == "ok"
    assert slept == [2.0] and len(server.requests) == 2


def test_retry_after_above_cap_raises_at_once(server):
    slept = []
    server.add_error(429, headers={"retry-after": "500"})
    with pytest.raises(RateLimitError):
        provider(server, retry=RetryPolicy(max_retries=2), sleep=slept.append).complete("x")
    assert slept == [] and len(server.requests) == 1


def test_500_retried_twice_then_raised(server):
    for _ in range(3):
        server.add_error(500)
    with pytest.raises(InternalServerError):
        provider(server).complete("x")
    assert len(server.requests) == 3


def test_insufficient_quota_is_not_retried(server):
    server.add_error(429, code="insufficient_quota", type="insufficient_quota")
    with pytest.raises(RateLimitError) as info:
        provider(server).complete("x")
    assert info.value.code == "insufficient_quota" and len(server.requests) == 1


def test_connection_refused_becomes_api_connection_error():
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1", retry=FAST)
    with pytest.raises(APIConnectionError) as info:
        p.complete("x")
    assert info.value.__cause__ is not None


def test_read_timeout_becomes_api_timeout_error(server):
    server.add_text("late", latency=1.0)
    p = provider(server, timeout=Timeout(connect=1, read=0.2), max_retries=0, retry=RetryPolicy(max_retries=0))
    with pytest.raises(APITimeoutError):
        p.complete("x")


def test_total_deadline_stops_retries():
    clock = [0.0]

    def sleep(s):
        clock[0] += s

    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1",
                       timeout=Timeout(total=1.0), retry=RetryPolicy(max_retries=10, base=0.4, cap=0.4, jitter=0),
                       clock=lambda: clock[0], sleep=sleep)
    with pytest.raises(APIConnectionError):
        p.complete("x")
    assert clock[0] <= 1.0


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_first_token_arrives_before_the_stream_ends(server, framing):
    server.add_text("one two three", framing=framing, chunk_delay=0.3)
    p = provider(server)
    t0 = time.monotonic()
    with p.stream("x") as st:
        for ev in st:
            if ev.type is E.TOKEN:
                first = time.monotonic() - t0
                break
    # the whole reply takes >= 1.2 s of server pauses; the first token must not wait for them
    assert first < 0.6


def test_stream_without_done_after_finish_reason_is_finished(server):
    # issue 14: like the official SDK, a body that ends cleanly after every choice finished is complete
    server.add_text("alpha beta gamma", omit_done=True)
    events = list(provider(server).stream("x"))
    assert events[-1].type is E.DONE and events[-1].data.content == "alpha beta gamma"
    assert events[-1].data.finish_reason == "stop"


def test_stream_connection_drop_yields_error_event_then_raises(server):
    server.add_text("alpha beta gamma delta", drop_after=3)
    events = []
    with pytest.raises(StreamError) as info:
        for ev in provider(server).stream("x"):
            events.append(ev)
    assert events[-1].type is E.ERROR and events[-1].data is info.value
    assert info.value.partial.content == "alpha beta "
    assert len(server.requests) == 1  # never retried after tokens reached the caller


def test_stream_idle_timeout(server):
    server.add_text("a b c d", stall_after=2, stall=2.0)
    p = provider(server, timeout=Timeout(stream_idle=0.3))
    with pytest.raises(StreamError) as info:
        list(p.stream("x"))
    assert "idle" in str(info.value) and info.value.partial.content == "a "


def test_stream_in_band_error(server):
    server.add_text("a b c d e", error_after=3)
    with pytest.raises(StreamError) as info:
        list(provider(server).stream("x"))
    assert "mock in-band error" in str(info.value) and info.value.partial.content == "a b "


def test_stream_retried_when_it_fails_before_any_event(server):
    server.add_text("lost", drop_after=0)
    server.add_text("second try")
    with provider(server).stream("x") as st:
        assert st.result().content == "second try"
    assert len(server.requests) == 2


def test_closing_a_stream_early_releases_the_connection(server):
    server.add_text(" ".join(["w"] * 200), chunk_delay=0.02)
    p = provider(server)
    with p.stream("x") as st:
        next(iter(st))
    rec = server.streams[0]
    assert rec.done.wait(5) and rec.client_disconnected and not rec.completed
    server.add_text("next")
    assert p.complete("y").content == "next"


def test_close_from_another_thread_unblocks_the_reader(server):
    server.add_text("a b", stall_after=1, stall=3.0)
    st = provider(server).stream("x")
    got = []
    first = threading.Event()

    def read():
        for ev in st:
            got.append(ev)
            first.set()

    t = threading.Thread(target=read)
    t.start()
    assert first.wait(5)
    st.close()
    t.join(2)
    assert not t.is_alive()


def test_stream_tool_call_args_split_across_chunks(server):
    server.add_tool_calls([("get_weather", {"city": "東京", "unit": "c"})], args_chunk=2, split_writes=3)
    with provider(server).stream("x", tools=[{"type": "function", "function": {"name": "get_weather"}}]) as st:
        events = list(st)
    deltas = [e for e in events if e.type is E.TOOL_CALL_DELTA]
    end = [e for e in events if e.type is E.TOOL_CALL_END]
    assert len(deltas) > 5 and len(end) == 1
    assert dict(end[0].data.arguments) == {"city": "東京", "unit": "c"}
    assert st.result().finish_reason == "tool_calls"


def test_64_threads_share_one_provider_without_pool_warnings(server, caplog):
    p = provider(server)
    errors, results = [], []
    barrier = threading.Barrier(64)

    def work(i):
        try:
            barrier.wait(5)
            for j in range(3):
                results.append(p.complete(f"n{i}-{j}").content)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    with caplog.at_level(logging.WARNING, logger="urllib3"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors and len(results) == 192
    assert sorted(results) == sorted(f"You said: n{i}-{j}" for i in range(64) for j in range(3))
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_api_key_never_logged_even_at_debug(server, caplog):
    server.add_error(401, message="Incorrect API key provided")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Exception) as info:
            provider(server).complete("x")
    assert "sk-secret-key-xyz" not in caplog.text
    assert "sk-secret-key-xyz" not in str(info.value) and "sk-secret-key-xyz" not in repr(info.value)


def test_netrc_cannot_replace_our_authorization(server, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login evil password stolen\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    provider(server).complete("x")
    assert server.requests[0].headers["Authorization"] == "Bearer sk-secret-key-xyz"


def test_post_does_not_follow_redirects(server):
    from llm_client_sync.testing import JSONResponse

    server.route("POST", "/v1/chat/completions", lambda req: JSONResponse({}, status=307,
                                                                         headers={"Location": "http://127.0.0.1:9/x"}))
    with pytest.raises(Exception) as info:
        provider(server).complete("x")
    assert getattr(info.value, "status_code", None) == 307


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_provider_made_before_fork_works_in_the_child(server):
    p = provider(server)
    p.complete("parent")
    parent_session = p.transport._get_session()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            ok = p.complete("child").content == "You said: child" and p.transport._get_session() is not parent_session
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"
    assert p.complete("parent again").content == "You said: parent again"


def test_embed_splits_large_inputs_and_keeps_order(server):
    texts = [f"text {i}" for i in range(2050)]
    res = provider(server).embed(texts, dimensions=4)
    assert len(res.vectors) == 2050 and len([r for r in server.requests if r.path.endswith("/embeddings")]) == 2
    single = provider(server).embed("text 2049", dimensions=4)
    assert res.vectors[2049] == pytest.approx(single.vectors[0])
    assert server.requests[0].json["encoding_format"] == "base64"


def test_structured_output_from_dataclass_is_parsed(server):
    import dataclasses

    @dataclasses.dataclass
    class City:
        name: str
        population: int

    r = provider(server).complete("Tell me about Paris", response_format=City)
    assert isinstance(r.parsed, City) and isinstance(r.parsed.population, int)
    fmt = server.requests[0].json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    with provider(server).stream("Tell me about Paris", response_format=City) as st:
        assert isinstance(st.result().parsed, City)
