"""GeminiProvider against MockGeminiServer over real sockets (127.0.0.1 only).

The server issues a thoughtSignature with every function-call turn and refuses (400) a follow-up
whose model turn lost it, like Gemini 3, so the Agent tests prove the round trip.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from llm_client_sync.agent import Agent
from llm_client_sync.errors import BadRequestError, PermissionDeniedError, RateLimitError, StreamError
from llm_client_sync.providers.gemini import GeminiProvider
from llm_client_sync.testing import MockGeminiServer, RawReply
from llm_client_sync.tools import tool
from llm_client_sync.types import StreamEventType

pytestmark = pytest.mark.timeout(60)
E = StreamEventType


@pytest.fixture
def server():
    with MockGeminiServer() as srv:
        yield srv


@pytest.fixture
def gemini(server):
    p = GeminiProvider("gemini-2.5-flash", api_key="AIza-test-secret", base_url=server.base_url, sleep=lambda s: None)
    yield p
    p.close()


def generate_bodies(server) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if "enerateContent" in r.path]


def _tools(barrier: threading.Barrier):
    @tool
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        barrier.wait()
        return {"city": city, "temp_c": 18}

    @tool
    def get_time(city: str) -> str:
        """Local time in a city."""
        barrier.wait()
        return "09:30"

    return [get_weather, get_time]


@pytest.mark.parametrize("streaming", [False, True])
def test_agent_runs_parallel_tools_and_sends_the_thought_signature_back(server, gemini, streaming):
    barrier = threading.Barrier(2, timeout=10)
    server.add_tool_calls([("get_weather", {"city": "Lima"}), ("get_time", {"city": "Lima"})])
    server.add_text("Lima: 18°C at 09:30.")
    agent = Agent(gemini, tools=_tools(barrier))
    if streaming:
        with agent.stream("Weather and time in Lima?", thinking_budget=1024) as events:
            list(events)
        result = events.result()
    else:
        result = agent.run("Weather and time in Lima?", thinking_budget=1024)
    assert result.status == "completed" and result.content == "Lima: 18°C at 09:30."
    assert [(r.name, r.is_error) for r in result.tool_results] == [("get_weather", False), ("get_time", False)]
    first, second = generate_bodies(server)
    assert first["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    issued = result.completions[0].output_items[0]["parts"]
    model_turn = second["contents"][1]
    assert model_turn["role"] == "model" and model_turn["parts"] == [dict(p) for p in issued]
    assert model_turn["parts"][1]["functionCall"]["name"] == "get_weather"
    assert model_turn["parts"][1]["thoughtSignature"]  # the first call part carries it
    answers = [p["functionResponse"]["name"] for p in second["contents"][2]["parts"]]
    assert answers == ["get_weather", "get_time"]
    assert len({c.id for c in result.all_tool_calls}) == 2


def test_a_lost_signature_is_refused_like_gemini_3(server, gemini):
    server.add_tool_calls([("get_time", {"city": "Rome"})])
    tools = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    first = gemini.complete("Time in Rome?", tools=tools)
    msg = first.to_message()
    del msg["output_items"]
    follow = [{"role": "user", "content": "Time in Rome?"}, msg,
              {"role": "tool", "tool_call_id": first.tool_calls[0].id, "content": "10:00"}]
    with pytest.raises(BadRequestError, match="thought_signature"):
        gemini.complete(follow, tools=tools)
    follow[1] = first.to_message()
    assert gemini.complete(follow, tools=tools).content.startswith("Here is what I found: get_time returned 10:00")


def test_key_goes_in_the_header_never_the_url(server, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google-env")
    with GeminiProvider("gemini-2.5-flash", base_url=server.base_url) as p:
        assert p.complete("Hi").content == "You said: Hi"
        with p.stream("Hi") as stream:
            assert stream.result().content == "You said: Hi"
        assert "AIza-google-env" not in repr(p) + str(p.to_config())
    for rec in server.requests:
        headers = {k.lower(): v for k, v in rec.headers.items()}
        assert headers["x-goog-api-key"] == "AIza-google-env" and "authorization" not in headers
        assert "key" not in rec.query and "AIza" not in rec.path
    assert server.requests[-1].query == {"alt": ["sse"]}
    monkeypatch.delenv("GOOGLE_API_KEY")
    with GeminiProvider("gemini-2.5-flash", base_url=server.base_url, max_retries=0) as p:
        with pytest.raises(PermissionDeniedError) as info:
            p.complete("Hi")
    assert info.value.type == "PERMISSION_DENIED"


def test_resource_exhausted_is_retried_then_reported(server):
    sleeps: list[float] = []
    server.add_error(429, message="Resource has been exhausted (e.g. check quota).", retry_delay="2s")
    server.add_text("after the quota wait")
    with GeminiProvider("gemini-2.5-flash", api_key="k", base_url=server.base_url, max_retries=1,
                        sleep=sleeps.append) as p:
        assert p.complete("Hi").content == "after the quota wait"
        assert sleeps == [2.0]  # the RetryInfo retryDelay of the error body
        server.add_error(429, message="Resource has been exhausted (e.g. check quota).")
        server.add_error(429, message="Resource has been exhausted (e.g. check quota).")
        with pytest.raises(RateLimitError) as info:
            p.complete("Hi")
    assert info.value.type == "RESOURCE_EXHAUSTED" and "exhausted" in str(info.value)


def test_400_json_body_on_an_sse_stream_is_raised_at_open(server, gemini):
    body = b'{\n  "error": {\n    "code": 400,\n    "message": "API key not valid. Please pass a valid API key.",\n' \
           b'    "status": "INVALID_ARGUMENT"\n  }\n}\n'
    server.add(RawReply(body=body, status=400, content_type="text/event-stream"))
    with pytest.raises(BadRequestError, match="API key not valid") as info:
        gemini.stream("Hi")
    assert info.value.type == "INVALID_ARGUMENT"


def test_stream_error_chunk_after_text_raises_with_the_partial(server, gemini):
    server.add_text("alpha beta gamma delta", error_after=2)
    with gemini.stream("Hi") as stream:
        with pytest.raises(StreamError) as info:
            for _ in stream:
                pass
    assert info.value.partial.content == "alpha beta " and "UNAVAILABLE" in str(info.value)


def test_stream_split_writes_and_usage(server, gemini):
    server.add_text("one two three four", split_writes=3)
    with gemini.stream("Hi") as stream:
        events = list(stream)
    result = stream.result()
    assert "".join(e.data for e in events if e.type is E.TOKEN) == result.content == "one two three four"
    assert [e.type for e in events][-2:] == [E.USAGE, E.DONE] and result.usage.completion_tokens > 0


def test_embeddings_batch_by_100_and_keep_order(server, gemini):
    texts = [f"text number {i}" for i in range(150)]
    result = gemini.embed(texts, dimensions=6, task_type="RETRIEVAL_DOCUMENT")
    assert len(result.vectors) == 150 and all(len(v) == 6 for v in result.vectors)
    assert result.vectors[120] == gemini.embed("text number 120", dimensions=6).vectors[0]
    calls = [r for r in server.requests if r.path.endswith(":batchEmbedContents")]
    assert [len(r.json["requests"]) for r in calls] == [100, 50, 1]
    assert calls[0].json["requests"][0] == {"model": "models/gemini-embedding-001", "taskType": "RETRIEVAL_DOCUMENT",
                                            "content": {"parts": [{"text": "text number 0"}]},
                                            "outputDimensionality": 6}


def test_count_tokens_and_structured_output(server, gemini):
    assert gemini.count_tokens("Count me") > 0
    assert server.requests[-1].path == "/v1beta/models/gemini-2.5-flash:countTokens"
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    result = gemini.complete("Capital of Peru?", response_format=schema)
    assert result.parsed == {"city": "Peru"}
    assert generate_bodies(server)[-1]["generationConfig"]["responseJsonSchema"] == schema


def test_stream_error_chunk_before_any_output_is_reopened(server, gemini):
    server.add_text("lost", error_after=0)  # the first chunk is a 503 UNAVAILABLE error object
    server.add_text("second try works")
    with gemini.stream("Hi") as stream:
        text = "".join(e.data for e in stream if e.type is E.TOKEN)
    assert text == "second try works" and len(generate_bodies(server)) == 2


# -- an Agent over recorded exchanges (the server replays the recorded bodies) ---------------------
def _recorded(name: str) -> dict[str, Any]:
    import json

    from support import shared_path

    return json.loads(shared_path("provider-wire", "gemini", f"{name}.json").read_text(encoding="utf-8"))


def test_agent_over_the_recorded_parallel_function_call_exchange(server, gemini):
    import json

    first = _recorded("generateContent_parallel_function_calls__ruby_llm")
    second = _recorded("generateContent_parallel_function_responses__ruby_llm")
    for rec in (first, second):
        server.add(RawReply(body=json.dumps(rec["response_body"]).encode()))

    @tool
    def weather(latitude: str, longitude: str) -> str:
        """Gets current weather for a location."""
        return f"Current weather at {latitude}, {longitude}: 15°C, Wind: 10 km/h"

    @tool
    def best_language_to_learn() -> str:
        """Gets the best language to learn."""
        return "Ruby"

    result = Agent(gemini, tools=[weather, best_language_to_learn]).run(
        "What's the weather in Berlin (52.5200, 13.4050) and what's the best language to learn?")
    assert result.content == second["response_body"]["candidates"][0]["content"]["parts"][0]["text"]
    sent = generate_bodies(server)[1]["contents"]
    recorded = second["request_body"]["contents"]
    assert sent[1]["parts"] == first["response_body"]["candidates"][0]["content"]["parts"]  # signature as received
    assert sent[1]["parts"][0]["thoughtSignature"] == recorded[1]["parts"][0]["thoughtSignature"]
    assert [p["functionResponse"]["name"] for p in sent[2]["parts"]] == \
        [p["functionResponse"]["name"] for p in recorded[2]["parts"]] == ["weather", "best_language_to_learn"]
