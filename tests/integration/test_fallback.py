"""FallbackProvider against two (or three) local servers, one test per fault of issue 17.

Each test asserts what the caller got, how many requests each server saw and their spacing.
Timeouts are short (first byte 0.3 s, stream idle 0.3 s) so the whole file runs in seconds.
Set FALLBACK_FAULT_TABLE=<path> to write the fault table (fault -> caller got, attempts, time).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, Callable

import pytest

from llm_client_sync import (
    Agent,
    APITimeoutError,
    BadRequestError,
    FallbackProvider,
    OpenAIProvider,
    RetryPolicy,
    StreamError,
    StreamEventType,
    Timeout,
    tool,
)
from llm_client_sync.aio import AsyncOpenAIProvider
from llm_client_sync.batch import BatchRunner
from llm_client_sync.models import ModelProfile, get_profile
from llm_client_sync.testing import MockOpenAIServer, RawReply, TextReply, error_response

pytestmark = pytest.mark.timeout(60)

E = StreamEventType
FAST = RetryPolicy(max_retries=1, base=0.05, cap=0.05, jitter=0.0)
SHORT = Timeout(connect=1.0, read=3.0, stream_idle=0.3, first_byte=0.3, total=5.0)
ROWS: list[tuple[str, str, str, float]] = []


class Timed:
    """Notes when each chat request reached a server (optionally answering with ``handler``)."""

    def __init__(self, server: MockOpenAIServer, handler: Callable[[Any], Any] | None = None) -> None:
        self.server = server
        self.times: list[float] = []
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        answer = handler or server._chat

        def route(req: Any) -> Any:
            with self._lock:
                self.times.append(time.monotonic())
                self.bodies.append(req.json)
            return answer(req)

        server.route("POST", "/v1/chat/completions", route)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.times)

    def gaps(self) -> list[float]:
        with self._lock:
            return [b - a for a, b in zip(self.times, self.times[1:])]


@pytest.fixture
def servers():
    with MockOpenAIServer() as a, MockOpenAIServer() as b:
        yield a, b


def member(server: MockOpenAIServer, model: Any, retry: RetryPolicy = FAST) -> OpenAIProvider:
    return OpenAIProvider(model, api_key="test", base_url=server.base_url, retry=retry)


def chain(a: MockOpenAIServer, b: MockOpenAIServer, timeout: Timeout = SHORT, **kw: Any) -> FallbackProvider:
    kw.setdefault("max_retry_after", 1.0)
    return FallbackProvider([member(a, "gpt-5-nano", kw.pop("primary_retry", FAST)), member(b, "gpt-5-mini")],
                            timeout=timeout, **kw)


def row(fault: str, got: str, a: Timed, b: Timed, elapsed: float) -> None:
    ROWS.append((fault, got, f"{a.count} / {b.count}", elapsed))


@pytest.fixture(scope="module", autouse=True)
def fault_table():
    yield
    path = os.environ.get("FALLBACK_FAULT_TABLE")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write("| fault | caller got | requests primary / fallback | time (s) |\n|---|---|---|---|\n")
            for fault, got, counts, elapsed in ROWS:
                f.write(f"| {fault} | {got} | {counts} | {elapsed:.2f} |\n")


def timed_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def stream_events(llm: FallbackProvider, prompt: str = "hi") -> tuple[list[Any], Any]:
    with llm.stream(prompt) as s:
        events = list(s)
        return events, s.result()


# -- 429 / 5xx ------------------------------------------------------------------------------------
@pytest.mark.parametrize("retry_after", ["0.2", None], ids=["retry-after", "no-retry-after"])
def test_429_once_is_retried_on_the_primary(servers, retry_after):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add_error(429, headers={"retry-after": retry_after} if retry_after else None, code="rate_limit_exceeded")
    with chain(a, b) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
    assert (r.provider, r.model, r.attempts) == ("openai", "gpt-5-nano", ())
    assert (ta.count, tb.count) == (2, 0)
    assert ta.gaps()[0] >= (0.19 if retry_after else 0.045)  # the hint (or the backoff) was honoured
    row(f"429 once, {'retry-after 0.2 s' if retry_after else 'no retry-after'}", "primary's answer", ta, tb, dt)


@pytest.mark.parametrize("retry_after", ["0.2", None], ids=["retry-after", "no-retry-after"])
def test_429_persistent_moves_on_after_the_primarys_retry_budget(servers, retry_after):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    for _ in range(2):
        a.add_error(429, headers={"retry-after": retry_after} if retry_after else None, code="rate_limit_exceeded")
    with chain(a, b) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
    assert (r.provider, r.model) == ("openai", "gpt-5-mini")
    assert [(x.model, x.status_code, x.error_type) for x in r.attempts] == [("gpt-5-nano", 429, "RateLimitError")]
    assert (ta.count, tb.count) == (2, 1)
    assert ta.gaps()[0] >= (0.19 if retry_after else 0.045)
    assert tb.times[0] >= ta.times[-1]
    row(f"429 persistent, {'retry-after 0.2 s' if retry_after else 'no retry-after'}",
        "fallback's answer, 1 failed attempt listed", ta, tb, dt)


def test_429_with_retry_after_above_the_cap_moves_on_at_once(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add_error(429, headers={"retry-after": "30"}, code="rate_limit_exceeded")
    with chain(a, b, max_retry_after=1.0) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
    assert r.model == "gpt-5-mini" and (ta.count, tb.count) == (1, 1)
    assert dt < 1.0  # never slept the 30 s
    row("429 retry-after 30 s > cap 1 s", "fallback's answer at once", ta, tb, dt)


def test_500_once_is_retried_on_the_primary(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add_error(500)
    with chain(a, b) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
    assert r.model == "gpt-5-nano" and r.attempts == () and (ta.count, tb.count) == (2, 0)
    assert ta.gaps()[0] >= 0.045
    row("500 once", "primary's answer", ta, tb, dt)


def test_503_persistent_is_served_by_the_fallback(servers):
    a, b = servers
    ta = Timed(a, lambda req: error_response(503, "overloaded", type="server_error"))
    tb = Timed(b)
    with chain(a, b) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
        assert r.model == "gpt-5-mini" and [x.status_code for x in r.attempts] == [503]
        assert (ta.count, tb.count) == (2, 1) and ta.gaps()[0] >= 0.045
        row("503 persistent", "fallback's answer", ta, tb, dt)
        with pytest.raises(BadRequestError):  # a 400 from the fallback is not hidden
            b.add_error(400, message="bad parameter")
            llm.complete("hi")


# -- connection faults ---------------------------------------------------------------------------
def test_reset_before_headers_moves_on(servers):
    a, b = servers
    ta, tb = Timed(a, lambda req: None), Timed(b)  # the handler cuts the connection
    with chain(a, b) as llm:
        r, dt = timed_call(lambda: llm.complete("hi"))
    assert r.model == "gpt-5-mini" and r.attempts[0].error_type == "APIConnectionError"
    assert (ta.count, tb.count) == (2, 1)
    row("connection reset before headers", "fallback's answer", ta, tb, dt)


def test_a_silent_server_is_given_up_after_the_first_byte_timeout(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="too late", latency=1.5))
    b.add_text("fallback answer")
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    assert result.content == "fallback answer" and result.model == "gpt-5-mini"
    assert not [e for e in events if e.type is E.META and e.data.get("event") == "fallback"]  # invisible
    assert [x.error_type for x in result.attempts] == ["APITimeoutError"]
    assert (ta.count, tb.count) == (1, 1)  # a silent first byte is not retried on the same server
    assert dt < 0.9  # first_byte 0.3 s, far below read=3 s and the 1.5 s silence
    row("silent server (stream, no headers)", "fallback's answer, no fallback META", ta, tb, dt)


def test_a_slow_first_token_is_answered_not_failed_over(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="worth the wait", first_delay=0.6))
    with chain(a, b, timeout=Timeout(connect=1.0, read=3.0, stream_idle=1.0, first_byte=0.3, total=5.0)) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    assert result.content == "worth the wait" and result.model == "gpt-5-nano" and result.attempts == ()
    assert (ta.count, tb.count) == (1, 0) and dt >= 0.6
    row("slow first token (headers at once, 0.6 s to the first event)", "primary's answer", ta, tb, dt)


# -- broken streams ---------------------------------------------------------------------------------
def fallback_notices(events: list[Any]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type is E.META and e.data.get("event") == "fallback"]


def split_at_notice(events: list[Any]) -> tuple[str, str]:
    """(text that reached the caller before the fallback notice, text after it)."""
    parts: tuple[list[str], list[str]] = ([], [])
    side = 0
    for e in events:
        if e.type is E.META and e.data.get("event") == "fallback":
            side = 1
        elif e.type is E.TOKEN:
            parts[side].append(e.data)
    return "".join(parts[0]), "".join(parts[1])


def test_a_stream_cut_mid_answer_restarts_on_the_fallback(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="alpha beta gamma delta", drop_after=3))
    b.add_text("the whole answer")
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    [notice] = fallback_notices(events)
    sent, after = split_at_notice(events)
    assert sent == "alpha beta " and notice["discard"] == len(sent)
    assert (notice["from"], notice["to"]) == ("openai:gpt-5-nano", "openai:gpt-5-mini")
    assert "StreamError" in notice["reason"]
    assert after == "the whole answer" == result.content
    assert events[-1].type is E.DONE and events[-1].data is result and result.model == "gpt-5-mini"
    assert (ta.count, tb.count) == (1, 1)
    assert tb.bodies[0]["messages"] == ta.bodies[0]["messages"]  # no assistant prefill
    row("stream cut mid-answer", "2 tokens, META fallback (discard 11), fallback's whole answer", ta, tb, dt)


def test_a_stalled_stream_fails_over_after_the_idle_timeout(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="one two three four", stall_after=2, stall=1.5))
    b.add_text("fresh answer")
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    [notice] = fallback_notices(events)
    assert notice["discard"] == len("one ") and "idle" in notice["reason"]
    assert result.content == "fresh answer" and (ta.count, tb.count) == (1, 1)
    assert 0.3 <= dt < 1.2
    row("stalled stream (1.5 s silence mid-answer)", "META fallback, fallback's answer", ta, tb, dt)


def test_a_malformed_chunk_fails_over(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(RawReply(stream=True, body=b'data: {"id":"x","object":"chat.completion.chunk","model":"gpt-5-nano",'
                                     b'"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\ndata: {not json\n\n'))
    b.add_text("Hello, properly")
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    [notice] = fallback_notices(events)
    assert notice["discard"] == 3 and "malformed" in notice["reason"]
    assert result.content == "Hello, properly" and (ta.count, tb.count) == (1, 1)
    row("malformed chunk", "META fallback, fallback's answer", ta, tb, dt)


def test_a_stream_without_done_is_a_success(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="finished anyway", omit_done=True))
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    assert result.content == "finished anyway" and result.model == "gpt-5-nano" and not fallback_notices(events)
    assert (ta.count, tb.count) == (1, 0)
    row("stream without [DONE] (every choice finished)", "primary's answer", ta, tb, dt)


def test_a_cut_answer_with_no_provider_left_is_an_error_never_a_success(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="alpha beta gamma", drop_after=2))
    b.add(TextReply(text="one two three", drop_after=2))
    with chain(a, b) as llm:
        s = llm.stream("hi")
        events = []
        with pytest.raises(StreamError) as info:
            for ev in s:
                events.append(ev)
    assert events[-1].type is E.ERROR and not [e for e in events if e.type is E.DONE]
    assert info.value.partial is not None and info.value.partial.content == "one "
    assert [x.model for x in info.value.attempts] == ["gpt-5-nano", "gpt-5-mini"]
    assert (ta.count, tb.count) == (1, 1)


def test_a_fallback_that_rejects_prefill_is_never_sent_one(servers):
    a, b = servers

    def no_prefill(req: Any) -> Any:
        if req.json["messages"][-1]["role"] == "assistant":
            return error_response(400, "assistant prefill is not supported")
        return b._chat(req)

    ta, tb = Timed(a), Timed(b, no_prefill)
    a.add(TextReply(text="partial partial partial", drop_after=3))
    b.add_text("complete")
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm, "write"))
    assert result.content == "complete" and len(fallback_notices(events)) == 1
    assert tb.bodies[0]["messages"] == [{"role": "user", "content": "write"}]
    row("fallback rejects assistant prefill", "fallback's answer (no prefill sent)", ta, tb, dt)


# -- errors that are not the provider's health ------------------------------------------------------
SMALL = ModelProfile("small-8k", "small-8k", "chat", 8_192, 2_048, 0.1, 0.01, 0.4)
SMALL_TOO = ModelProfile("small-8k-b", "small-8k-b", "chat", 8_192, 2_048, 0.1, 0.01, 0.4)


def test_context_length_exceeded_routes_to_a_larger_window():
    with MockOpenAIServer() as a, MockOpenAIServer() as c, MockOpenAIServer() as b:
        ta, tc, tb = Timed(a), Timed(c), Timed(b)
        a.add_error(400, code="context_length_exceeded",
                    message="This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.")
        llm = FallbackProvider([member(a, SMALL), member(c, SMALL_TOO), member(b, "gpt-5-mini")], timeout=SHORT)
        r, dt = timed_call(lambda: llm.complete("a long prompt"))
        assert r.model == "gpt-5-mini" and [x.status_code for x in r.attempts] == [400]
        assert (ta.count, tc.count, tb.count) == (1, 0, 1)  # same-size window skipped, no retry of a 400
        assert llm.breakers[0].failures == 0  # not a health failure
        ROWS.append(("400 context_length_exceeded (8k -> 8k -> 400k)", "the 400k model's answer, 8k twin skipped",
                     "1 / 0 / 1", dt))
        llm.close()


def test_context_length_exceeded_with_no_larger_window_fails_at_once(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add_error(400, code="context_length_exceeded", message="maximum context length is 400000 tokens")
    llm = FallbackProvider([member(a, "gpt-5-mini"), member(b, SMALL)], timeout=SHORT)
    with pytest.raises(BadRequestError) as info:
        llm.complete("huge")
    assert info.value.code == "context_length_exceeded" and (ta.count, tb.count) == (1, 0)
    llm.close()


def test_a_content_filter_400_reaches_the_caller_with_its_reason(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    reason = "The response was filtered due to the prompt triggering content management policy."
    a.add_error(400, code="content_filter", message=reason)
    t0 = time.monotonic()
    with chain(a, b) as llm:
        with pytest.raises(BadRequestError) as info:
            llm.complete("something")
    dt = time.monotonic() - t0
    assert info.value.code == "content_filter" and reason in str(info.value)
    assert [x.status_code for x in info.value.attempts] == [400]
    assert (ta.count, tb.count) == (1, 0)
    row("400 content_filter", "BadRequestError with the filter's reason", ta, tb, dt)


# -- breaker over 20 calls ------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_primary_down_for_a_while_then_back(servers):
    a, b = servers
    state = {"down": True}

    def primary(req: Any) -> Any:
        if state["down"]:
            return error_response(503, "down for maintenance", type="server_error")
        return a._chat(req)

    ta, tb = Timed(a, primary), Timed(b)
    clock = FakeClock()
    llm = chain(a, b, failure_threshold=2, cooldown=3.0, clock=clock, primary_retry=RetryPolicy(max_retries=0),
                timeout=Timeout(connect=1.0, read=3.0, stream_idle=0.3, first_byte=0.3))
    served, primary_hits = [], []
    t0 = time.monotonic()
    for call in range(1, 21):
        clock.now = float(call)  # one second between calls
        before = ta.count
        served.append(llm.complete(f"call {call}").model)
        if ta.count > before:
            primary_hits.append(call)
        if call == 8:
            state["down"] = False
    dt = time.monotonic() - t0
    # failures at 1 and 2 open the breaker; probes after each 3 s cool-down: 5 and 8 fail, 11 succeeds
    assert primary_hits == [1, 2, 5, 8] + list(range(11, 21))
    assert served == ["gpt-5-mini"] * 10 + ["gpt-5-nano"] * 10
    assert (ta.count, tb.count) == (14, 10)
    ROWS.append(("primary down for calls 1-8, then healthy (20 calls, breaker 2 failures / 3 s)",
                 "calls 1-10 by the fallback, 11-20 by the primary", f"{ta.count} / {tb.count}", dt))
    llm.close()


# -- one deadline, accounting, Agent, aio, BatchRunner ---------------------------------------------------
def test_one_deadline_bounds_the_whole_chain(servers):
    a, b = servers
    ta = Timed(a, lambda req: error_response(503, "busy", type="server_error", headers={"retry-after": "0.5"}))
    tb = Timed(b)
    b.add(TextReply(text="never in time", latency=2.0))
    llm = chain(a, b, timeout=Timeout(connect=1.0, read=3.0, stream_idle=0.3, first_byte=0.3, total=0.8),
                primary_retry=RetryPolicy(max_retries=3, base=0.05, jitter=0.0))
    t0 = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        llm.complete("hi")
    dt = time.monotonic() - t0
    assert dt < 1.3
    assert [x.model for x in info.value.attempts] == ["gpt-5-nano", "gpt-5-mini"]
    assert ta.count == 2 and ta.gaps()[0] >= 0.45 and tb.count == 1
    row("one deadline total=0.8 s (primary 503 retry-after 0.5, fallback silent)",
        "APITimeoutError listing both attempts", ta, tb, dt)
    llm.close()


def test_accounting_of_a_fail_over(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add(TextReply(text="lost words here", drop_after=3))
    b.add(TextReply(text="kept answer", usage={"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}))
    with chain(a, b) as llm:
        (events, result), dt = timed_call(lambda: stream_events(llm))
    mini = get_profile("gpt-5-mini")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (100, 20)
    assert result.cost == pytest.approx(mini.cost(100, 20, 0))
    assert [(x.provider, x.model, x.error_type) for x in result.attempts] == [("openai", "gpt-5-nano", "StreamError")]
    assert result.attempts[0].elapsed >= 0
    usage_events = [e.data for e in events if e.type is E.USAGE]
    assert [u.total_tokens for u in usage_events] == [120]  # the failed attempt reported none
    row("accounting of a fail-over", "usage/cost of the fallback only; 1 attempt listed", ta, tb, dt)


@tool
def lookup(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


def test_agent_turns_fail_over_and_totals_use_the_answering_providers(servers):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    a.add_error(503)
    a.add_error(503)
    b.add_tool_calls([("lookup", {"city": "Oslo"})],
                     usage={"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60})
    a.add(TextReply(text="It is sunny in Oslo.",
                    usage={"prompt_tokens": 80, "completion_tokens": 8, "total_tokens": 88}))
    with chain(a, b) as llm:
        result = Agent(llm, tools=[lookup]).run("Weather in Oslo?")
    assert result.status == "completed" and result.content == "It is sunny in Oslo."
    first, second = result.completions
    assert (first.model, len(first.attempts), second.model, second.attempts) == ("gpt-5-mini", 1, "gpt-5-nano", ())
    assert result.usage.total_tokens == 148
    assert result.cost == pytest.approx(get_profile("gpt-5-mini").cost(50, 10) + get_profile("gpt-5-nano").cost(80, 8))
    assert (ta.count, tb.count) == (3, 1)


def test_agent_stream_passes_the_fallback_notice_through(servers):
    a, b = servers
    a.add(TextReply(text="half an answer", drop_after=3))
    b.add_text("a whole answer")
    with chain(a, b) as llm:
        events = list(Agent(llm).stream("hi"))
    notices = fallback_notices(events)
    assert len(notices) == 1 and notices[0]["discard"] == len("half an ")
    assert events[-1].data.content == "a whole answer"


def test_aio_and_batch_runner_use_the_chain(servers):
    a, b = servers
    a.add_error(503)
    a.add_error(503)
    with chain(a, b) as llm:
        async def go() -> Any:
            aio = AsyncOpenAIProvider(provider=llm)
            return await aio.complete("hi")

        r = asyncio.run(go())
        assert r.model == "gpt-5-mini" and len(r.attempts) == 1
        results = BatchRunner(llm, max_workers=4).run([f"item {i}" for i in range(6)])
        assert [x.result.model for x in results] == ["gpt-5-nano"] * 6


def test_with_a_cache_and_a_limiter(servers, tmp_path):
    a, b = servers
    ta, tb = Timed(a), Timed(b)
    for _ in range(2):
        a.add_error(503)
    primary = OpenAIProvider("gpt-5-nano", api_key="t", base_url=a.base_url, retry=FAST, rate_limit={"rpm": 1000})
    backup = OpenAIProvider("gpt-5-mini", api_key="t", base_url=b.base_url, cache_backend="fs",
                            cache_dir=str(tmp_path))
    with FallbackProvider([primary, backup], timeout=SHORT) as llm:
        first = llm.complete("cache me")
        assert first.model == "gpt-5-mini" and not first.cached
        for _ in range(2):
            a.add_error(503)
        again = llm.complete("cache me")
        assert again.cached and again.content == first.content
    assert (ta.count, tb.count) == (4, 1)
    assert primary.limiter is not None  # each member keeps its own limiter (and cache)


def test_one_chain_shared_by_many_threads(servers):
    a, b = servers
    ta = Timed(a, lambda req: error_response(503, "down", type="server_error"))
    tb = Timed(b)
    llm = chain(a, b, failure_threshold=3, cooldown=60.0, primary_retry=RetryPolicy(max_retries=0))
    results: list[Any] = []
    lock = threading.Lock()
    go = threading.Barrier(16)

    def worker(i: int) -> None:
        go.wait()
        for j in range(4):
            r = llm.complete(f"t{i} c{j}")
            with lock:
                results.append(r.model)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == ["gpt-5-mini"] * 64 and tb.count == 64
    # once 3 failures opened the breaker, only calls already past it reached the primary
    assert 3 <= ta.count <= 3 + 16
    assert llm.breakers[0].state.value == "open"
    llm.close()
