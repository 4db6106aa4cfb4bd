"""Responses API protocol against recorded exchanges and the official OpenAPI spec."""

from __future__ import annotations

import json

import jsonschema
import pytest

from support import require_service, shared_dir, shared_path

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.errors import ConfigurationError, LLMClientError, StreamError
from llm_client_sync.models import get_profile
from llm_client_sync.providers._responses import ResponsesProtocol
from llm_client_sync.types import StreamEventType as E

yaml = pytest.importorskip("yaml")

WIRE = shared_dir() / "openai-wire"
EXCHANGES = sorted((WIRE / "exchanges").glob("responses_*.json"))
SPEC = WIRE / "openapi" / "openapi.yaml"
P = ResponsesProtocol()
PROFILE = get_profile("gpt-5-nano")


def load(name: str) -> dict:
    return json.loads(shared_path("openai-wire", "exchanges", f"{name}.json").read_text())


def replay(body: str, split: int | None = None):
    """SSE text -> (events, accumulator), fed in pieces of ``split`` bytes."""
    acc = P.accumulator(PROFILE, "req_1")
    dec = SSEDecoder()
    raw = body.encode()
    step = split or len(raw)
    events = []
    for i in range(0, len(raw), step):
        for sse in dec.feed(raw[i:i + step]):
            events.extend(acc.feed(sse))
    return events, acc


def final_response(body: str) -> dict:
    for sse in SSEDecoder().feed(body.encode()):
        ev = json.loads(sse.data)
        if ev.get("type") in ("response.completed", "response.incomplete"):
            return ev["response"]
    raise AssertionError("no final event")


@pytest.fixture(scope="module")
def spec():
    if not SPEC.exists():
        require_service(f"official OpenAPI spec not found at {SPEC}")
    with SPEC.open() as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="module")
def create_response(spec):
    schema = {"$ref": "#/components/schemas/CreateResponse", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_there_are_recorded_exchanges():
    if not WIRE.is_dir():
        require_service(f"recorded exchanges not found in {WIRE}")
    assert len(EXCHANGES) >= 10


@pytest.mark.parametrize("path", [p for p in EXCHANGES if not json.loads(p.read_text())["stream"]], ids=lambda p: p.stem)
def test_non_stream_exchange_parses(path):
    d = json.loads(path.read_text())
    data = d["response_body"]
    r = P.parse(data, PROFILE, "req_x")
    texts = [c["text"] for it in data["output"] if it["type"] == "message" for c in it["content"]]
    calls = [it for it in data["output"] if it["type"] == "function_call"]
    assert r.content == ("".join(texts) if texts else None)
    assert [(t.id, t.name, t.raw_arguments) for t in r.tool_calls] == [(c["call_id"], c["name"], c["arguments"]) for c in calls]
    assert all(not t.arguments_error for t in r.tool_calls)
    assert r.usage.prompt_tokens == data["usage"]["input_tokens"]
    assert r.usage.completion_tokens == data["usage"]["output_tokens"]
    assert r.usage.reasoning_tokens == data["usage"]["output_tokens_details"]["reasoning_tokens"]
    assert r.usage.cached_tokens == data["usage"]["input_tokens_details"]["cached_tokens"]
    assert r.finish_reason == ("tool_calls" if calls else "stop")
    assert r.response_id == data["id"] and r.model == data["model"] and r.request_id == "req_x"
    assert [i["type"] for i in r.output_items] == [it["type"] for it in data["output"] if it["type"] != "message"]


def test_cached_tokens_and_cost():
    r = P.parse(load("responses_cached_tokens__dd-trace-py")["response_body"], PROFILE, None)
    assert r.usage.cached_tokens == 1390 and r.content == "2, 3, 4"
    assert r.cost == pytest.approx(PROFILE.cost(1515, 8, 1390))


def test_parallel_function_calls_keep_reasoning_item_for_the_next_turn():
    r = P.parse(load("responses_reasoning_parallel_function_calls__simonw-llm")["response_body"], PROFILE, None)
    assert len(r.tool_calls) == 5 and r.content is None
    assert r.output_items[0]["type"] == "reasoning" and r.output_items[0]["encrypted_content"].startswith("gAAAA")


@pytest.mark.parametrize("split", [None, 7])
@pytest.mark.parametrize("path", [p for p in EXCHANGES if json.loads(p.read_text())["stream"]], ids=lambda p: p.stem)
def test_stream_exchange_matches_its_final_response(path, split):
    body = json.loads(path.read_text())["response_body"]
    events, acc = replay(body, split)
    assert acc.finished
    streamed = acc.result()
    final = P.parse(final_response(body), PROFILE, "req_1")
    assert events[0].type is E.META and events[0].data["id"] == final.response_id
    assert streamed.content == final.content
    assert "".join(e.data for e in events if e.type is E.TOKEN) == (final.content or "")
    assert [(t.id, t.name, dict(t.arguments)) for t in streamed.tool_calls] == \
           [(t.id, t.name, dict(t.arguments)) for t in final.tool_calls]
    assert streamed.usage == final.usage
    assert [e.data for e in events if e.type is E.USAGE] == [final.usage]
    assert streamed.finish_reason == final.finish_reason
    assert [i["type"] for i in streamed.output_items] == [i["type"] for i in final.output_items]
    assert streamed.reasoning == final.reasoning
    assert "".join(e.data for e in events if e.type is E.REASONING) == (final.reasoning or "")
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert [t.id for t in ends] == [t.id for t in final.tool_calls]
    for k, t in enumerate(ends):
        deltas = "".join(e.data["arguments"] for e in events if e.type is E.TOOL_CALL_DELTA and e.data["index"] == k)
        assert deltas == t.raw_arguments


def test_stream_function_call_events():
    events, acc = replay(load("responses_stream_function_call__simonw-llm")["response_body"])
    kinds = [e.type for e in events]
    assert kinds[0] is E.META
    assert kinds.index(E.TOOL_CALL_START) < kinds.index(E.TOOL_CALL_DELTA) < kinds.index(E.TOOL_CALL_END)
    assert kinds[-1] is E.USAGE
    r = acc.result()
    assert r.finish_reason == "tool_calls"
    assert dict(r.tool_calls[0].arguments) == {"a": 1231, "b": 2331}


def test_stream_reasoning_summary_is_reasoning_text():
    events, acc = replay(load("responses_stream_reasoning_summary_o3mini__pydantic-ai")["response_body"])
    r = acc.result()
    assert r.reasoning.startswith("**Providing street crossing instructions**")
    assert r.reasoning.count("\n\n**") >= 3  # four summary parts, kept apart
    assert r.usage.reasoning_tokens == 1408
    first_reasoning = next(i for i, e in enumerate(events) if e.type is E.REASONING)
    first_token = next(i for i, e in enumerate(events) if e.type is E.TOKEN)
    assert first_reasoning < first_token


def test_stream_incomplete_keeps_partial_text_and_reports_length():
    events, acc = replay(load("responses_stream_incomplete_max_output_tokens__dd-trace-py")["response_body"])
    r = acc.result()
    assert acc.finished and r.finish_reason == "length"
    assert r.content.startswith("In the bustling city of Detroit")


def test_stream_truncated_before_final_event_is_not_finished():
    body = load("responses_stream_text__simonw-llm")["response_body"]
    cut = body[: body.index("event: response.completed")]
    _, acc = replay(cut)
    assert not acc.finished and acc.result().content == "pong"


def _partial_then(tail: str) -> str:
    body = load("responses_stream_incomplete_max_output_tokens__dd-trace-py")["response_body"]
    return body[: body.index("event: response.incomplete")] + tail


def test_stream_failed_raises_with_partial():
    tail = ('event: response.failed\ndata: {"type":"response.failed","response":{"id":"resp_1","status":"failed",'
            '"error":{"code":"server_error","message":"boom"},"output":[]}}\n\n')
    with pytest.raises(StreamError, match="boom") as info:
        replay(_partial_then(tail))
    assert info.value.partial.content.startswith("In the bustling city")


def test_stream_error_event_raises_with_partial():
    tail = 'event: error\ndata: {"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null}\n\n'
    with pytest.raises(StreamError, match="slow down") as info:
        replay(_partial_then(tail))
    assert info.value.partial.content.startswith("In the bustling city")


def test_non_stream_failed_response_raises():
    with pytest.raises(LLMClientError, match="boom"):
        P.parse({"id": "r", "status": "failed", "error": {"message": "boom"}, "output": []}, PROFILE, None)


def test_non_stream_incomplete_is_length():
    data = final_response(load("responses_stream_incomplete_max_output_tokens__dd-trace-py")["response_body"])
    r = P.parse(data, PROFILE, None)
    assert r.finish_reason == "length" and r.content.startswith("In the bustling")


# -- request bodies ------------------------------------------------------------------------
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"], "additionalProperties": False},
                                           "strict": True}}]


def test_build_simple_body_is_valid(create_response):
    body = P.build(PROFILE, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], {})
    assert body == {"model": PROFILE.api_id, "instructions": "Be brief.", "input": [{"role": "user", "content": "Hi"}]}
    create_response.validate(body)
    create_response.validate(P.stream_body(body))
    assert P.stream_body(body)["stream"] is True and "stream" not in body


def test_build_maps_chat_params(create_response):
    spec = {"type": "json_schema", "json_schema": {"name": "W", "schema": {"type": "object", "properties": {}}, "strict": True}}
    body = P.build(PROFILE, [{"role": "user", "content": "weather in Tokyo"}], {
        "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": True, "max_completion_tokens": 300, "reasoning_effort": "low",
        "reasoning": {"summary": "auto"}, "response_format": spec, "metadata": {"k": "v"}, "store": False,
        "previous_response_id": "resp_prev", "instructions": "Explicit.", "temperature": None})
    create_response.validate(body)
    assert body["tools"] == [{"type": "function", "name": "get_weather", "description": "Weather for a city.",
                              "parameters": TOOLS[0]["function"]["parameters"], "strict": True}]
    assert body["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert body["max_output_tokens"] == 300 and "max_completion_tokens" not in body
    assert body["reasoning"] == {"summary": "auto", "effort": "low"}
    assert body["text"] == {"format": {"type": "json_schema", "name": "W", "schema": {"type": "object", "properties": {}},
                                       "strict": True}}
    assert body["instructions"] == "Explicit." and "temperature" not in body
    assert body["metadata"] == {"k": "v"} and body["store"] is False and body["previous_response_id"] == "resp_prev"


def test_build_tool_turns_and_reasoning_items_pass_back(create_response):
    data = load("responses_reasoning_parallel_function_calls__simonw-llm")["response_body"]
    first = P.parse(data, PROFILE, None)
    assistant = {**first.to_message(), "output_items": first.output_items}
    msgs = [{"role": "developer", "content": "Use tools."}, {"role": "user", "content": "solve it"}, assistant]
    msgs += [{"role": "tool", "tool_call_id": t.id, "content": f"result {k}"} for k, t in enumerate(first.tool_calls)]
    body = P.build(PROFILE, msgs, {"tools": TOOLS, "store": False, "include": ["reasoning.encrypted_content"]})
    create_response.validate(body)
    types = [it.get("type", "message") for it in body["input"]]
    assert types == ["message", "reasoning"] + ["function_call"] * 5 + ["function_call_output"] * 5
    assert body["input"][1] == data["output"][0]  # the reasoning item goes back as it came
    assert [it["call_id"] for it in body["input"][2:7]] == [it["call_id"] for it in body["input"][7:]]
    assert body["input"][7]["output"] == "result 0"


def test_build_tool_calls_without_output_items(create_response, spec):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "system", "content": "late system note"}]
    body = P.build(PROFILE, msgs, {})
    # the spec's InputItem oneOf lists both EasyInputMessage and InputMessage, and a message
    # with content parts matches both: check that item against EasyInputMessage alone
    create_response.validate({**body, "input": body["input"][1:]})
    easy = {"$ref": "#/components/schemas/EasyInputMessage", "components": spec["components"]}
    jsonschema.Draft202012Validator(easy).validate(body["input"][0])
    assert "instructions" not in body
    assert body["input"][0]["content"] == [{"type": "input_text", "text": "look"},
                                           {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"}]
    assert body["input"][1] == {"role": "assistant", "content": "Checking."}
    assert body["input"][2] == {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                                "arguments": '{"city":"Oslo"}'}
    assert body["input"][3] == {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}
    assert body["input"][4] == {"role": "system", "content": "late system note"}


def test_spec_validator_is_not_vacuous(create_response):
    with pytest.raises(jsonschema.ValidationError):
        create_response.validate({"model": "m", "input": [{"role": "robot", "content": "x"}]})
    with pytest.raises(jsonschema.ValidationError):
        create_response.validate({"model": "m", "input": "x", "max_output_tokens": "many"})
    with pytest.raises(jsonschema.ValidationError):
        create_response.validate({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}]})


def test_tool_without_strict_keeps_chat_semantics(create_response):
    # chat tools are non-strict unless they say so; Responses tools default to strict
    loose = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    body = P.build(PROFILE, [{"role": "user", "content": "hi"}], {"tools": [loose], "tool_choice": "auto"})
    create_response.validate(body)
    assert body["tools"][0]["strict"] is False and body["tool_choice"] == "auto"


@pytest.mark.parametrize("params", [{"stop": ["x"]}, {"seed": 1}, {"n": 2}])
def test_unsupported_params_are_refused(params):
    with pytest.raises(ConfigurationError):
        P.build(PROFILE, [{"role": "user", "content": "hi"}], params)
