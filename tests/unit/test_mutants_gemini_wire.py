"""The native Gemini wire protocol field by field: finish-reason and generationConfig tables, dropped
and passed-through params, thinking levels and budgets, part shapes, tool declarations and
tool_choice modes, usage, call ids, and the stream accumulator's events and part joining (written
to kill the mutants mutmut left alive in ``providers/_gemini_wire.py``). Expected values follow the
Gemini API reference and the recordings in ``provider-wire/gemini``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from llm_client_sync import StreamEventType as E, get_profile
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.errors import APIResponseValidationError, ConfigurationError, StreamError
from llm_client_sync.providers._chat import synthetic_call_id
from llm_client_sync.providers._gemini_wire import GeminiProtocol, gemini_usage, parse_gemini_response
from llm_client_sync.types import Usage

PROTO = GeminiProtocol()
FLASH = get_profile("gemini-2.5-flash")
GEMINI3 = get_profile("gemini-3-pro-preview")
USER = [{"role": "user", "content": "q"}]


def build(params: dict[str, Any] | None = None, messages: list[dict[str, Any]] | None = None, profile=FLASH):
    return PROTO.build(profile, messages if messages is not None else USER, params or {})


def response(*parts: dict[str, Any], finish: Any = "STOP", rid: str | None = "r1", **extra: Any) -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}
    body: dict[str, Any] = {"candidates": [candidate], **extra}
    if rid is not None:
        body["responseId"] = rid
    return body


def feed(acc, *chunks):
    events = []
    for c in chunks:
        events.extend(acc.feed(ServerSentEvent(json.dumps(c))))
    return events


# -- responses --------------------------------------------------------------------------------
@pytest.mark.parametrize("reason, finish", [
    ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
    ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
    ("IMAGE_SAFETY", "content_filter"), ("IMAGE_PROHIBITED_CONTENT", "content_filter"),
    ("IMAGE_RECITATION", "content_filter"), ("LANGUAGE", "content_filter"),
    # enum-encoding=int (Go SDK): FinishReason numbers 1 STOP, 2 MAX_TOKENS, 3 SAFETY, 4 RECITATION
    (1, "stop"), (2, "length"), (3, "content_filter"), (4, "content_filter"),
    ("MALFORMED_FUNCTION_CALL", "malformed_function_call"), ("FINISH_REASON_UNSPECIFIED", None), (0, None),
])
def test_finish_reasons_map_like_the_api_reference(reason, finish):
    assert parse_gemini_response(response({"text": "a"}, finish=reason), FLASH).finish_reason == finish


def test_stop_with_calls_is_tool_calls_but_other_reasons_stay():
    call = {"functionCall": {"name": "f", "args": {"x": 1}}}
    assert parse_gemini_response(response(call), FLASH).finish_reason == "tool_calls"
    assert parse_gemini_response(response(call, finish=1), FLASH).finish_reason == "tool_calls"
    assert parse_gemini_response(response(call, finish="MAX_TOKENS"), FLASH).finish_reason == "length"


def test_usage_counts_tool_prompts_thoughts_and_cache():
    full = {"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 4, "totalTokenCount": 25}
    assert gemini_usage(full) == Usage(15, 10, 25, 3, 4, 0)
    assert gemini_usage({"promptTokenCount": 2, "candidatesTokenCount": 1}) == Usage(2, 1, 3, 0, 0, 0)
    assert gemini_usage(None) == Usage() == gemini_usage({})


def test_calls_get_the_given_id_or_a_stable_synthetic_one():
    parts = ({"functionCall": {"name": "a", "args": {"x": 1}}}, {"functionCall": {"id": "given", "name": "b"}},
             {"functionCall": {"name": "c"}})
    calls = parse_gemini_response(response(*parts), FLASH).tool_calls
    assert [c.id for c in calls] == [synthetic_call_id("r1", 0, 0), "given", synthetic_call_id("r1", 0, 2)]
    assert [(c.name, c.raw_arguments) for c in calls] == [("a", '{"x": 1}'), ("b", "{}"), ("c", "{}")]
    anonymous = parse_gemini_response(response(*parts, rid=None), FLASH)
    assert anonymous.tool_calls[0].id == synthetic_call_id("", 0, 0) and anonymous.response_id is None
    nameless = parse_gemini_response(response({"functionCall": {"args": {}}}), FLASH).tool_calls[0]
    assert nameless.name == ""


@pytest.mark.parametrize("parts, kept", [
    ([{"text": "a"}], False),
    ([{"text": "a"}, {"functionCall": {"name": "f"}}], False),
    ([{"text": "a", "thoughtSignature": "c2ln"}], True),
    ([{"text": "hm", "thought": True}, {"text": "a"}], True),
    ([{"executableCode": {"language": "PYTHON", "code": "1"}}, {"text": "a"}], True),
    ([{"inlineData": {"mimeType": "image/png", "data": "AA=="}}], True),
])
def test_output_items_keep_every_part_of_a_turn_that_needs_replay(parts, kept):
    result = parse_gemini_response(response(*parts), FLASH)
    items = result.to_message().get("output_items")
    assert items == ([{"type": "gemini_content", "parts": parts}] if kept else None)


def test_text_thoughts_and_empty_content():
    result = parse_gemini_response(response({"text": "th", "thought": True}, {"text": "a"}, {"text": "b"}), FLASH)
    assert (result.content, result.reasoning) == ("ab", "th")
    assert parse_gemini_response(response(), FLASH).content == ""
    empty = parse_gemini_response(response({"text": "", "thought": True}, {"text": ""}), FLASH)
    assert (empty.content, empty.reasoning) == ("", "")
    assert parse_gemini_response(response({"functionCall": {"name": "f"}}), FLASH).content is None


def test_candidates_are_ordered_by_index_and_index_0_gives_reasoning_and_items():
    # regression: an explicit "index": 0 was read as missing (the list position was used instead)
    body = {"responseId": "r", "modelVersion": "gemini-2.5-flash-001", "candidates": [
        {"index": 1, "content": {"parts": [{"text": "second", "thoughtSignature": "s2"},
                                           {"functionCall": {"name": "f"}}]}, "finishReason": "STOP"},
        {"index": 0, "content": {"parts": [{"text": "t0", "thought": True}, {"text": "first"}]},
         "finishReason": "MAX_TOKENS"}]}
    result = parse_gemini_response(body, FLASH, "req")
    assert [(c.index, c.content, c.finish_reason) for c in result.choices] == [(0, "first", "length"),
                                                                              (1, "second", "tool_calls")]
    assert result.choices[1].tool_calls[0].id == synthetic_call_id("r", 1, 0)
    assert result.reasoning == "t0" and result.output_items[0]["parts"][0] == {"text": "t0", "thought": True}
    acc = PROTO.accumulator(FLASH, None)
    feed(acc, body)
    assert [(c.index, c.content) for c in acc.result().choices] == [(0, "first"), (1, "second")]
    assert acc.finished and acc.result().reasoning == "t0"
    assert (result.model, result.response_id, result.request_id) == ("gemini-2.5-flash-001", "r", "req")


def test_only_a_blocked_prompt_without_candidates_is_a_content_filter_choice():
    body = response({"text": "a"}, promptFeedback={"blockReason": "SAFETY"})
    assert [c.content for c in parse_gemini_response(body, FLASH).choices] == ["a"]
    none = parse_gemini_response({"candidates": [], "promptFeedback": {}}, FLASH)
    assert (none.choices, none.finish_reason, none.reasoning) == ((), None, None)
    blocked = parse_gemini_response({"promptFeedback": {"blockReason": "OTHER"}}, FLASH)
    assert [(c.index, c.content, c.finish_reason) for c in blocked.choices] == [(0, "", "content_filter")]


@pytest.mark.parametrize("body, reason", [
    ({"error": {"code": 400, "message": "bad key"}}, "the server answered with an error object: bad key."),
    ([1], "the body must be object,"),
    ({"responseId": "x"}, "the body has neither candidates nor promptFeedback."),
    ({"candidates": 5}, "candidates must be array or null,"),
    ({"candidates": [5]}, "a candidate must be object,"),
    ({"candidates": [{"content": 5}]}, "content must be object,"),
    ({"candidates": [{"content": {"parts": 5}}]}, "parts must be array,"),
    ({"candidates": [{"content": {"parts": [5]}}]}, "a part must be object,"),
])
def test_invalid_bodies_say_what_is_wrong(body, reason):
    with pytest.raises(APIResponseValidationError) as info:
        parse_gemini_response(body, FLASH)
    assert f"the server's answer is not a valid Gemini GenerateContentResponse: {reason}" in str(info.value)


# -- streams ----------------------------------------------------------------------------------
def test_stream_meta_call_events_and_ids_match_the_whole_response():
    acc = PROTO.accumulator(FLASH, "req")
    parts = [{"functionCall": {"name": "f", "args": {"a": 1}}}, {"functionCall": {"id": "given", "name": "g"}},
             {"functionCall": {"name": "h"}}]
    events = feed(acc, {"responseId": "r1", "modelVersion": "mv", "candidates": [{"content": {"parts": parts}}]},
                  {"candidates": [{"content": {"parts": []}, "finishReason": "STOP"}], "responseId": "other"})
    assert events[0].type is E.META and events[0].data == {"model": "mv", "id": "r1", "request_id": "req"}
    first = synthetic_call_id("r1", 0, 0)
    assert [(e.type, e.data if e.type is not E.TOOL_CALL_END else e.data.id, e.choice) for e in events[1:7]] == [
        (E.TOOL_CALL_START, {"index": 0, "id": first, "name": "f"}, 0),
        (E.TOOL_CALL_DELTA, {"index": 0, "arguments": '{"a": 1}'}, 0), (E.TOOL_CALL_END, first, 0),
        (E.TOOL_CALL_START, {"index": 1, "id": "given", "name": "g"}, 0),
        (E.TOOL_CALL_DELTA, {"index": 1, "arguments": "{}"}, 0), (E.TOOL_CALL_END, "given", 0)]
    whole = parse_gemini_response(response(*parts), FLASH)
    ended = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert ended == list(acc.result().tool_calls) == list(whole.tool_calls)
    assert (acc.result().response_id, acc.result().model, acc.result().request_id) == ("r1", "mv", "req")


def test_a_stream_without_response_id_uses_an_empty_seed():
    acc = PROTO.accumulator(FLASH, None)
    events = feed(acc, {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f"}}]},
                                        "finishReason": "STOP"}]})
    assert events[0].data["id"] == "" and acc.result().response_id is None
    assert acc.result().tool_calls[0].id == synthetic_call_id("", 0, 0)


def test_stream_text_pieces_join_until_a_signature_or_a_kind_change():
    acc = PROTO.accumulator(FLASH, None)
    events = feed(acc, response({"text": "", "thought": True}, rid="r", finish=None),
                  response({"text": "th", "thought": True}, {"text": "ink", "thought": True, "thoughtSignature": "t"},
                           finish=None),
                  response({"text": "A"}, {"text": "B", "thoughtSignature": "s"}, finish=None),
                  response({"text": "C"}, {"text": "D", "extra": 1}, finish="STOP"))
    assert [(e.type, e.data) for e in events if e.type in (E.TOKEN, E.REASONING)] == [
        (E.REASONING, "th"), (E.REASONING, "ink"), (E.TOKEN, "A"), (E.TOKEN, "B"), (E.TOKEN, "C"), (E.TOKEN, "D")]
    assert acc.result().to_message()["output_items"][0]["parts"] == [
        {"text": "think", "thought": True, "thoughtSignature": "t"}, {"text": "AB", "thoughtSignature": "s"},
        {"text": "C"}, {"text": "D", "extra": 1}]
    assert (acc.result().content, acc.result().reasoning) == ("ABCD", "think")


@pytest.mark.parametrize("unspecified", ["FINISH_REASON_UNSPECIFIED", 0, None])
def test_a_stream_without_a_real_finish_reason_is_not_finished(unspecified):
    acc = PROTO.accumulator(FLASH, None)
    assert feed(acc, {"responseId": "r", "usageMetadata": {"promptTokenCount": 3}})[0].type is E.META
    assert not acc.finished
    feed(acc, {"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": unspecified}]})
    assert not acc.finished and acc.result().finish_reason is None


def test_stream_usage_is_replaced_and_sent_once_when_every_candidate_finished():
    acc = PROTO.accumulator(FLASH, None)
    two = {"responseId": "r", "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
           "candidates": [{"index": 0, "content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"},
                          {"index": 1, "content": {"parts": [{"text": "b"}]}, "finishReason": 0}]}
    assert E.USAGE not in [e.type for e in feed(acc, two)] and not acc.finished
    last = {"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4},
            "candidates": [{"index": 1, "content": {"parts": [{"text": "c"}]}, "finishReason": 2}]}
    events = feed(acc, last)
    assert acc.finished and [e.data for e in events if e.type is E.USAGE] == [Usage(3, 4, 7)]
    assert [(c.content, c.finish_reason) for c in acc.result().choices] == [("a", "stop"), ("bc", "length")]
    only_third = PROTO.accumulator(FLASH, None)
    feed(only_third, {"candidates": [{"index": 2, "content": {"parts": [{"text": "z"}]}, "finishReason": "STOP"}]})
    assert [(c.index, c.content) for c in only_third.result().choices] == [(2, "z")]


@pytest.mark.parametrize("status, retryable", [("UNAVAILABLE", True), ("INTERNAL", True), ("RESOURCE_EXHAUSTED", True),
                                               ("DEADLINE_EXCEEDED", True), ("INVALID_ARGUMENT", False)])
def test_error_events_say_their_status_and_whether_a_retry_may_help(status, retryable):
    acc = PROTO.accumulator(FLASH, "req")
    with pytest.raises(StreamError) as info:
        feed(acc, {"error": {"code": 500, "status": status, "message": "boom"}})
    assert str(info.value).startswith(f"error event in stream: {status}: boom")
    assert info.value.retryable is retryable and info.value.request_id == "req"
    with pytest.raises(StreamError, match="error event in stream: error: boom"):
        feed(PROTO.accumulator(FLASH, None), {"error": {"message": "boom"}})


# -- requests ---------------------------------------------------------------------------------
def test_sampling_params_match_the_recorded_generation_config(provider_wire):
    recorded = json.loads((provider_wire / "gemini" / "generateContent_text_byte_exact__langchaingo.json")
                          .read_text(encoding="utf-8"))["request_body"]
    body = build({"temperature": 0.5, "top_p": 0.95, "top_k": 3, "n": 1, "max_tokens": 2048,
                  "safetySettings": recorded["safetySettings"]})
    expected = {k: v for k, v in recorded["generationConfig"].items() if k != "candidateCount"}  # 1 is the default
    assert body["generationConfig"] == expected and body["safetySettings"] == recorded["safetySettings"]


@pytest.mark.parametrize("name, wire", [
    ("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("n", "candidateCount"), ("seed", "seed"),
    ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty"),
    ("logprobs", "responseLogprobs"), ("top_logprobs", "logprobs")])
def test_each_sampling_param_has_its_generation_config_name(name, wire):
    value = True if name == "logprobs" else 2
    assert build({name: value})["generationConfig"] == {wire: value}


@pytest.mark.parametrize("params, limit", [({"max_completion_tokens": 7}, 7), ({"max_output_tokens": 9}, 9),
                                           ({"max_tokens": 5, "max_completion_tokens": 6, "max_output_tokens": 9}, 5),
                                           ({"max_completion_tokens": 6, "max_output_tokens": 9}, 6)])
def test_the_first_output_limit_given_wins(params, limit):
    assert build(params)["generationConfig"] == {"maxOutputTokens": limit}


@pytest.mark.parametrize("name", ["stream", "stream_options", "store", "parallel_tool_calls", "user", "metadata"])
def test_openai_only_params_are_dropped_and_native_fields_pass_through(name):
    body = build({name: {"include_usage": True} if name == "stream_options" else "x",
                  "cachedContent": "cachedContents/abc", "labels": None})
    assert body == {"contents": [{"role": "user", "parts": [{"text": "q"}]}], "cachedContent": "cachedContents/abc"}


@pytest.mark.parametrize("effort, level", [("none", "low"), ("minimal", "minimal"), ("low", "low"),
                                           ("medium", "medium"), ("high", "high"), ("xhigh", "high"), ("max", "high")])
def test_reasoning_effort_is_a_thinking_level_on_gemini_3(effort, level):
    config = build({"reasoning_effort": effort}, profile=GEMINI3)["generationConfig"]
    assert config == {"thinkingConfig": {"thinkingLevel": level, "includeThoughts": True}}


def test_thinking_budgets_and_include_thoughts():
    def thinking(params, profile=FLASH):
        return build(params, profile=profile).get("generationConfig", {}).get("thinkingConfig")

    assert thinking({"reasoning_effort": "low"}) == {"thinkingBudget": 1024, "includeThoughts": True}
    assert thinking({"reasoning_effort": "none"}) == {"thinkingBudget": 0}  # off: no thoughts to include
    assert thinking({"thinking_budget": 0, "include_thoughts": 1}) == {"thinkingBudget": 0, "includeThoughts": True}
    assert thinking({"thinking_budget": 64, "include_thoughts": 0}) == {"thinkingBudget": 64, "includeThoughts": False}
    native = {"thinkingLevel": "high", "includeThoughts": False}
    assert thinking({"thinking_config": native, "reasoning_effort": "low"}, GEMINI3) == native
    assert thinking({}) is None and thinking({"include_thoughts": True}) is None
    with pytest.raises(ConfigurationError, match=r"^reasoning_effort='extreme' is not valid; use one of "
                                                 r"\['high', 'low', 'max', 'medium', 'minimal', 'none', 'xhigh'\]$"):
        build({"reasoning_effort": "extreme"}, profile=GEMINI3)


@pytest.mark.parametrize("fmt, config", [
    ({"type": "json_object"}, {"responseMimeType": "application/json"}),
    ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
     {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}),
    ({"type": "text"}, None)])
def test_response_formats(fmt, config):
    assert build({"response_format": fmt}).get("generationConfig") == config


def test_generation_config_is_merged_under_both_spellings():
    for key in ("generation_config", "generationConfig"):
        assert build({key: {"responseModalities": ["TEXT"]}, "stop": ["a", "b"]})["generationConfig"] == {
            "responseModalities": ["TEXT"], "stopSequences": ["a", "b"]}


def test_bad_requests_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="^the Gemini API needs at least one user or model message$"):
        build(messages=[{"role": "system", "content": "s"}])
    with pytest.raises(ConfigurationError, match="does not support 'logit_bias'"):
        build({"logit_bias": {"1": 2}})


@pytest.mark.parametrize("part, wire", [
    ({"type": "text", "text": "hi"}, {"text": "hi"}),
    ({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
     {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}),
    ({"type": "image_url", "image_url": {"url": "https://x.test/cat.png?s=1"}},
     {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.png?s=1"}}),
    ({"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f.pdf"}},
     {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/f.pdf"}}),
    ({"type": None, "inlineData": {"mimeType": "audio/wav", "data": "AA=="}},
     {"inlineData": {"mimeType": "audio/wav", "data": "AA=="}}),
])
def test_user_content_parts(part, wire):
    assert build(messages=[{"role": "user", "content": [part]}])["contents"] == [{"role": "user", "parts": [wire]}]


@pytest.mark.parametrize("kind", ["input_audio", "file"])
def test_openai_audio_and_file_parts_are_refused(kind):
    with pytest.raises(ConfigurationError, match=f"^the Gemini provider cannot send a '{kind}' content part; "
                                                 r"send text, images, or native Gemini parts \(inlineData, fileData\)$"):
        build(messages=[{"role": "user", "content": [{"type": kind, kind: {}}]}])


def test_conversation_roles_and_turn_merging():
    messages = [{"role": "system", "content": "s1"}, {"role": "developer", "content": "s2"},
                {"role": "user", "content": "u1"}, {"role": "user", "content": [{"type": "text", "text": "u2"}]},
                {"role": "assistant", "content": "a1"}, {"role": "assistant", "content": ""},
                {"role": "assistant", "content": "a2", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "[1, 2]"},
                {"role": "tool", "tool_call_id": "other", "name": "g", "content": "plain"},
                {"role": "function", "content": "odd"}]
    body = build(messages=messages)
    assert body["systemInstruction"] == {"parts": [{"text": "s1"}, {"text": "s2"}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "u1"}, {"text": "u2"}]},
        {"role": "model", "parts": [{"text": "a1"}, {"text": "a2"}, {"functionCall": {"name": "f", "args": {"x": 1}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": [1, 2]}}},
                                   {"functionResponse": {"name": "g", "response": {"result": "plain"}}},
                                   {"text": "odd"}]}]


def test_a_tool_answer_names_its_call_and_carries_the_id_the_api_gave():
    first = parse_gemini_response(response({"functionCall": {"id": "api-1", "name": "f", "args": {}},
                                            "thoughtSignature": "c2ln"}), FLASH)
    body = build(messages=[*USER, first.to_message(),
                           {"role": "tool", "tool_call_id": "api-1", "content": '{"ok": true}'}])
    answer = {"name": "f", "response": {"ok": True}, "id": "api-1"}
    assert body["contents"][2]["parts"] == [{"functionResponse": answer}]
    with pytest.raises(ConfigurationError, match="^tool message 'lost' answers no earlier tool call; Gemini needs "
                                                 r"the function name \(add 'name' to the tool message\)$"):
        build(messages=[*USER, {"role": "tool", "tool_call_id": "lost", "content": "x"}])


def test_tools_become_function_declarations_then_native_tools():
    params = {"type": "object", "properties": {"x": {"type": "integer"}}}
    tools = [{"type": "function", "function": {"name": "f", "description": "Does f.", "parameters": params}},
             {"type": "function", "function": {"name": "g"}}, {"googleSearch": {}}]
    assert build({"tools": tools})["tools"] == [
        {"functionDeclarations": [{"name": "f", "description": "Does f.", "parametersJsonSchema": params},
                                  {"name": "g"}]}, {"googleSearch": {}}]
    assert build({"tools": [{"codeExecution": {}}]})["tools"] == [{"codeExecution": {}}]
    assert build({"tools": tools[::-1]})["tools"] == [{"functionDeclarations": [{"name": "g"}, {
        "name": "f", "description": "Does f.", "parametersJsonSchema": params}]}, {"googleSearch": {}}]


@pytest.mark.parametrize("choice, config", [
    ("auto", {"mode": "AUTO"}), ("required", {"mode": "ANY"}), ("none", {"mode": "NONE"}),
    ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ({"type": "function", "name": "f"}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
    ({"functionCallingConfig": {"mode": "VALIDATED"}}, None)])
def test_tool_choice_modes(choice, config):
    tools = [{"type": "function", "function": {"name": "f"}}]
    expected = {"functionCallingConfig": config} if config else choice
    assert build({"tools": tools, "tool_choice": choice})["toolConfig"] == expected
    assert "toolConfig" not in build({"tool_choice": choice})


@pytest.mark.parametrize("choice", ["any", {"type": "web"}, 3])
def test_an_unknown_tool_choice_is_refused(choice):
    message = (f"tool_choice {choice!r} is not valid: use 'auto', 'required', 'none' or "
               "{'type': 'function', 'function': {'name': ...}}")
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        build({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": choice})


def test_paths_and_count_body():
    assert PROTO.path("models/gemini-2.5-flash") == "/models/gemini-2.5-flash:generateContent"
    assert PROTO.path("gemini-2.5-flash", True) == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    body = build()
    assert PROTO.stream_body(body) is body
    assert PROTO.count_body(body, "gemini-x") == {"generateContentRequest": {"model": "models/gemini-x", **body}}
    assert PROTO.count_body(body, "models/gemini-x")["generateContentRequest"]["model"] == "models/gemini-x"
