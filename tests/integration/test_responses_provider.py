"""OpenAIProvider(api="responses") against the local server over real sockets."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from support import shared_dir, shared_path

from llm_client_sync.agent import Agent
from llm_client_sync.errors import AuthenticationError, BadRequestError, StreamError
from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.testing._replies import TextReply
from llm_client_sync.tools import tool
from llm_client_sync.types import CompletionResult, StreamEventType as E

pytestmark = pytest.mark.timeout(60)
WIRE = shared_dir() / "openai-wire" / "exchanges"

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


@pytest.fixture
def server():
    with MockOpenAIServer() as srv:
        yield srv


@pytest.fixture
def provider(server):
    p = OpenAIProvider(model="gpt-5-nano", api_key="t", base_url=server.base_url, api="responses")
    yield p
    p.close()


def bodies(server):
    return [r.json for r in server.requests if r.path.endswith("/responses")]


def test_complete_text(server, provider):
    server.add_text("Hello there!")
    r = provider.complete("Hi", system="Be nice.", max_completion_tokens=50, reasoning_effort="low")
    assert r.content == "Hello there!" and r.finish_reason == "stop" and r.usage.total_tokens > 0
    assert r.response_id.startswith("resp_mock") and r.request_id.startswith("req_mock")
    body = bodies(server)[0]
    assert body["instructions"] == "Be nice." and body["max_output_tokens"] == 50
    assert body["reasoning"] == {"effort": "low"} and body["input"] == [{"role": "user", "content": "Hi"}]
    assert not any(r.path.endswith("/chat/completions") for r in server.requests)


def test_stream_text_with_reasoning_summary(server, provider):
    server.add(TextReply(text="one two three", reasoning="thinking hard"))
    with provider.stream("count") as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[0] is E.META and kinds[-1] is E.DONE
    assert "".join(e.data for e in events if e.type is E.TOKEN) == "one two three"
    assert "".join(e.data for e in events if e.type is E.REASONING) == "thinking hard"
    r = stream.result()
    assert r.content == "one two three" and r.reasoning == "thinking hard" and r.usage.total_tokens > 0
    assert bodies(server)[0]["stream"] is True


def test_stream_incomplete_keeps_text(server, provider):
    server.add(TextReply(text="cut short here", finish_reason="length"))
    r = provider.stream("go").result()
    assert r.finish_reason == "length" and r.content == "cut short here"


def test_stream_in_band_error_raises_with_partial(server, provider):
    server.add(TextReply(text="a b c d e f", error_after=5))
    stream = provider.stream("go")
    with pytest.raises(StreamError) as info:
        stream.result()
    assert info.value.partial.content and "a b c d e f".startswith(info.value.partial.content)


def test_tool_call_round_trip_passes_reasoning_back(server, provider):
    first = provider.complete("What is the weather in Tokyo?", tools=[WEATHER])
    assert first.finish_reason == "tool_calls"
    assert [(t.name, dict(t.arguments)) for t in first.tool_calls] == [("get_weather", {"city": "Tokyo"})]
    assert [i["type"] for i in first.output_items] == ["reasoning", "function_call"]
    assert bodies(server)[0]["tools"][0]["name"] == "get_weather"  # flat Responses tool
    call = first.tool_calls[0]
    history = [{"role": "user", "content": "What is the weather in Tokyo?"},
               {**first.to_message(), "output_items": first.output_items},
               {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = provider.complete(history, tools=[WEATHER])
    assert second.content == "Here is what I found: get_weather returned sunny."
    items = bodies(server)[1]["input"]
    assert [i.get("type", "message") for i in items] == ["message", "reasoning", "function_call", "function_call_output"]


def test_function_call_without_its_reasoning_item_is_refused(server, provider):
    # proves the server enforces what the real API does, so the test above can fail
    first = provider.complete("What is the weather in Tokyo?", tools=[WEATHER])
    fc = [dict(i) for i in first.output_items if i["type"] == "function_call"]
    history = [{"role": "user", "content": "weather in Tokyo"},
               {"role": "assistant", "content": None, "output_items": fc},
               {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "sunny"}]
    with pytest.raises(BadRequestError, match="reasoning"):
        provider.complete(history, tools=[WEATHER])


def test_stream_parallel_tool_calls(server, provider):
    server.add_tool_calls([("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Lima"})])
    with provider.stream("weather?", tools=[WEATHER]) as stream:
        events = list(stream)
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert [dict(t.arguments) for t in ends] == [{"city": "Oslo"}, {"city": "Lima"}]
    r = stream.result()
    assert r.finish_reason == "tool_calls" and len(r.tool_calls) == 2
    assert [i["type"] for i in r.output_items] == ["reasoning", "function_call", "function_call"]


def test_agent_runs_parallel_function_calls(server, provider):
    barrier = threading.Barrier(2, timeout=10)

    @tool
    def left() -> str:
        """Left half."""
        barrier.wait()  # returns only while the other tool runs at the same time
        return "L"

    @tool
    def right() -> str:
        """Right half."""
        barrier.wait()
        return "R"

    server.add_tool_calls([("left", {}), ("right", {})])
    server.add_text("both done")
    result = Agent(provider, tools=[left, right]).run("go")
    assert result.status == "completed" and result.content == "both done"
    assert [(r.name, r.content, r.is_error) for r in result.tool_results] == [("left", "L", False), ("right", "R", False)]
    second = bodies(server)[1]["input"]
    calls = [i for i in second if i.get("type") == "function_call"]
    outputs = [i for i in second if i.get("type") == "function_call_output"]
    assert [c["name"] for c in calls] == ["left", "right"]
    assert sorted(o["call_id"] for o in outputs) == sorted(c["call_id"] for c in calls)
    assert sorted(o["output"] for o in outputs) == ["L", "R"]


def test_agent_passes_reasoning_items_back_when_messages_carry_them(server, provider, monkeypatch):
    # the to_message() the lead is asked to adopt: output_items ride on the assistant message
    original = CompletionResult.to_message

    def to_message(self):
        msg = original(self)
        if self.output_items:
            msg["output_items"] = [dict(i) for i in self.output_items]
        return msg

    monkeypatch.setattr(CompletionResult, "to_message", to_message)

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return key.upper()

    server.add_tool_calls([("lookup", {"key": "a"}), ("lookup", {"key": "b"})])
    server.add_tool_calls([("lookup", {"key": "c"})])
    server.add_text("ABC")
    result = Agent(provider, tools=[lookup], system_message="Be brief.").run("go")
    assert (result.status, result.content, result.num_turns) == ("completed", "ABC", 3)
    last = bodies(server)[2]
    assert last["instructions"] == "Be brief."
    kinds = [i.get("type", "message") for i in last["input"]]
    assert kinds == ["message", "reasoning", "function_call", "function_call", "function_call_output",
                     "function_call_output", "reasoning", "function_call", "function_call_output"]
    # the function calls went back with their ids, so the server checked their reasoning items
    assert all(i.get("id", "").startswith("fc_mock") for i in last["input"] if i.get("type") == "function_call")


@dataclasses.dataclass
class Weather:
    city: str
    temp_c: int


def test_structured_output_via_text_format(server, provider):
    r = provider.complete("weather in Oslo", response_format=Weather)
    fmt = bodies(server)[0]["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "Weather" and fmt["strict"] is True
    assert isinstance(r.parsed, Weather) and r.parsed.temp_c == 1


@pytest.mark.parametrize("name,cls", [
    ("error_400_context_length_exceeded_responses__ruby_llm", BadRequestError),
    ("error_400_model_not_found_responses__dd-trace-py", BadRequestError),
    ("error_401_invalid_api_key_responses__dd-trace-py", AuthenticationError),
])
def test_recorded_error_bodies_raise_typed_errors(server, provider, name, cls):
    d = json.loads(shared_path("openai-wire", "exchanges", f"{name}.json").read_text())
    server.add_error(d["status"], body=d["response_body"])
    with pytest.raises(cls) as info:
        provider.complete("hi")
    assert d["response_body"]["error"]["message"][:30] in str(info.value)
