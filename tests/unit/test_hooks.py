"""observe.hooks: the event API, context tags, parents, broken hooks, and the no-subscriber fast path."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from llm_client_sync import OpenAIProvider
from llm_client_sync.errors import APIConnectionError, ConfigurationError
from llm_client_sync.observe import hooks
from llm_client_sync.observe.hooks import EventType, scope, subscribe
from llm_client_sync.transport import TransportResponse


def _chat_body(text: str = "hi there", prompt: int = 10, completion: int = 4) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5-nano-2025-08-07",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}


class FakeTransport:
    """Answers every request with the next scripted body (or raises it); counts requests."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.sent: list[dict] = []
        self.retry = type("R", (), {"max_retries": 0})()
        self.observers: list = []

    def request(self, method: str, path: str, json: object = None, **kw: object) -> TransportResponse:
        self.sent.append(json)  # type: ignore[arg-type]
        reply = self.replies.pop(0) if self.replies else _chat_body()
        if isinstance(reply, BaseException):
            raise reply
        import json as _json

        return TransportResponse(200, {"x-request-id": f"req_{len(self.sent)}"}, _json.dumps(reply).encode(),
                                 f"req_{len(self.sent)}")

    def close(self) -> None:
        pass


def _provider(*replies: object, **kw: object) -> tuple[OpenAIProvider, FakeTransport]:
    p = OpenAIProvider("gpt-5-nano", api_key="sk-unit-test", base_url="http://127.0.0.1:9/v1", **kw)
    p.transport = FakeTransport(*replies)  # type: ignore[assignment]
    return p, p.transport  # type: ignore[return-value]


@pytest.fixture
def events():
    seen: list = []
    unsubscribe = subscribe(seen.append)
    yield seen
    unsubscribe()
    assert not hooks.active


def test_request_start_and_end_carry_model_usage_cost_request_id_and_timing(events):
    p, _ = _provider()
    result = p.complete("Hi")
    types = [e.type for e in events]
    assert types == [EventType.REQUEST_START, EventType.REQUEST_END]
    start, end = events
    assert start.call is end.call and start.operation == "chat" and start.provider == "openai"
    assert start.model == "gpt-5-nano" and start.data["server"] == "http://127.0.0.1:9/v1"
    assert end.response_model == "gpt-5-nano-2025-08-07"
    assert end.usage == result.usage and end.usage.prompt_tokens == 10
    assert end.cost == result.cost == pytest.approx((10 * 0.05 + 4 * 0.40) / 1e6)
    assert end.request_id == "req_1" and end.error is None
    assert end.duration is not None and end.duration >= 0
    assert end.data["finish_reason"] == "stop" and end.data["response_id"] == "chatcmpl-1"


def test_failed_call_ends_with_the_error(events):
    p, _ = _provider(APIConnectionError("connection failed (ConnectionError): refused"))
    with pytest.raises(APIConnectionError):
        p.complete("Hi")
    end = events[-1]
    assert end.type == EventType.REQUEST_END and isinstance(end.error, APIConnectionError) and end.usage is None


def test_event_filter_and_unsubscribe():
    seen: list = []
    unsubscribe = subscribe(seen.append, events={EventType.REQUEST_END})
    p, _ = _provider()
    p.complete("Hi")
    unsubscribe()
    p.complete("Hi")
    assert [e.type for e in seen] == [EventType.REQUEST_END]
    with pytest.raises(ConfigurationError):
        subscribe(seen.append, events={"no_such_event"})


def test_context_merges_provider_scope_and_call_tags(events):
    p, sent = _provider(context={"tenant": "acme", "user": "p"})
    with scope(context={"run_id": "r1", "user": "scope"}):
        p.complete("Hi", context={"user": "u7"})
    assert dict(events[-1].context) == {"tenant": "acme", "user": "u7", "run_id": "r1"}
    assert "context" not in sent.sent[0]  # the tags never reach the request body


def test_per_call_context_is_dropped_when_nobody_listens():
    p, sent = _provider()
    assert not hooks.active
    p.complete("Hi", context={"user": "u1"})
    assert "context" not in sent.sent[0]


def test_provider_hooks_hear_only_their_provider_and_scope_hooks_only_the_block():
    mine: list = []
    block: list = []
    p1, _ = _provider(hooks=[mine.append])
    p2, _ = _provider()
    p2.complete("other")
    p1.complete("mine")
    with scope(hooks=[block.append]):
        p2.complete("in block")
    p2.complete("after block")
    assert [e.call.data["prompt"] for e in mine if e.type == "request_end"] == ["mine"]
    assert [e.call.data["prompt"] for e in block if e.type == "request_end"] == ["in block"]
    del p1
    import gc

    gc.collect()
    assert not hooks.active  # a provider's hooks stop counting when it is gone


def test_a_broken_hook_is_logged_and_never_breaks_the_call(caplog):
    def broken(event):
        raise RuntimeError("boom")

    unsubscribe = subscribe(broken)
    try:
        p, _ = _provider()
        with caplog.at_level(logging.WARNING, logger="llm_client_sync.observe"):
            assert p.complete("Hi").content == "hi there"
    finally:
        unsubscribe()
    assert any("failed on request_start" in r.getMessage() for r in caplog.records)
    assert any("failed on request_end" in r.getMessage() for r in caplog.records)


def test_no_event_is_built_when_nothing_is_subscribed(monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("an event was built with no subscriber")

    monkeypatch.setattr(hooks, "start", forbidden)
    monkeypatch.setattr(hooks, "_dispatch", forbidden)
    p, _ = _provider()
    assert not hooks.active
    assert p.complete("Hi").content == "hi there"


def test_nested_calls_get_their_parent_and_threads_copy_the_scope(events):
    import contextvars

    outer = hooks.start("invoke_agent", "outer")
    p, _ = _provider()
    with hooks.within(outer), scope(context={"job": "j1"}):
        ctx = contextvars.copy_context()
    t = threading.Thread(target=ctx.run, args=(p.complete, "from a thread"))
    t.start()
    t.join()
    outer.end()
    end = [e for e in events if e.type == "request_end"][0]
    assert end.call.parent is outer and end.context["job"] == "j1"
    assert events[-1].type == EventType.AGENT_END and events[-1].call is outer


def test_retry_limiter_and_first_chunk_emit_events_of_the_current_call(events):
    call = hooks.start("chat", "m")
    with hooks.within(call):
        hooks.emit(EventType.RETRY, data={"attempt": 1, "status": 429})
        hooks.emit(EventType.LIMITER_WAIT, duration=0.25)
    call.end()
    kinds = [(e.type, e.call) for e in events]
    assert kinds == [("request_start", call), ("retry", call), ("limiter_wait", call), ("request_end", call)]
    assert events[-1].data["attempts"] == 2


def test_limiter_wait_event_from_a_rate_limited_provider(events):
    from llm_client_sync import RateLimit

    p, _ = _provider(rate_limit=RateLimit(rpm=1000, tpm=1_000_000))
    p.complete("Hi")
    waits = [e for e in events if e.type == EventType.LIMITER_WAIT]
    assert len(waits) == 1 and waits[0].duration >= 0 and waits[0].call is events[0].call


def test_events_are_json_friendly_enough_for_a_log_hook(events):
    p, _ = _provider()
    p.complete("Hi", context={"user": "u1"})
    end = events[-1]
    line = json.dumps({"type": end.type, "model": end.model, "usage": end.usage.to_dict(), "cost": end.cost,
                       "context": dict(end.context), "duration": end.duration})
    assert '"user": "u1"' in line


def test_without_subscribers_a_call_runs_only_the_flag_checks_of_observe():
    """Deterministic form of "costs nothing": the Python functions of observe/ that one
    unobserved call runs (timings: benchmarks/bench_observe.py)."""
    import sys

    p, _ = _provider()
    p.complete("Hi")  # warm caches
    ran: list[str] = []

    def profiler(frame, event, arg):
        if event == "call" and "/observe/" in frame.f_code.co_filename:
            ran.append(frame.f_code.co_name)

    sys.setprofile(profiler)
    try:
        p.complete("Hi")
    finally:
        sys.setprofile(None)
    # the decorator's `if not active`, and the budget check's look at the scope
    assert sorted(ran) == ["reserve", "scoped_budgets", "wrapper"]


def test_cache_miss_then_hit_events_and_the_hit_is_marked_cached(events, tmp_path):
    p, sent = _provider(cache="fs", cache_dir=str(tmp_path))
    p.complete("Hi")
    p.complete("Hi")
    assert len(sent.sent) == 1
    kinds = [e.type for e in events]
    assert kinds == ["request_start", "cache_miss", "request_end", "request_start", "cache_hit", "request_end"]
    assert events[2].data.get("cached") is not True and events[5].data["cached"] is True


def test_an_agent_runs_context_reaches_its_model_calls_and_tools(events):
    from llm_client_sync import Agent, tool

    @tool
    def ping(host: str) -> str:
        """Ping a host."""
        return "pong"

    calls = {"id": "c", "object": "chat.completion", "model": "gpt-5-nano", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "ping", "arguments": '{"host": "a"}'}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    p, _ = _provider(calls, _chat_body("done"), context={"tenant": "acme"})
    result = Agent(p, tools=[ping], name="pinger").run("ping a", context={"run_id": "r9"})
    assert result.status == "completed"
    ends = [e for e in events if e.type.endswith("_end")]
    assert [e.type for e in ends] == ["request_end", "tool_end", "request_end", "agent_end"]
    for e in ends:
        assert e.context["run_id"] == "r9" and e.context["tenant"] == "acme"
    agent_call = ends[-1].call
    assert all(e.call.parent is agent_call for e in ends[:-1])
    assert ends[1].name == "ping" and ends[1].data["content"] == "pong" and ends[-1].data["status"] == "completed"
    assert [e.data["turn"] for e in events if e.type == "agent_turn"] == [1, 2]


def test_provider_names_follow_the_semantic_conventions():
    from llm_client_sync import AnthropicProvider, FallbackProvider, GeminiProvider

    a = AnthropicProvider(api_key="k", base_url="http://127.0.0.1:9")
    g = GeminiProvider(api_key="k", base_url="http://127.0.0.1:9")
    o, _ = _provider()
    assert [hooks.provider_name(x) for x in (o, a, g)] == ["openai", "anthropic", "gcp.gemini"]
    assert hooks.provider_name(FallbackProvider([o, a])) == "fallback"
    budget_kw = {"context": {"tenant": "t"}, "budget": None}
    assert AnthropicProvider(api_key="k", base_url="http://127.0.0.1:9", **budget_kw).observe_context == {"tenant": "t"}
