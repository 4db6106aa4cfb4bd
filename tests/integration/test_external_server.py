"""OpenAIProvider against an OpenAI-compatible server that others wrote: LLMock (PyPI ``llmock``).

``.ci/external_server.sh`` installs it in its own venv, starts it on 127.0.0.1 and exports
``EXTERNAL_OPENAI_BASE_URL`` (``http://127.0.0.1:<port>/v1``); without that variable these tests
skip (fail under CI). LLMock is scripted over HTTP (``/_llmock/scenario``: replies, tool calls,
HTTP errors with Retry-After, dropped/truncated/corrupted streams), logs every attempt
(``/_llmock/requests``) and grades the client's retry behaviour (``/_llmock/verdict``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
import requests
from support import require_service

from llm_client_sync.agent import Agent
from llm_client_sync.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    StreamError,
)
from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.tools import tool
from llm_client_sync.transport import RetryPolicy
from llm_client_sync.types import StreamEventType as E

pytestmark = pytest.mark.timeout(60)

MODEL = "gpt-4o-mini"
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
TWO_CALLS = {"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}},
                                             {"name": "get_weather", "arguments": {"city": "Rome"}}]}
FAST = RetryPolicy(max_retries=2, base=0.02, cap=0.1)


class LLMock:
    """The admin API of the running LLMock server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = base_url.rstrip("/").removesuffix("/v1")
        self.http = requests.Session()

    def reset(self) -> None:
        self.http.post(f"{self.admin}/_llmock/reset", timeout=10).raise_for_status()

    def script(self, *behaviors: dict[str, Any]) -> None:
        self.http.post(f"{self.admin}/_llmock/scenario", json={"behaviors": list(behaviors)},
                       timeout=10).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.admin}/_llmock/requests", timeout=10).json()["requests"]

    def verdict(self) -> dict[str, Any]:
        return self.http.get(f"{self.admin}/_llmock/verdict", timeout=10).json()


@pytest.fixture(scope="module")
def llmock():
    url = os.environ.get("EXTERNAL_OPENAI_BASE_URL")
    if not url:
        require_service("EXTERNAL_OPENAI_BASE_URL not set (start LLMock with .ci/external_server.sh)")
    mock = LLMock(url)
    try:
        health = mock.http.get(f"{mock.admin}/health", timeout=5).json()
    except (requests.RequestException, ValueError) as exc:
        require_service(f"no LLMock at {url}: {exc}")
    assert health["status"] == "ok"
    yield mock
    mock.http.close()


@pytest.fixture
def mock(llmock):
    llmock.reset()
    yield llmock
    llmock.reset()


@pytest.fixture(params=["chat", "responses"])
def provider(request, llmock):
    p = OpenAIProvider(model=MODEL, api_key="test", base_url=llmock.base_url, api=request.param, retry=FAST)
    yield p
    p.close()


def test_complete_default_answer(mock, provider):
    r = provider.complete("Hello there")
    assert r.content and r.finish_reason == "stop" and r.model == MODEL
    assert r.usage.completion_tokens > 0 and r.tool_calls == ()
    [req] = mock.requests()
    assert req["path"] == ("/v1/chat/completions" if provider.api == "chat" else "/v1/responses")
    assert req["status"] == 200 and req["stream"] is False


def test_stream_scripted_text(mock, provider):
    mock.script({"type": "reply", "text": "One small step for a mock."})
    with provider.stream("go") as stream:
        events = list(stream)
    assert "".join(e.data for e in events if e.type is E.TOKEN) == "One small step for a mock."
    assert events[-1].type is E.DONE
    r = stream.result()
    assert r.content == "One small step for a mock." and r.finish_reason == "stop" and r.usage.total_tokens > 0
    assert mock.requests()[0]["stream"] is True and mock.requests()[0]["completed"] is True


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_parallel_tool_calls(mock, provider, streamed):
    mock.script(TWO_CALLS)
    r = provider.stream("weather?", tools=[WEATHER]).result() if streamed else provider.complete("weather?",
                                                                                                  tools=[WEATHER])
    assert r.finish_reason == "tool_calls"
    assert [(t.name, dict(t.arguments)) for t in r.tool_calls] == [("get_weather", {"city": "Paris"}),
                                                                   ("get_weather", {"city": "Rome"})]
    assert all(t.id for t in r.tool_calls) and len({t.id for t in r.tool_calls}) == 2
    body = mock.requests()[0]["body"]
    assert [t.get("name") or t["function"]["name"] for t in body["tools"]] == ["get_weather"]


def test_agent_runs_parallel_tool_calls_then_answers(mock, provider):
    # after the scripted calls, LLMock answers in text once the tool results come back
    mock.script(TWO_CALLS)
    barrier = threading.Barrier(2, timeout=10)
    seen: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        barrier.wait()  # returns only while the other call runs at the same time
        seen.append(city)
        return f"21C in {city}"

    result = Agent(provider, tools=[get_weather]).run("What's the weather in Paris and Rome?")
    assert result.status == "completed" and result.content
    assert sorted(seen) == ["Paris", "Rome"]
    assert [(r.name, r.is_error) for r in result.tool_results] == [("get_weather", False)] * 2
    last = mock.requests()[-1]["body"]
    sent_back = [m for m in last.get("messages") or last.get("input") or []
                 if m.get("role") == "tool" or m.get("type") == "function_call_output"]
    assert len(sent_back) == 2


def test_agent_with_llmock_choosing_the_tool_itself(mock, provider):
    # nothing scripted: LLMock's tool mode "auto" calls the offered tool with arguments generated
    # from its JSON schema, then answers in text
    @tool
    def lookup_order(order_id: str, include_items: bool = False) -> str:
        """Look up an order by its id."""
        return f"order {order_id}: shipped"

    result = Agent(provider, tools=[lookup_order]).run("Where is my order?")
    assert result.status == "completed" and result.content
    [call] = result.tool_results
    assert call.name == "lookup_order" and not call.is_error and call.content.endswith(": shipped")
    assert len(mock.requests()) == 2


@pytest.mark.parametrize("status,error", [(400, BadRequestError), (401, AuthenticationError)])
def test_client_errors_are_typed_and_not_retried(mock, provider, status, error):
    mock.script({"type": "fail", "status": status, "message": "scripted failure", "times": 3})
    with pytest.raises(error) as info:
        provider.complete("hi")
    assert info.value.status_code == status and "scripted failure" in str(info.value)
    assert len(mock.requests()) == 1


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
def test_rate_limit_retried_after_retry_after(mock, provider, streamed):
    mock.script({"type": "fail", "status": 429, "retry_after": 0.2, "times": 2},
                {"type": "reply", "text": "made it"})
    r = provider.stream("hi").result() if streamed else provider.complete("hi")
    assert r.content == "made it"
    attempts = mock.requests()
    assert [a["status"] for a in attempts] == [429, 429, 200]
    # each retry starts at least Retry-After after the failed attempt started (our own backoff,
    # FAST, would retry within 0.1 s)
    gaps = [b["started_at"] - a["started_at"] for a, b in zip(attempts, attempts[1:])]
    assert all(g >= 0.2 for g in gaps), gaps
    verdict = mock.verdict()  # LLMock grades the client: no retry storm, Retry-After respected
    assert verdict["passed"] and verdict["findings"] == [], verdict


def test_outage_exhausts_retries(mock, provider):
    mock.script({"type": "fail", "status": 500, "times": None})  # (its 503 asks for Retry-After: 1)
    with pytest.raises(InternalServerError) as info:
        provider.complete("hi")
    assert info.value.status_code == 500
    assert [a["status"] for a in mock.requests()] == [500] * (FAST.max_retries + 1)


def test_rate_limit_without_retries_raises(llmock, mock):
    p = OpenAIProvider(model=MODEL, api_key="test", base_url=llmock.base_url, max_retries=0)
    try:
        mock.script({"type": "fail", "status": 429, "retry_after": 1})
        with pytest.raises(RateLimitError):
            p.complete("hi")
    finally:
        p.close()
    assert len(mock.requests()) == 1


@pytest.mark.parametrize("kind", ["disconnect", "truncate", "malformed"])
def test_broken_stream_is_a_stream_error_with_the_partial(mock, provider, kind):
    # LLMock's stream faults: the connection drops, the body ends cleanly but early (no finish
    # reason, no [DONE]), or a chunk is not JSON. None may pass for a finished answer.
    # after the first deltas: chat sends a role chunk first, Responses four lifecycle events
    after = 4 if provider.api == "chat" else 7
    mock.script({"type": "reply", "text": "one two three four five six seven eight"},
                {"type": "stream_fault", "kind": kind, "after_chunks": after})
    with pytest.raises(StreamError) as info:
        provider.stream("go").result()
    partial = info.value.partial
    assert partial is not None and partial.content
    assert "one two three four five six seven eight".startswith(partial.content)
    assert partial.content != "one two three four five six seven eight"
    [req] = mock.requests()
    assert req["fault"].startswith(f"stream:{kind}")


# -- opt-in: llama.cpp's llama-server ------------------------------------------------------------
# Not started by CI (it needs a llama.cpp build and a GGUF model). Start one yourself, e.g.
# `llama-server -m tiny.gguf --port 8080`, then LLAMA_SERVER=http://127.0.0.1:8080/v1 pytest ...
@pytest.fixture(scope="module")
def llama_provider():
    url = os.environ.get("LLAMA_SERVER")
    if not url:
        pytest.skip("opt-in: set LLAMA_SERVER to a running llama-server's /v1 URL")
    p = OpenAIProvider(model=os.environ.get("LLAMA_SERVER_MODEL", "local-gguf"), api_key="none", base_url=url)
    yield p
    p.close()


def test_llama_server_complete_and_stream(llama_provider):
    r = llama_provider.complete("Say hello.", max_tokens=16)
    assert isinstance(r.content, str) and r.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens > 0
    with llama_provider.stream("Say hello.", max_tokens=16) as stream:
        tokens = [e.data for e in stream if e.type is E.TOKEN]
    s = stream.result()
    assert "".join(tokens) == (s.content or "") and s.finish_reason in ("stop", "length")
