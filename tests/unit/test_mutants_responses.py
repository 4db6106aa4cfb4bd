"""The Responses API wire protocol's edges: the request body built from chat-style messages and
params (instructions, parts, tool turns, tools, formats), the parser (refusals, reasoning summaries,
finish reasons, the messages a malformed body shows) and the stream accumulator (the events it
emits and their payloads, ids made unique, items done out of order, in-band errors). Written to kill
the mutants mutmut left alive in ``providers/_responses.py``."""

from __future__ import annotations

import json

import pytest

from llm_client_sync import (APIResponseValidationError, ConfigurationError, LLMClientError, StreamError,
                             StreamEventType as E, get_profile)
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.providers._responses import ResponsesAccumulator, ResponsesProtocol, parse_responses_response

PROFILE = get_profile("gpt-5-nano")
P = ResponsesProtocol()
USER = {"role": "user", "content": "hi"}


def build(messages, **params):
    return P.build(PROFILE, messages, params)


def feed(acc, *events):
    out = []
    for ev in events:
        out.extend(acc.feed(ServerSentEvent(ev if isinstance(ev, str) else json.dumps(ev))))
    return out


def created(rid="resp_1", model="m"):
    resp = {}
    if rid is not None:
        resp["id"] = rid
    if model is not None:
        resp["model"] = model
    return {"type": "response.created", "response": resp}


def completed(**resp):
    return {"type": "response.completed", "response": {"status": "completed", **resp}}


def fcall(item_id, call_id=None, name="f", arguments=None):
    item = {"type": "function_call", "id": item_id, "name": name}
    if call_id is not None:
        item["call_id"] = call_id
    if arguments is not None:
        item["arguments"] = arguments
    return item


def added(item, index=0):
    return {"type": "response.output_item.added", "output_index": index, "item": item}


def done(item, index=0):
    ev = {"type": "response.output_item.done", "item": item}
    if index is not None:
        ev["output_index"] = index
    return ev


def body(*output, **extra):
    return {"id": "resp_1", "status": "completed", "model": "m", "output": list(output), **extra}


def message(*parts):
    return {"type": "message", "role": "assistant", "content": list(parts)}


# -- request bodies --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["stop", "seed", "logprobs", "frequency_penalty", "presence_penalty",
                                  "logit_bias", "stream_options"])
def test_chat_only_params_are_refused_naming_the_param_and_the_way_out(name):
    with pytest.raises(ConfigurationError) as info:
        build([USER], **{name: {"include_usage": True} if name == "stream_options" else 1})
    assert str(info.value) == f"{name!r} is not supported by the Responses API; use api='chat' for it"


@pytest.mark.parametrize("name", ["max_tokens", "max_completion_tokens"])
def test_both_chat_token_limits_become_max_output_tokens(name):
    out = build([USER], **{name: 123})
    assert out["max_output_tokens"] == 123 and name not in out


def test_leading_system_and_developer_messages_join_as_instructions():
    out = build([{"role": "system", "content": "A."}, {"role": "developer", "content": "B."}, USER])
    assert out["instructions"] == "A.\n\nB." and out["input"] == [USER]


def test_explicit_instructions_keep_the_system_messages_as_input_items():
    system = {"role": "system", "content": "From the history."}
    out = build([system, USER], instructions="Explicit.")
    assert out["instructions"] == "Explicit."
    assert out["input"] == [system, USER]


def test_none_or_empty_content_is_sent_as_an_empty_string():
    out = build([{"role": "user", "content": None}, {"role": "user", "content": ""}])
    assert out["input"] == [{"role": "user", "content": ""}, {"role": "user", "content": ""}]


def test_image_parts_keep_their_detail_and_a_bare_url_and_responses_parts_pass_through():
    file_part = {"type": "input_file", "file_id": "file_1"}
    out = build([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "high"}},
        {"type": "image_url", "image_url": "https://x/b.png"},
        {"type": "text"},
        file_part]}])
    assert out["input"][0]["content"] == [
        {"type": "input_image", "image_url": "https://x/a.png", "detail": "high"},
        {"type": "input_image", "image_url": "https://x/b.png", "detail": "auto"},
        {"type": "input_text", "text": ""},
        file_part]


def test_tool_and_legacy_function_messages_take_the_text_of_their_parts():
    parts = [{"type": "text", "text": "sun"}, {"type": "text", "text": "ny"}, "not a part"]
    out = build([USER, {"role": "tool", "tool_call_id": "call_1", "content": parts},
                 {"role": "function", "name": "f", "content": parts},
                 {"role": "function", "name": "g", "content": None}])
    assert out["input"][1:] == [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
                                {"role": "user", "content": "sunny"},
                                {"role": "user", "content": ""}]


def test_tool_calls_not_in_output_items_are_added_after_the_ones_that_are():
    kept = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"a": 1}', "id": "fc_1"}
    assistant = {"role": "assistant", "content": None, "output_items": [kept], "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g"}},
        {"id": "call_3", "type": "function", "function": {"name": "h", "arguments": ""}}]}
    out = build([USER, assistant])
    assert out["input"][1:] == [
        kept,
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_3", "name": "h", "arguments": "{}"}]


def test_tools_already_flat_or_built_in_pass_through_and_a_bare_function_gets_defaults():
    flat = {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}, "strict": True}
    builtin = {"type": "web_search"}
    bare = {"type": "function", "function": {"name": "g", "description": None}}
    out = build([USER], tools=[flat, builtin, bare])
    assert out["tools"] == [flat, builtin, {"type": "function", "name": "g",
                                            "parameters": {"type": "object", "properties": {}}, "strict": False}]


@pytest.mark.parametrize("choice", [
    "required", {"type": "function", "name": "f"},
    {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]}])
def test_tool_choice_already_in_responses_shape_passes_through(choice):
    assert build([USER], tool_choice=choice)["tool_choice"] == choice


def test_json_schema_format_defaults_and_description_and_a_flat_format_passes_through():
    nested = {"type": "json_schema", "json_schema": {"description": "A point.", "strict": None}}
    assert build([USER], response_format=nested)["text"] == {
        "format": {"type": "json_schema", "name": "response", "schema": {}, "description": "A point."}}
    flat = {"type": "json_schema", "name": "P", "schema": {"type": "object"}, "strict": True}
    assert build([USER], response_format=flat)["text"] == {"format": flat}
    assert build([USER], response_format={"type": "json_object"})["text"] == {"format": {"type": "json_object"}}


def test_verbosity_and_reasoning_summary_are_nested_where_the_api_wants_them():
    out = build([USER], verbosity="low", reasoning_summary="detailed", reasoning_effort="minimal",
                text={"format": {"type": "text"}})
    assert out["text"] == {"format": {"type": "text"}, "verbosity": "low"}
    assert out["reasoning"] == {"effort": "minimal", "summary": "detailed"}
    assert "verbosity" not in out and "reasoning_summary" not in out and "reasoning_effort" not in out
    assert "text" not in build([USER]) and "reasoning" not in build([USER])


def test_the_protocol_posts_to_responses_for_plain_and_streamed_calls():
    assert P.path("gpt-5-nano", False) == P.path("gpt-5-nano", True) == "/responses"
    assert P.label == "Responses API response"


# -- non-streamed answers ----------------------------------------------------------------------
def test_a_refusal_is_the_refusal_and_content_is_none():
    res = parse_responses_response(body(message({"type": "refusal", "refusal": "I can't"},
                                                {"type": "refusal", "refusal": " help"})), PROFILE)
    assert res.refusal == "I can't help" and res.content is None
    assert res.choices[0].index == 0 and res.choices[0].refusal == "I can't help"


def test_an_empty_output_is_empty_content_and_a_null_text_is_empty():
    assert parse_responses_response(body(), PROFILE).content == ""
    res = parse_responses_response(body(message({"type": "output_text", "text": None},
                                                {"type": "output_text", "text": "a"},
                                                {"type": "output_text", "text": "b"})), PROFILE)
    assert res.content == "ab" and res.refusal is None


def test_a_function_call_after_the_message_is_kept():
    res = parse_responses_response(body(message({"type": "output_text", "text": "Let me check."}),
                                        {"type": "function_call", "call_id": "c1", "arguments": "{}"}), PROFILE)
    assert res.content == "Let me check."
    assert [(t.id, t.name) for t in res.tool_calls] == [("c1", "")] and res.finish_reason == "tool_calls"


@pytest.mark.parametrize("details, reason", [({"reason": "content_filter"}, "content_filter"),
                                             ({"reason": "max_output_tokens"}, "length"), (None, "length")])
def test_an_incomplete_answer_says_why(details, reason):
    res = parse_responses_response(body(status="incomplete", incomplete_details=details), PROFILE)
    assert res.finish_reason == reason


def test_reasoning_summary_paragraphs_win_over_raw_text_and_empty_or_foreign_parts_are_skipped():
    item = {"type": "reasoning", "id": "rs_1",
            "summary": [{"type": "summary_text", "text": ""}, {"type": "summary_text", "text": "one"},
                        {"type": "other", "text": "not reasoning"}, {"text": "two"}],
            "content": [{"type": "reasoning_text", "text": "raw"}]}
    assert parse_responses_response(body(item), PROFILE).reasoning == "one\n\ntwo"


@pytest.mark.parametrize("output, where", [
    ([message("hello")], "output[0].content[0] must be object, got string 'hello'"),
    ([message({"type": "output_text", "text": "a", "annotations": "x"})], "annotations must be array or null"),
    ([message({"type": "refusal", "refusal": 5})], "output[0].content[0].refusal must be str or null"),
])
def test_a_malformed_part_is_named_in_the_error(output, where):
    with pytest.raises(APIResponseValidationError) as info:
        parse_responses_response(body(*output), PROFILE, "req_1")
    assert where in str(info.value)


def test_a_failed_response_says_what_the_server_said():
    with pytest.raises(LLMClientError, match="^the response failed: quota$"):
        parse_responses_response({"id": "r", "status": "failed", "error": "quota", "output": []}, PROFILE)


# -- streams -----------------------------------------------------------------------------------
def test_meta_is_sent_once_with_the_model_id_and_request_id():
    acc = ResponsesAccumulator(PROFILE, "req_1")
    events = feed(acc, created("resp_1", "m1"), {"type": "response.in_progress", "response": {"id": "resp_1",
                                                                                               "model": "m1"}})
    assert [(e.type, e.data) for e in events] == [(E.META, {"model": "m1", "id": "resp_1", "request_id": "req_1"})]


def test_the_completed_response_names_the_model_and_id_when_created_did_not():
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, created(None, None), {"type": "response.output_text.delta", "delta": "hi"},
                  completed(id="resp_7", model="gpt-x"))
    assert events[0].data == {"model": None, "id": None, "request_id": None}
    res = acc.result()
    assert (res.model, res.response_id, res.content, acc.finished) == ("gpt-x", "resp_7", "hi", True)


def test_a_completed_event_without_a_response_object_still_finishes():
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, {"type": "response.output_text.delta", "delta": "ok"}, {"type": "response.completed"})
    assert acc.finished and acc.result().content == "ok" and acc.result().finish_reason == "stop"
    assert [e.type for e in events] == [E.TOKEN, E.USAGE]


def test_refusal_deltas_join_and_a_null_delta_adds_nothing():
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, {"type": "response.refusal.delta", "delta": "I can't"},
                  {"type": "response.refusal.delta", "delta": None},
                  {"type": "response.refusal.delta", "delta": " help"}, completed())
    assert [e.type for e in events] == [E.USAGE]  # a refusal is no token
    res = acc.result()
    assert res.refusal == "I can't help" and res.content is None


def test_reasoning_deltas_without_an_index_and_with_a_null_delta():
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": "a"},
                  {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "delta": None},
                  {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 1,
                   "delta": "b"})
    assert [(e.type, e.data) for e in events] == [(E.REASONING, "a"), (E.REASONING, "\n\nb")]
    assert acc.result().reasoning == "a\n\nb"


def test_reasoning_items_done_without_deltas_give_their_summaries_once():
    acc = ResponsesAccumulator(PROFILE)
    r1 = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "first"}]}
    r2 = {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "second"}]}
    events = feed(acc, added(r1, 0), done(r1, 0), added(r2, 1), done(r2, 1))
    assert events == []  # reasoning items are not built-in tool items
    assert acc.result().reasoning == "first\n\nsecond"


def test_a_reasoning_item_done_after_its_deltas_is_not_counted_twice():
    acc = ResponsesAccumulator(PROFILE)
    r1 = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thought"}]}
    feed(acc, {"type": "response.reasoning_summary_text.delta", "item_id": "rs_1", "summary_index": 0,
               "delta": "thought"}, done(r1, 0), completed())
    res = acc.result()
    assert res.reasoning == "thought" and [i["id"] for i in res.output_items] == ["rs_1"]


def test_annotations_from_the_message_item_when_no_annotation_event_came():
    ann = {"type": "url_citation", "url": "https://e.x", "start_index": 0, "end_index": 2}
    acc = ResponsesAccumulator(PROFILE)
    msg = {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "Hi", "annotations": [ann]}]}
    events = feed(acc, {"type": "response.output_text.delta", "delta": "Hi"}, done(msg, 0), completed())
    assert [e.type for e in events] == [E.TOKEN, E.USAGE]
    res = acc.result()
    assert res.annotations == (ann,) and res.output_items == ()


def test_without_annotation_events_every_parts_annotations_are_kept_as_in_a_plain_answer():
    # a server that sends no annotation events: the stream keeps what the final response has
    a1, a2, a3 = ({"type": "url_citation", "url": f"https://e.x/{k}"} for k in range(3))
    m1 = {"type": "message", "id": "msg_1", "content": [{"type": "output_text", "text": "A", "annotations": [a1]},
                                                        {"type": "output_text", "text": "B", "annotations": [a2]}]}
    m2 = {"type": "message", "id": "msg_2", "content": [{"type": "output_text", "text": "C", "annotations": [a3]}]}
    acc = ResponsesAccumulator(PROFILE)
    feed(acc, done(m1, 0), done(m2, 1), completed(output=[m1, m2]))
    assert acc.result().annotations == (a1, a2, a3) == parse_responses_response(body(m1, m2), PROFILE).annotations
    # with annotation events, those are the annotations (the items' copies are not added again)
    acc = ResponsesAccumulator(PROFILE)
    feed(acc, {"type": "response.output_text.annotation.added", "item_id": "msg_1", "annotation": a2},
         done(m1, 0), completed())
    assert acc.result().annotations == (a2,)


def test_an_annotation_event_is_a_meta_event_naming_its_item():
    ann = {"type": "url_citation", "url": "https://e.x"}
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, {"type": "response.output_text.annotation.added", "item_id": "msg_1", "output_index": 2,
                        "annotation": ann})
    assert [(e.type, e.data) for e in events] == [
        (E.META, {"event": "annotation", "annotation": ann, "item_id": "msg_1", "output_index": 2})]


def test_built_in_tool_items_are_meta_events_and_kept_in_output_order():
    ws = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    fs = {"type": "file_search_call", "id": "fs_1", "status": "completed"}
    acc = ResponsesAccumulator(PROFILE)
    ci = {"type": "code_interpreter_call", "id": "ci"}
    events = feed(acc, added(ws, 3), done(fs, 5), done(ws, 3), done(ci, None))
    assert [(e.type, e.data) for e in events] == [
        (E.META, {"event": "output_item", "status": "added", "item": ws, "output_index": 3}),
        (E.META, {"event": "output_item", "status": "done", "item": fs, "output_index": 5}),
        (E.META, {"event": "output_item", "status": "done", "item": ws, "output_index": 3}),
        (E.META, {"event": "output_item", "status": "done", "item": ci, "output_index": 2})]
    assert [i["id"] for i in acc.result().output_items] == ["ci", "ws_1", "fs_1"]


def test_a_function_call_starts_with_its_name_and_ends_when_its_item_is_done():
    acc = ResponsesAccumulator(PROFILE, "req_1")
    feed(acc, created())
    events = feed(acc, added(fcall("fc_1", "call_1", "get_weather"), 1),
                  {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"city":'},
                  {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": None},
                  {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '"Oslo"}'})
    assert [(e.type, e.data) for e in events] == [
        (E.TOOL_CALL_START, {"index": 0, "id": "call_1", "name": "get_weather"}),
        (E.TOOL_CALL_DELTA, {"index": 0, "arguments": '{"city":'}),
        (E.TOOL_CALL_DELTA, {"index": 0, "arguments": '"Oslo"}'})]
    ended = feed(acc, done(fcall("fc_1", "call_1", "get_weather", '{"city":"Oslo"}'), 1))
    assert [(e.type, e.data.id, e.data.name, dict(e.data.arguments)) for e in ended] == [
        (E.TOOL_CALL_END, "call_1", "get_weather", {"city": "Oslo"})]
    assert [e.type for e in feed(acc, completed())] == [E.USAGE]  # ended once


def test_the_name_and_arguments_the_done_item_carries_are_authoritative():
    acc = ResponsesAccumulator(PROFILE)
    start = feed(acc, added({"type": "function_call", "id": "fc_1", "call_id": "c1"}))
    assert start[0].data == {"index": 0, "id": "c1", "name": ""}
    feed(acc, {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"a"'})
    ended = feed(acc, done(fcall("fc_1", "c1", "late_name", '{"a": 1}')))
    assert [(t.data.name, dict(t.data.arguments)) for t in ended] == [("late_name", {"a": 1})]


def test_arguments_done_is_the_full_text_when_the_stream_ends_without_the_item_done():
    acc = ResponsesAccumulator(PROFILE)
    feed(acc, added(fcall("fc_1", "c1")),
         {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": '{"a"'},
         {"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": '{"a": 2}'},
         {"type": "response.function_call_arguments.done", "item_id": "fc_1"},
         {"type": "response.function_call_arguments.done", "item_id": "fc_unknown", "arguments": "{}"})
    ends = [e.data for e in feed(acc, completed()) if e.type is E.TOOL_CALL_END]
    assert [(t.id, dict(t.arguments), t.raw_arguments) for t in ends] == [("c1", {"a": 2}, '{"a": 2}')]


def test_repeated_call_ids_are_made_unique_the_same_way_as_in_a_plain_answer():
    raw = ["c_2", "c", "c"]
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, created(), *[added(fcall(f"fc_{k}", cid, arguments="{}"), k) for k, cid in enumerate(raw)],
                  completed())
    starts = [e.data["id"] for e in events if e.type is E.TOOL_CALL_START]
    assert starts == ["c_2", "c", "c_2_2"]
    plain = parse_responses_response(body(*[fcall(f"fc_{k}", cid, arguments="{}") for k, cid in enumerate(raw)]),
                                     PROFILE)
    assert [t.id for t in plain.tool_calls] == starts
    acc = ResponsesAccumulator(PROFILE)
    events = feed(acc, *[added(fcall(f"fc_{k}", "c", arguments="{}"), k) for k in range(2)])
    assert [e.data["id"] for e in events if e.type is E.TOOL_CALL_START] == ["c", "c_1"]


@pytest.mark.parametrize("event, message", [
    ({"type": "response.failed", "response": {"error": {"message": "boom"}}}, "error event in stream: boom"),
    ({"type": "error", "code": "server_error", "message": None}, "error event in stream: server_error"),
    ({"error": {"message": "rate limited upstream"}}, "error event in stream: rate limited upstream"),
    ({"type": "response.failed", "response": None, "error": "gone"}, "error event in stream: gone"),
])
def test_error_events_raise_with_the_servers_message(event, message):
    acc = ResponsesAccumulator(PROFILE, "req_e")
    feed(acc, {"type": "response.output_text.delta", "delta": "so far"})
    with pytest.raises(StreamError) as info:
        feed(acc, event)
    assert str(info.value) == message
    assert info.value.partial.content == "so far" and info.value.request_id == "req_e"


def test_a_failed_response_keeps_its_usage_on_the_partial():
    acc = ResponsesAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, {"type": "response.failed", "response": {"error": {"message": "boom"},
                                                           "usage": {"input_tokens": 4, "output_tokens": 1}}})
    assert info.value.partial.usage.prompt_tokens == 4 and info.value.partial.usage.total_tokens == 5


@pytest.mark.parametrize("event, where", [
    ({"type": "response.output_text.delta", "delta": 5}, "delta must be str or null, got number 5"),
    ({"type": "response.reasoning_text.delta", "item_id": "rs", "delta": 5}, "delta must be str or null"),
    ({"type": "response.function_call_arguments.delta", "item_id": "fc", "delta": 5}, "delta must be str or null"),
    ({"type": "response.created", "response": {"id": 5}}, "response.id must be str or null"),
    ({"type": "response.completed", "response": {"id": 5}}, "response.id must be str or null"),
    ({"type": "response.output_item.done", "item": {"type": 5}}, "item.type must be str or null"),
    (added({"type": "function_call", "id": "fc", "arguments": 5}), "item.arguments must be a JSON string, got int"),
])
def test_a_malformed_event_names_the_field(event, where):
    acc = ResponsesAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, event)
    assert where in str(info.value)
