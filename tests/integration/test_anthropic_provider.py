"""AnthropicProvider against MockAnthropicServer over real sockets (127.0.0.1 only).

The server checks thinking signatures like the real API (a tool_use turn sent back without its
thinking block, or with a changed signature, is a 400), so the Agent tests prove the round trip.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest

import llm_client_sync
from llm_client_sync.agent import Agent
from llm_client_sync.errors import AuthenticationError, BadRequestError, InternalServerError, RateLimitError, StreamError
from llm_client_sync.providers.anthropic import AnthropicProvider
from llm_client_sync.providers.fallback import FallbackProvider
from llm_client_sync.providers.gemini import GeminiProvider
from llm_client_sync.ratelimit import RateLimit
from llm_client_sync.testing import MockAnthropicServer, MockGeminiServer, MockOpenAIServer, StreamShape
from llm_client_sync.testing._anthropic import anthropic_error
from llm_client_sync.tools import tool
from llm_client_sync.types import StreamEventType

pytestmark = pytest.mark.timeout(60)
E = StreamEventType
FAST = {"retry-after-ms": "5"}


@pytest.fixture
def server():
    with MockAnthropicServer(thinking=True) as srv:
        yield srv


@pytest.fixture
def claude(server):
    p = AnthropicProvider("claude-haiku-4-5", api_key="sk-ant-test-secret", base_url=server.base_url)
    yield p
    p.close()


def bodies(server) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path == "/v1/messages"]


def _tools(barrier: threading.Barrier):
    @tool
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        barrier.wait()
        return {"city": city, "temp_c": 21}

    @tool
    def get_time(city: str) -> str:
        """Local time in a city."""
        barrier.wait()
        return "14:05"

    @tool
    def get_population(city: str) -> int:
        """Population of a city."""
        barrier.wait()
        return 2_100_000

    return [get_weather, get_time, get_population]


@pytest.mark.parametrize("streaming", [False, True])
def test_agent_runs_three_parallel_tools_and_sends_thinking_back_unchanged(server, claude, streaming):
    barrier = threading.Barrier(3, timeout=10)  # the three tools only return if they run at the same time
    server.add_tool_calls([("get_weather", {"city": "Paris"}), ("get_time", {"city": "Paris"}),
                           ("get_population", {"city": "Paris"})], content="Let me look that up.")
    server.add_text("Paris: 21°C, 14:05, 2.1M people.")
    agent = Agent(claude, tools=_tools(barrier))
    if streaming:
        with agent.stream("Weather, time and population of Paris?", thinking_budget=2048) as events:
            tokens = "".join(e.data for e in events if e.type is E.TOKEN)
        result = events.result()
        assert "Paris: 21°C" in tokens
    else:
        result = agent.run("Weather, time and population of Paris?", thinking_budget=2048)
    assert result.status == "completed" and result.content == "Paris: 21°C, 14:05, 2.1M people."
    assert [r.name for r in result.tool_results] == ["get_weather", "get_time", "get_population"]
    first, second = bodies(server)
    assert first["thinking"] == {"type": "enabled", "budget_tokens": 2048} and first["max_tokens"] > 2048
    sent_back = second["messages"][1]["content"]
    issued = result.completions[0].output_items[0]["content"]
    assert sent_back == [dict(b) for b in issued] or sent_back == issued
    assert [b["type"] for b in sent_back] == ["thinking", "text", "tool_use", "tool_use", "tool_use"]
    assert [b["tool_use_id"] for b in second["messages"][2]["content"]] == [b["id"] for b in sent_back[2:]]
    assert result.completions[0].reasoning and result.completions[1].provider == "anthropic"


def test_a_changed_signature_is_refused_like_the_real_api(server, claude):
    server.add_tool_calls([("get_time", {"city": "Oslo"})])
    first = claude.complete("Time in Oslo?", thinking_budget=1024,
                            tools=[{"type": "function", "function": {"name": "get_time", "parameters": {}}}])
    msg = first.to_message()
    msg["output_items"][0]["content"][0]["signature"] = "tampered"
    follow = [{"role": "user", "content": "Time in Oslo?"}, msg,
              {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "09:00"}]
    with pytest.raises(BadRequestError, match="signature"):
        claude.complete(follow, thinking_budget=1024)
    del msg["output_items"]  # the plain chat message loses the thinking block: refused too
    with pytest.raises(BadRequestError, match="thinking"):
        claude.complete(follow, thinking_budget=1024)


def test_auth_headers_and_the_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    with AnthropicProvider("claude-sonnet-4-5", base_url=server.base_url) as p:
        assert p.complete("Hi").content == "You said: Hi"
        assert "sk-ant-from-env" not in repr(p) + repr(p.transport) + str(p.to_config())
    headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
    assert headers["x-api-key"] == "sk-ant-from-env" and headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with AnthropicProvider("claude-sonnet-4-5", base_url=server.base_url, max_retries=0) as p:
        with pytest.raises(AuthenticationError, match="x-api-key"):
            p.complete("Hi")


def test_result_usage_cost_and_request_id(server, claude):
    server.add_text("cached answer", usage={"input_tokens": 10, "cache_creation_input_tokens": 200,
                                            "cache_read_input_tokens": 1000, "output_tokens": 5})
    result = claude.complete("Hi")
    assert (result.usage.prompt_tokens, result.usage.cached_tokens, result.usage.cache_write_tokens) == (1210, 1000, 200)
    profile = claude.profile
    expected = (10 * profile.input_price + 1000 * profile.cached_input_price + 200 * profile.cache_write_price
                + 5 * profile.output_price) / 1e6
    assert result.cost == pytest.approx(expected)
    assert result.request_id and result.request_id.startswith("req_mock") and result.provider == "anthropic"


def test_overloaded_529_is_retried(server):
    sleeps: list[float] = []
    server.add_error(529, headers=FAST)
    server.add_text("after the overload")
    with AnthropicProvider("claude-haiku-4-5", api_key="k", base_url=server.base_url, max_retries=2,
                           sleep=sleeps.append) as p:
        assert p.complete("Hi").content == "after the overload"
    assert len(bodies(server)) == 2 and sleeps == [0.005]


def test_overloaded_529_when_retries_run_out_carries_type_and_request_id(server):
    server.add_error(529, message="Overloaded", type="overloaded_error")
    with AnthropicProvider("claude-haiku-4-5", api_key="k", base_url=server.base_url, max_retries=0) as p:
        with pytest.raises(InternalServerError) as info:
            p.complete("Hi")
    err = info.value
    assert err.status_code == 529 and err.type == "overloaded_error" and "Overloaded" in str(err)
    assert err.request_id and err.request_id.startswith("req_mock")


def test_429_retry_after_and_ratelimit_headers_reach_the_limiter(server):
    headers = {"retry-after": "7", "anthropic-ratelimit-requests-limit": "50",
               "anthropic-ratelimit-requests-remaining": "0",
               "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:07Z"}
    server.add_error(429, headers=headers, message="Your account has hit a rate limit.")
    with AnthropicProvider("claude-haiku-4-5", api_key="k", base_url=server.base_url, max_retries=0,
                           rate_limit=RateLimit(rpm=1000, tpm=None)) as p:
        with pytest.raises(RateLimitError) as info:
            p.complete("Hi")
        snap = p.limiter.snapshot()
    assert info.value.type == "rate_limit_error" and info.value.headers["retry-after"] == "7"
    assert snap["paused_for"] == pytest.approx(7.0, abs=1.0) and snap["requests"]["limit"] == 50


def test_stream_error_event_before_any_output_is_reopened(server, claude):
    server.add_text("lost", error_after=0)  # the very first event is `event: error` overloaded_error
    server.add_text("second try works")
    with claude.stream("Hi") as stream:
        text = "".join(e.data for e in stream if e.type is E.TOKEN)
    assert text == "second try works" and len(bodies(server)) == 2


def test_stream_error_event_after_text_raises_with_the_partial(server, claude):
    server.thinking = False
    server.add_text("one two three four five", error_after=5)
    with claude.stream("Hi") as stream:
        seen = []
        with pytest.raises(StreamError) as info:
            for e in stream:
                seen.append(e)
    assert seen[-1].type is E.ERROR and "overloaded_error" in str(info.value)
    assert info.value.partial.content and "one two three four five".startswith(info.value.partial.content)


def test_401_on_a_stream_request_raises_before_reading_events(server, claude):
    server.add(__import__("llm_client_sync.testing", fromlist=["ErrorReply"]).ErrorReply(
        status=401, body=anthropic_error(401, "invalid x-api-key", request_id="req_body_id").body))
    with pytest.raises(AuthenticationError) as info:
        claude.stream("Hi")
    assert info.value.request_id == "req_body_id"


def test_structured_output_fills_a_dataclass(server, claude):
    @dataclasses.dataclass
    class Answer:
        city: str
        rating: int

    result = claude.complete("Rate Paris", response_format=Answer)
    assert isinstance(result.parsed, Answer) and result.parsed.rating == 1
    body = bodies(server)[-1]
    assert body["output_format"]["schema"]["required"] == ["city", "rating"]
    assert server.requests[-1].headers.get("anthropic-beta") == "structured-outputs-2025-11-13"


def test_images_system_stop_and_tool_choice_reach_the_wire(server, claude):
    claude.complete([{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                  {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                                                  {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]}],
                    stop=["END"], temperature=0.3, max_tokens=50, parallel_tool_calls=False, tool_choice="required",
                    tools=[{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}])
    body = bodies(server)[-1]
    assert body["system"] == "Be brief." and body["stop_sequences"] == ["END"] and body["max_tokens"] == 50
    assert body["temperature"] == 0.3 and body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    blocks = body["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}}


def test_count_tokens_uses_the_endpoint_then_falls_back_offline(server, claude):
    exact = claude.count_tokens("How many tokens is this?")
    assert exact > 0 and server.requests[-1].path == "/v1/messages/count_tokens"
    server.route("POST", "/v1/messages/count_tokens", lambda req: anthropic_error(404, "not here"))
    offline = AnthropicProvider("claude-haiku-4-5", api_key="k", base_url=server.base_url, max_retries=0)
    assert offline.count_tokens("A different text to count") > 0


def test_fallback_chain_moves_from_anthropic_to_gemini_to_openai(server):
    with MockGeminiServer() as gsrv, MockOpenAIServer() as osrv:
        server.add_error(529, message="Overloaded", type="overloaded_error")
        gsrv.add_error(429, message="Resource has been exhausted")
        osrv.add_text("openai answered")
        chain = FallbackProvider([
            AnthropicProvider("claude-haiku-4-5", api_key="k", base_url=server.base_url, max_retries=0),
            GeminiProvider("gemini-2.5-flash", api_key="k", base_url=gsrv.base_url, max_retries=0),
            llm_client_sync.OpenAIProvider(model="gpt-5-nano", api_key="k", base_url=osrv.base_url, max_retries=0)],
            max_retry_after=0)
        result = chain.complete("Hi")
        assert result.content == "openai answered" and result.provider == "openai"
        assert [a.provider for a in result.attempts] == ["anthropic", "gemini"]
        gsrv.add_text("gemini answered")
        server.add_error(529, message="Overloaded", type="overloaded_error")
        with chain.stream("Hi again") as stream:
            text = "".join(e.data for e in stream if e.type is E.TOKEN)
        assert text == "gemini answered" and stream.result().provider == "gemini"
        chain.close()


def test_providers_load_lazily():
    import subprocess
    import sys

    code = ("import sys, llm_client_sync; "
            "print(any(m.startswith(('llm_client_sync.providers.anthropic', 'llm_client_sync.providers.gemini', "
            "'llm_client_sync.providers._anthropic_wire', 'llm_client_sync.providers._gemini_wire')) "
            "for m in sys.modules)); llm_client_sync.AnthropicProvider; llm_client_sync.GeminiProvider; "
            "print('llm_client_sync.providers.gemini' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "LLM_CLIENT_SYNC_NO_DOTENV": "1"})
    assert out.stdout.split() == ["False", "True"], out.stderr


# -- an Agent over recorded exchanges (the server replays the recorded bodies byte for byte) ------
def _recorded(name: str) -> dict[str, Any]:
    import json

    from support import shared_path

    return json.loads(shared_path("provider-wire", "anthropic", f"{name}.json").read_text(encoding="utf-8"))


@tool
def weather(latitude: str, longitude: str) -> str:
    """Gets current weather for a location."""
    return f"Current weather at {latitude}, {longitude}: 15°C, Wind: 10 km/h"


def test_agent_over_the_recorded_tool_use_exchange(server, claude):
    from llm_client_sync.testing import RawReply

    server.thinking = False
    first, second = _recorded("messages_tool_use__ruby_llm"), _recorded("messages_tool_result_followup__ruby_llm")
    for rec in (first, second):
        server.add(RawReply(body=rec["response_body_raw"].encode() if rec.get("response_body_raw")
                            else __import__("json").dumps(rec["response_body"]).encode()))
    result = Agent(claude, tools=[weather]).run("What's the weather in Berlin? (52.5200, 13.4050)")
    assert result.content == second["response_body"]["content"][0]["text"]
    sent = bodies(server)[1]["messages"]
    recorded = second["request_body"]["messages"]
    assert sent[1] == recorded[1]  # the assistant tool_use turn, as the recording sent it
    assert sent[2]["content"][0]["tool_use_id"] == recorded[2]["content"][0]["tool_use_id"]
    assert sent[2]["content"][0]["content"] == recorded[2]["content"][0]["content"][0]["text"]
    assert result.usage.prompt_tokens == 633 + 748


def test_agent_streams_over_the_recorded_parallel_tool_use_exchange(server, claude):
    from llm_client_sync.testing import RawReply

    server.thinking = False
    first = _recorded("messages_stream_parallel_tool_use__simonw-llm-anthropic")
    second = _recorded("messages_stream_parallel_tool_results_followup__simonw-llm-anthropic")
    server.add(RawReply(body=first["response_body"].encode(), stream=True))
    server.add(RawReply(body=second["response_body"].encode(), stream=True))
    names = iter(["Charles", "Sammy"])
    lock = threading.Lock()

    @tool
    def pelican_name_generator() -> str:
        """Generate a name for a pelican."""
        with lock:
            return next(names)

    with Agent(claude, tools=[pelican_name_generator]).stream("Two names for a pet pelican") as events:
        text = "".join(e.data for e in events if e.type is E.TOKEN)
    result = events.result()
    assert text.startswith("Here are two great names") and result.content == text
    sent = bodies(server)[1]["messages"]
    ids = [b["id"] for b in sent[1]["content"] if b["type"] == "tool_use"]
    assert ids == ["toolu_01LtHJmixrs9NcWQkK8hu8hj", "toolu_01N8a4jWyf116qKTMqKKmjyt"]
    assert [(b["tool_use_id"], b["content"]) for b in sent[2]["content"]] == list(zip(ids, ["Charles", "Sammy"]))


def test_config_round_trip_rebuilds_both_providers_without_their_keys(server):
    import json

    with MockGeminiServer() as gsrv:
        for cls, srv, key in ((AnthropicProvider, server, "sk-ant-secret-1"), (GeminiProvider, gsrv, "AIza-secret-2")):
            with cls(api_key=key, base_url=srv.base_url, default_params={"max_tokens": 64}) as p:
                config = p.to_config()
            assert key not in json.dumps(config)
            with cls.from_config(json.loads(json.dumps(config)), api_key=key) as again:
                assert again.complete("Hi").content == "You said: Hi" and again.model == p.model
