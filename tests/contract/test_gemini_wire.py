"""Every recorded Gemini exchange in ../shared/provider-wire/gemini replayed through the wire protocol.

``generateContent`` bodies go through ``parse``; ``alt=sse`` streams through SSEDecoder +
GeminiAccumulator, whole and split every 1, 7 and 64 bytes (CRLF framing); JSON-array streams
element by element; error bodies through the transport's one error translation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llm_client_sync._sse import SSEDecoder, ServerSentEvent
from llm_client_sync.errors import BadRequestError, NotFoundError, PermissionDeniedError, RateLimitError, StreamError
from llm_client_sync.models import get_profile
from llm_client_sync.providers._gemini_wire import GeminiProtocol, parse_gemini_response
from llm_client_sync.providers.gemini import GeminiProvider
from llm_client_sync.transport import RetryPolicy, TransportResponse, _request_id, _status_error
from llm_client_sync.types import CompletionResult, StreamEventType

E = StreamEventType
PROTO = GeminiProtocol()
PROFILE = get_profile("gemini-2.5-flash")
SPLITS = (None, 1, 7, 64)

# fixture -> (text starts, text ends, [(tool, arguments)], (prompt, completion, reasoning, cached), finish)
EXPECTED: dict[str, tuple[str, str, list[tuple[str, dict[str, Any]]], tuple[int, ...], str]] = {
    "generateContent_cached_content__ruby_llm": ("The RubyLLM release engi", "acy reviews.", [], (9622, 171, 136, 9609), "stop"),
    "generateContent_finish_safety__pydantic-ai": ("", "", [], (14, 0, 0, 0), "content_filter"),
    "generateContent_function_call__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"})], (103, 136, 106, 0), "tool_calls"),
    "generateContent_function_call_thought_signature_gemini31__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"})], (120, 164, 132, 0), "tool_calls"),
    "generateContent_function_response_followup__ruby_llm": ("The weather in Berlin is", " at 10 km/h.", [], (190, 21, 0, 0), "stop"),
    "generateContent_implicit_cache_hit__mirascope": ('"Impressive... most impr', "xy rejoices!", [], (3797, 2205, 1549, 3055), "stop"),
    "generateContent_max_tokens__mirascope": ("Here is a list of all 50", " of all 50 U", [], (9, 48, 38, 0), "length"),
    "generateContent_max_tokens_thinking_no_parts__pydantic-ai": ("", "", [], (15, 2, 2, 0), "length"),
    "generateContent_parallel_function_calls__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"}), ("best_language_to_learn", {})], (143, 153, 109, 0), "tool_calls"),
    "generateContent_parallel_function_responses__ruby_llm": ("The weather in Berlin (5", "arn is Ruby.", [], (277, 47, 0, 0), "stop"),
    "generateContent_text__ruby_llm": ("2 + 2 = **4**", " + 2 = **4**", [], (10, 31, 23, 0), "stop"),
    "generateContent_text_byte_exact__langchaingo": ("The capital of France is", " **Paris**.\n", [], (7, 9, 0, 0), "stop"),
    "generateContent_thinking_thought_parts_gemini3__ruby_llm": ("To see your future in su", "appens next.", [], (44, 1667, 1116, 0), "stop"),
    "generateContent_thought_signature_replay_function_response__ruby_llm": ("The current weather in B", " of 10 km/h.", [], (339, 74, 51, 0), "stop"),
    "streamGenerateContent_json_array_enum_int__langchaingo": ("Clementine, a calico wit", "ht she was.\n", [], (8, 578, 0, 0), "stop"),
    "streamGenerateContent_json_array_function_call_thought_signature_gemini3__llm-gemini": ("", "", [("multiply", {"y": 3, "x": 5})], (60, 48, 32, 0), "tool_calls"),
    "streamGenerateContent_json_array_text_thoughts__llm-gemini": ("Scoop", "Scoop", [], (11, 293, 291, 0), "stop"),
    "streamGenerateContent_sse_function_call__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"})], (103, 73, 43, 0), "tool_calls"),
    "streamGenerateContent_sse_function_call_thought_signature_gemini3pro__pydantic-ai": ("", "", [("get_country", {})], (29, 212, 202, 0), "tool_calls"),
    "streamGenerateContent_sse_multi_chunk_usage__pydantic-ai": ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", "\n27\n28\n29\n30", [], (18, 115, 35, 0), "stop"),
    "streamGenerateContent_sse_parallel_function_calls__mirascope": ("", "", [("secret_retrieval_tool", {"password": "mellon"}), ("secret_retrieval_tool", {"password": "radiance"})], (70, 101, 61, 0), "tool_calls"),
    "streamGenerateContent_sse_text__ruby_llm": ("1, 2, 3", "1, 2, 3", [], (8, 27, 20, 0), "stop"),
    "streamGenerateContent_sse_thinking_parts_gemini3__ruby_llm": ("To see your future self ", " their mind.", [], (44, 1510, 902, 0), "stop"),
}
ERRORS = {
    "error_400_api_key_invalid__ruby_llm": (BadRequestError, False, "INVALID_ARGUMENT"),
    "error_400_api_key_invalid_on_sse_stream__mirascope": (BadRequestError, False, "INVALID_ARGUMENT"),
    "error_403_permission_denied__langchaingo": (PermissionDeniedError, False, "PERMISSION_DENIED"),
    "error_404_model_not_found__mirascope": (NotFoundError, False, "NOT_FOUND"),
    "error_429_resource_exhausted_retryinfo__ruby_llm": (RateLimitError, True, "RESOURCE_EXHAUSTED"),
}
OTHER = {
    "countTokens__ruby_llm": "test_count_tokens_endpoint_is_read_and_memoised",
    "batchEmbedContents_dims__llm-gemini": "test_batch_embed_request_and_vectors",
    "batchEmbedContents_multiple__ruby_llm": "test_batch_embed_request_and_vectors",
    "batches_get_succeeded_inlined__ruby_llm": "test_batch_inlined_responses_parse",
    "batchGenerateContent_create__ruby_llm": "out of scope: batch mode lifecycle (no GenerateContentResponse)",
    "cachedContents_create__ruby_llm": "out of scope: explicit cache lifecycle (no GenerateContentResponse)",
}


def _load(dirpath: Path, name: str) -> dict[str, Any]:
    return json.loads((dirpath / "gemini" / f"{name}.json").read_text(encoding="utf-8"))


def _feed(data: dict[str, Any], split: int | None) -> tuple[list[Any], Any]:
    acc = PROTO.accumulator(PROFILE, None)
    events = []
    if data["stream_format"] == "json-array":
        for element in json.loads(data["response_body"]):
            events.extend(acc.feed(ServerSentEvent(json.dumps(element))))
        return events, acc
    dec = SSEDecoder()
    raw = data["response_body"].encode("utf-8")
    step = split or len(raw)
    for i in range(0, len(raw), step):
        for sse in dec.feed(raw[i:i + step]):
            events.extend(acc.feed(sse))
    return events, acc


def _check(result: CompletionResult, name: str) -> None:
    start, end, calls, usage, finish = EXPECTED[name]
    text = result.content or ""
    assert text.startswith(start) and text.endswith(end)
    assert [(c.name, dict(c.arguments)) for c in result.tool_calls] == calls
    assert len({c.id for c in result.tool_calls}) == len(calls)
    u = result.usage
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens) == usage
    assert result.finish_reason == finish


def test_every_recorded_file_is_covered(provider_wire: Path) -> None:
    names = {p.stem for p in (provider_wire / "gemini").glob("*.json")}
    assert names == set(EXPECTED) | set(ERRORS) | set(OTHER)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("generateContent")))
def test_response_body_parses(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    _check(PROTO.parse(data["response_body"], PROFILE, None), name)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("stream")))
def test_stream_replays_whole_and_split(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    results = []
    for split in SPLITS if data["stream_format"] == "sse" else (None,):
        events, acc = _feed(data, split)
        assert acc.finished
        result = acc.result()
        _check(result, name)
        assert "".join(e.data for e in events if e.type is E.TOKEN) == (result.content or "")
        assert [e.data for e in events if e.type is E.TOOL_CALL_END] == list(result.tool_calls)
        assert [e.data for e in events if e.type is E.USAGE] == [result.usage]
        assert (result.reasoning or "") == "".join(e.data for e in events if e.type is E.REASONING)
        results.append(result.to_dict())
    assert all(r == results[0] for r in results)


def test_call_ids_are_stable_and_given_ids_win(provider_wire: Path) -> None:
    streamed = _feed(_load(provider_wire, "streamGenerateContent_sse_parallel_function_calls__mirascope"), 7)[1].result()
    again = _feed(_load(provider_wire, "streamGenerateContent_sse_parallel_function_calls__mirascope"), None)[1].result()
    assert [c.id for c in streamed.tool_calls] == [c.id for c in again.tool_calls]
    assert all(c.id.startswith("call_") for c in streamed.tool_calls)
    given = _load(provider_wire, "generateContent_function_call_thought_signature_gemini31__ruby_llm")
    assert PROTO.parse(given["response_body"], PROFILE, None).tool_calls[0].id == "call_883098"


def test_parallel_calls_keep_the_signature_on_the_first_part(provider_wire: Path) -> None:
    data = _load(provider_wire, "streamGenerateContent_sse_parallel_function_calls__mirascope")
    recorded = json.loads(data["response_body"].split("data: ", 1)[1].split("\r\n", 1)[0])
    parts = _feed(data, 1)[1].result().to_message()["output_items"][0]["parts"]
    assert parts == recorded["candidates"][0]["content"]["parts"]


def test_empty_final_text_part_is_no_content(provider_wire: Path) -> None:
    data = _load(provider_wire, "streamGenerateContent_sse_function_call_thought_signature_gemini3pro__pydantic-ai")
    events, acc = _feed(data, 64)
    assert not [e for e in events if e.type is E.TOKEN]
    assert acc.result().content is None and len(acc.result().tool_calls) == 1


def test_thought_parts_are_reasoning_and_the_signature_is_kept(provider_wire: Path) -> None:
    data = _load(provider_wire, "streamGenerateContent_sse_thinking_parts_gemini3__ruby_llm")
    assert data["response_body"].count("\r\n\r\n") == 29
    events, acc = _feed(data, 7)
    assert len([e for e in events if e.type is E.REASONING]) == 3
    parts = acc.result().output_items[0]["parts"]
    assert [bool(p.get("thought")) for p in parts] == [True, False]
    assert parts[-1]["thoughtSignature"] and parts[-1]["text"] == acc.result().content


def test_thought_signatures_round_trip_byte_for_byte(provider_wire: Path) -> None:
    data = _load(provider_wire, "generateContent_function_call__ruby_llm")
    result = PROTO.parse(data["response_body"], PROFILE, None)
    for m in (json.loads(json.dumps(result.to_message())),
              CompletionResult.from_dict(json.loads(json.dumps(result.to_dict()))).to_message()):
        tool = {"role": "tool", "tool_call_id": result.tool_calls[0].id, "content": "15C"}
        body = PROTO.build(PROFILE, [{"role": "user", "content": "q"}, m, tool], {})
        assert json.dumps(body["contents"][1]["parts"]) == json.dumps(data["response_body"]["candidates"][0]["content"]["parts"])
        assert body["contents"][2]["parts"][0]["functionResponse"] == {"name": "weather", "response": {"result": "15C"}}


@pytest.mark.parametrize("name", ["generateContent_function_response_followup__ruby_llm",
                                  "generateContent_parallel_function_responses__ruby_llm",
                                  "generateContent_thought_signature_replay_function_response__ruby_llm"])
def test_recorded_followups_are_what_build_sends(provider_wire: Path, name: str) -> None:
    recorded = _load(provider_wire, name)["request_body"]
    model_turn = recorded["contents"][1]
    previous = parse_gemini_response({"candidates": [{"content": model_turn, "finishReason": "STOP"}],
                                      "responseId": "r1"}, PROFILE)
    answers = [p["functionResponse"] for p in recorded["contents"][2]["parts"]]
    messages = [{"role": "user", "content": recorded["contents"][0]["parts"][0]["text"]}, previous.to_message()]
    messages += [{"role": "tool", "tool_call_id": c.id, "content": json.dumps(a["response"])}
                 for c, a in zip(previous.tool_calls, answers)]
    body = PROTO.build(PROFILE, messages, {})
    assert body["contents"][:2] == recorded["contents"][:2]
    assert body["contents"][2] == recorded["contents"][2]


def test_structured_output_and_thinking_config_shape() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = PROTO.build(PROFILE, [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "q"}],
                       {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
                        "thinking_budget": 512, "max_tokens": 100, "temperature": 0.2, "stop": "END"})
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief"}]}
    assert body["generationConfig"] == {"maxOutputTokens": 100, "temperature": 0.2, "stopSequences": ["END"],
                                        "thinkingConfig": {"thinkingBudget": 512, "includeThoughts": True},
                                        "responseMimeType": "application/json", "responseJsonSchema": schema}
    level = PROTO.build(get_profile("gemini-3-pro-preview"), [{"role": "user", "content": "q"}],
                        {"reasoning_effort": "low"})
    assert level["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low", "includeThoughts": True}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_bodies_map_to_our_errors(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    cls, retried, status = ERRORS[name]
    headers = data["response_headers"] or {}
    err = _status_error(data["status"], data["response_body"], headers, _request_id(headers))
    assert type(err) is cls and err.status_code == data["status"] and err.type == status
    assert data["response_body"]["error"]["message"] in err.message
    assert RetryPolicy().should_retry(data["status"], headers, data["response_body"]) is retried


def test_resource_exhausted_carries_its_retry_info(provider_wire: Path) -> None:
    data = _load(provider_wire, "error_429_resource_exhausted_retryinfo__ruby_llm")
    err = _status_error(429, data["response_body"], data["response_headers"], None)
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in err.body["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "48s"
    assert "retry-after" not in {k.lower() for k in data["response_headers"]}


def test_error_chunk_inside_a_stream_raises_with_the_partial() -> None:
    acc = PROTO.accumulator(PROFILE, "rid")
    acc.feed(ServerSentEvent(json.dumps({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
                                         "responseId": "r"})))
    with pytest.raises(StreamError) as info:
        acc.feed(ServerSentEvent(json.dumps({"error": {"code": 503, "status": "UNAVAILABLE",
                                                       "message": "The model is overloaded."}})))
    assert info.value.partial.content == "Hel" and "UNAVAILABLE" in str(info.value)


class _Replay:
    def __init__(self, body: Any) -> None:
        self.body = body
        self.calls: list[tuple[str, Any]] = []
        self.retry = RetryPolicy(max_retries=0)
        self.observers: list[Any] = []
        self.base_url = "http://replay/v1beta"

    def request(self, method: str, path: str, json: Any = None, **kw: Any) -> TransportResponse:
        self.calls.append((path, json))
        return TransportResponse(200, {}, __import__("json").dumps(self.body).encode(), None)

    def close(self) -> None:
        pass


def test_count_tokens_endpoint_is_read_and_memoised(provider_wire: Path) -> None:
    data = _load(provider_wire, "countTokens__ruby_llm")
    transport = _Replay(data["response_body"])
    provider = GeminiProvider("gemini-3.5-flash", transport=transport)
    assert provider.count_tokens("What is the capital of France?") == 8
    assert provider.count_tokens("What is the capital of France?") == 8
    assert len(transport.calls) == 1
    path, sent = transport.calls[0]
    assert path == "/models/gemini-3.5-flash:countTokens" and sent == data["request_body"]


@pytest.mark.parametrize("name", ["batchEmbedContents_dims__llm-gemini", "batchEmbedContents_multiple__ruby_llm"])
def test_batch_embed_request_and_vectors(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    recorded = data["request_body"]["requests"]
    transport = _Replay(data["response_body"])
    model = recorded[0]["model"].split("/", 1)[1]
    texts = [r["content"]["parts"][0]["text"] for r in recorded]
    result = GeminiProvider(model, transport=transport).embed(texts, recorded[0].get("outputDimensionality"))
    assert transport.calls[0] == (f"/models/{model}:batchEmbedContents", data["request_body"])
    assert [len(v) for v in result.vectors] == [len(e["values"]) for e in data["response_body"]["embeddings"]]
    assert result.vectors[0][:3] == data["response_body"]["embeddings"][0]["values"][:3]


def test_batch_inlined_responses_parse(provider_wire: Path) -> None:
    data = _load(provider_wire, "batches_get_succeeded_inlined__ruby_llm")
    rows = data["response_body"]["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    results = [parse_gemini_response(r["response"], PROFILE) for r in rows]
    assert [r.content for r in results] == ["4", "Jupiter"]
    assert [r.usage.reasoning_tokens for r in results] == [43, 53]


@pytest.mark.parametrize("body", [{"responseId": "x"}, {"candidates": "nope"}, [1], {"candidates": [{"content": 5}]}])
def test_a_body_that_is_not_a_response_is_a_validation_error(body: Any) -> None:
    from llm_client_sync.errors import APIResponseValidationError

    with pytest.raises(APIResponseValidationError):
        PROTO.parse(body, PROFILE, None)


@pytest.mark.parametrize("data", ["[1, 2]", "{oops", '{"candidates": [{"content": {"parts": "x"}}]}'])
def test_a_malformed_stream_chunk_is_a_stream_error(data: str) -> None:
    with pytest.raises(StreamError, match="malformed"):
        PROTO.accumulator(PROFILE, None).feed(ServerSentEvent(data))


def test_the_rate_limiter_estimates_the_text_of_native_bodies() -> None:
    from llm_client_sync.providers._anthropic_wire import AnthropicProtocol
    from llm_client_sync.providers._native import limiter_view
    from llm_client_sync.ratelimit import DEFAULT_COMPLETION_TOKENS, request_cost

    messages = [{"role": "system", "content": "rule " * 300}, {"role": "user", "content": "word " * 2000}]
    for proto, profile in ((PROTO, PROFILE), (AnthropicProtocol(), get_profile("claude-haiku-4-5"))):
        body = proto.build(profile, messages, {"max_tokens": 50})
        estimate = request_cost(limiter_view(body), profile)
        assert 2300 + 50 <= estimate <= 2300 * 1.2 + 50
    # the body as sent: the limiter saw neither its text nor its output limit
    assert request_cost(PROTO.build(PROFILE, messages, {"max_tokens": 50}), PROFILE) - DEFAULT_COMPLETION_TOKENS < 100


def test_a_blocked_prompt_finishes_as_content_filter() -> None:
    # synthetic, from the Gemini API reference: promptFeedback.blockReason and no candidates
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}}
    result = PROTO.parse(blocked, PROFILE, None)
    assert (result.content, result.finish_reason, result.usage.prompt_tokens) == ("", "content_filter", 9)
    acc = PROTO.accumulator(PROFILE, None)
    events = acc.feed(ServerSentEvent(json.dumps(blocked)))
    assert acc.finished and acc.result().finish_reason == "content_filter" and events[-1].type is E.USAGE
