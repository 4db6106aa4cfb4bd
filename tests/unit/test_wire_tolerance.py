"""Shapes OpenAI-compatible servers send that differ from api.openai.com, accepted by the parsers;
and structured output through the tools' one schema generator and converter."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Optional, TypedDict

import pytest

from llm_client_sync import CompletionResult, StreamError, StreamEventType as E, StructuredOutputError, get_profile
from llm_client_sync._sse import SSEDecoder, ServerSentEvent
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.providers._params import parse_structured, response_format_spec, with_parsed
from llm_client_sync.providers._responses import ResponsesAccumulator, parse_responses_response
from llm_client_sync.types import ToolCall

PROFILE = get_profile("gpt-5-nano")
SYNTH = re.compile(r"^call_\d+_[0-9a-f]{8}$")


def _feed(acc, chunks):
    events = []
    for c in chunks:
        events.extend(acc.feed(ServerSentEvent(c if isinstance(c, str) else json.dumps(c))))
    return events


def _tc(**kw):
    fn = {k: kw.pop(k) for k in ("name", "arguments") if k in kw}
    return {**kw, "type": "function", "function": fn}


def _chunk(*tool_calls, finish=None, content=None, usage=None, cid="chatcmpl-9"):
    delta = {}
    if tool_calls:
        delta["tool_calls"] = list(tool_calls)
    if content is not None:
        delta["content"] = content
    out = {"id": cid, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = usage
    return out


def _stream(chunks):
    acc = ChatAccumulator(PROFILE, "req_t")
    events = _feed(acc, chunks)
    return acc, events, acc.result()


def _two_calls_assertions(res, events, names=("get_weather", "get_time")):
    assert [c.name for c in res.tool_calls] == list(names)
    assert [dict(c.arguments) for c in res.tool_calls] == [{"city": "Paris"}, {"tz": "CET"}]
    assert all(c.arguments_error is None for c in res.tool_calls)
    ids = [c.id for c in res.tool_calls]
    assert len(set(ids)) == 2 and all(ids)
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert [c.id for c in ends] == ids
    starts = [e.data for e in events if e.type is E.TOOL_CALL_START]
    assert [s["index"] for s in starts] == [0, 1] and [s["id"] for s in starts] == ids


def test_tool_calls_without_index_split_on_a_new_id():
    _, events, res = _stream([
        _chunk(_tc(id="a", name="get_weather", arguments="")), _chunk(_tc(arguments='{"city": "Paris"}')),
        _chunk(_tc(id="b", name="get_time", arguments='{"tz":')), _chunk(_tc(arguments=' "CET"}')),
        _chunk(finish="tool_calls"), "[DONE]"])
    _two_calls_assertions(res, events)
    assert [c.id for c in res.tool_calls] == ["a", "b"]


def test_index_zero_repeated_for_parallel_calls_with_ids():
    _, events, res = _stream([
        _chunk(_tc(index=0, id="a", name="get_weather", arguments='{"city": ')), _chunk(_tc(index=0, arguments='"Paris"}')),
        _chunk(_tc(index=0, id="b", name="get_time", arguments='{"tz": "CET"}')), _chunk(finish="tool_calls"), "[DONE]"])
    _two_calls_assertions(res, events)


def test_index_zero_repeated_without_ids_splits_on_a_new_name():
    _, events, res = _stream([
        _chunk(_tc(index=0, name="get_weather", arguments="")), _chunk(_tc(index=0, arguments='{"city": "Paris"}')),
        _chunk(_tc(index=0, name="get_time", arguments="")), _chunk(_tc(index=0, arguments='{"tz": "CET"}')),
        _chunk(finish="tool_calls"), "[DONE]"])
    _two_calls_assertions(res, events)
    assert all(SYNTH.match(c.id) for c in res.tool_calls)


def test_same_function_twice_without_ids_splits_after_a_complete_object():
    _, events, res = _stream([
        _chunk(_tc(index=0, name="get_weather", arguments='{"city": "Paris"}')),
        _chunk(_tc(index=0, name="get_weather", arguments='{"city": "Rome"}')), _chunk(finish="tool_calls")])
    assert [dict(c.arguments) for c in res.tool_calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert len({c.id for c in res.tool_calls}) == 2


def test_nested_object_fragment_does_not_split_a_call():
    _, _, res = _stream([
        _chunk(_tc(index=0, id="a", name="f", arguments='{"a": ')), _chunk(_tc(index=0, arguments='{"b": 1}')),
        _chunk(_tc(index=0, arguments="}")), _chunk(finish="tool_calls")])
    assert len(res.tool_calls) == 1 and dict(res.tool_calls[0].arguments) == {"a": {"b": 1}}


def test_id_and_name_resent_on_every_fragment_is_one_call():
    _, events, res = _stream([
        _chunk(_tc(index=0, id="call_1", name="get_weather", arguments="")),
        _chunk(_tc(index=0, id="call_1", name="get_weather", arguments='{"city"')),
        _chunk(_tc(index=0, id="call_1", name="get_weather", arguments=': "Paris"}')),
        _chunk(finish="tool_calls"), "[DONE]"])
    assert len(res.tool_calls) == 1
    assert res.tool_calls[0].id == "call_1" and dict(res.tool_calls[0].arguments) == {"city": "Paris"}
    assert sum(e.type is E.TOOL_CALL_START for e in events) == 1


def test_streamed_calls_with_the_same_id_are_made_unique():
    _, _, res = _stream([
        _chunk(_tc(index=0, id="dup", name="f", arguments='{"x": 1}')),
        _chunk(_tc(index=1, id="dup", name="g", arguments='{"y": 2}')), _chunk(finish="tool_calls")])
    assert [c.name for c in res.tool_calls] == ["f", "g"]
    assert res.tool_calls[0].id == "dup" and res.tool_calls[1].id != "dup"


def test_arguments_key_missing_or_null_on_the_first_fragment():
    _, _, res = _stream([
        _chunk({"index": 0, "id": "a", "type": "function", "function": {"name": "f"}}),
        _chunk({"index": 0, "function": {"arguments": None}}), _chunk(_tc(index=0, arguments="{}")),
        _chunk(finish="tool_calls")])
    assert len(res.tool_calls) == 1 and res.tool_calls[0].raw_arguments == "{}"


def test_gemini_thought_signature_is_kept_and_sent_back_streamed():
    sig = {"google": {"thought_signature": "c2lnbmF0dXJl"}}
    _, _, res = _stream([
        _chunk(_tc(index=0, id="", name="get_time", arguments="{}") | {"extra_content": sig}),
        _chunk(finish="tool_calls")])
    call = res.tool_calls[0]
    assert SYNTH.match(call.id)
    assert call.to_openai()["extra_content"] == sig
    assert res.to_message()["tool_calls"][0]["extra_content"] == sig
    assert ToolCall.from_dict(call.to_dict()) == call
    assert CompletionResult.from_dict(res.to_dict()).tool_calls[0].extra_content == sig


def test_reasoning_content_and_reasoning_deltas_are_reasoning_events():
    for key in ("reasoning_content", "reasoning"):
        _, events, res = _stream([
            {"id": "x", "choices": [{"index": 0, "delta": {key: "think "}}]},
            {"id": "x", "choices": [{"index": 0, "delta": {key: "more"}}]},
            _chunk(content="answer", finish="stop"), "[DONE]"])
        assert [e.data for e in events if e.type is E.REASONING] == ["think ", "more"]
        assert res.reasoning == "think more" and res.content == "answer"


def test_done_with_trailing_whitespace_finishes():
    acc, _, res = _stream([_chunk(content="hi", finish="stop"), "[DONE]  \r"])
    assert acc.finished and res.content == "hi"


def test_complete_without_done_only_when_every_choice_finished():
    acc, _, _ = _stream([_chunk(content="hi")])
    assert not acc.finished and not acc.complete_without_done
    acc.feed(ServerSentEvent(json.dumps(_chunk(finish="eos"))))
    assert acc.complete_without_done and acc.result().finish_reason == "eos"
    assert not ResponsesAccumulator(PROFILE).complete_without_done


def test_usage_on_a_chunk_with_choices_and_missing_fields_are_none():
    _, events, res = _stream([
        {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "eos"}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4, "prompt_tokens_details": None}}])
    assert res.usage.total_tokens == 4 and res.finish_reason == "eos"
    assert res.model is None and res.response_id is None


def test_non_stream_missing_and_duplicate_ids_become_unique_and_stable():
    body = {"id": "resp-a", "created": 1, "model": "llama3", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": None, "tool_calls": [
                _tc(id="", name="f", arguments="{}"), _tc(name="g", arguments={"q": 1}),
                _tc(id="same", name="h", arguments="{}"), _tc(id="same", name="k", arguments="{}")]}}]}
    res = parse_chat_response(body, PROFILE)
    ids = [c.id for c in res.tool_calls]
    assert len(set(ids)) == 4 and SYNTH.match(ids[0]) and SYNTH.match(ids[1]) and ids[2] == "same"
    assert dict(res.tool_calls[1].arguments) == {"q": 1}  # an object instead of a JSON string
    assert [tc["id"] for tc in res.to_message()["tool_calls"]] == ids
    assert [c.id for c in parse_chat_response(body, PROFILE).tool_calls] == ids  # same body, same ids
    other = parse_chat_response({**body, "id": "resp-b"}, PROFILE)
    assert other.tool_calls[0].id != ids[0]


def test_gemini_message_level_signature_goes_back_on_the_first_call():
    sig = {"google": {"thought_signature": "AVSo"}}
    body = {"id": "g", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "extra_content": sig, "tool_calls": [_tc(id="", name="now", arguments="{}")]}}]}
    res = parse_chat_response(body, PROFILE)
    assert res.to_message()["tool_calls"][0]["extra_content"] == sig


def test_content_as_a_list_of_parts_and_annotations_kept():
    body = {"id": "x", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "annotations": [{"type": "url_citation", "url_citation": {"url": "https://e.x"}}]}}]}
    res = parse_chat_response(body, PROFILE)
    assert res.content == "ab" and res.annotations[0]["type"] == "url_citation"


# -- Responses ---------------------------------------------------------------------------------
def _resp_stream(events):
    acc = ResponsesAccumulator(PROFILE, "req_r")
    out = _feed(acc, events)
    return acc, out, acc.result()


def test_responses_raw_reasoning_text_annotations_and_builtin_tools():
    ws = {"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}}
    ann = {"type": "url_citation", "url": "https://e.x", "start_index": 0, "end_index": 2, "title": "E"}
    done = {"id": "resp_1", "status": "completed", "model": "m", "output": [ws],
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}}
    acc, events, res = _resp_stream([
        {"type": "response.created", "response": {"id": "resp_1", "model": "m"}},
        {"type": "response.reasoning_text.delta", "item_id": "rs_1", "content_index": 0, "delta": "raw "},
        {"type": "response.reasoning_text.delta", "item_id": "rs_1", "content_index": 0, "delta": "thought"},
        {"type": "response.output_item.added", "output_index": 1, "item": {**ws, "status": "in_progress"}},
        {"type": "response.web_search_call.searching", "item_id": "ws_1"},
        {"type": "response.output_item.done", "output_index": 1, "item": ws},
        {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hi"},
        {"type": "response.output_text.annotation.added", "item_id": "msg_1", "annotation": ann},
        {"type": "response.completed", "response": done}, "[DONE]"])
    assert [e.data for e in events if e.type is E.REASONING] == ["raw ", "thought"]
    assert res.reasoning == "raw thought" and res.content == "Hi"
    metas = [e.data for e in events if e.type is E.META]
    assert [m.get("event") for m in metas] == [None, "output_item", "output_item", "annotation"]
    assert metas[2]["item"]["type"] == "web_search_call" and metas[3]["annotation"] == ann
    assert res.annotations == (ann,) and [i["type"] for i in res.output_items] == ["web_search_call"]
    assert res.raw["output"][0]["id"] == "ws_1"  # the final response object is kept


def test_responses_non_stream_keeps_builtin_items_annotations_and_raw_reasoning():
    body = {"id": "r", "status": "completed", "output": [
        {"type": "reasoning", "id": "rs", "summary": [], "content": [{"type": "reasoning_text", "text": "hmm"}]},
        {"type": "file_search_call", "id": "fs", "queries": ["q"], "status": "completed"},
        {"type": "message", "content": [{"type": "output_text", "text": "ok",
                                         "annotations": [{"type": "file_citation", "file_id": "f"}]}]}]}
    res = parse_responses_response(body, PROFILE)
    assert res.reasoning == "hmm" and res.content == "ok"
    assert [i["type"] for i in res.output_items] == ["reasoning", "file_search_call"]
    assert res.annotations[0]["file_id"] == "f"


def test_responses_missing_call_ids_get_unique_ids_also_in_the_items_sent_back():
    body = {"id": "r", "status": "completed", "output": [
        {"type": "function_call", "id": "fc_1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "id": "fc_2", "call_id": "", "name": "g", "arguments": "{}"}]}
    res = parse_responses_response(body, PROFILE)
    ids = [c.id for c in res.tool_calls]
    assert len(set(ids)) == 2 and all(SYNTH.match(i) for i in ids)
    assert [i["call_id"] for i in res.output_items] == ids


def test_responses_stream_missing_call_id_is_synthetic_and_consistent():
    item = {"type": "function_call", "id": "fc_1", "name": "f", "arguments": ""}
    _, events, res = _resp_stream([
        {"type": "response.created", "response": {"id": "resp_9"}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"},
        {"type": "response.output_item.done", "output_index": 0, "item": {**item, "arguments": "{}"}},
        {"type": "response.completed", "response": {"id": "resp_9", "status": "completed"}}])
    cid = res.tool_calls[0].id
    assert SYNTH.match(cid) and res.output_items[0]["call_id"] == cid
    assert [e.data["id"] for e in events if e.type is E.TOOL_CALL_START] == [cid]


# -- structured output: one generator, one converter, typed errors ------------------------------
@dataclasses.dataclass
class Point:
    pair: tuple[int, str]
    counts: dict[str, int]
    label: Optional[str] = None


@dataclasses.dataclass
class Strict:
    name: str
    pair: tuple[int, str]


class Movie(TypedDict):
    title: str
    year: int


def test_tuple_keeps_every_element_in_the_schema():
    spec, target = response_format_spec(Strict)
    schema = spec["json_schema"]["schema"]
    assert target is Strict and spec["json_schema"]["strict"] is True
    assert schema["properties"]["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert schema["additionalProperties"] is False and schema["required"] == ["name", "pair"]


def test_free_form_dict_field_is_sent_non_strict_instead_of_breaking_strict_mode():
    spec, _ = response_format_spec(Point)
    js = spec["json_schema"]
    assert js["strict"] is False
    assert js["schema"]["properties"]["counts"] == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_structured_output_converts_with_the_tools_converter():
    p = parse_structured('{"pair": [1, "a"], "counts": {"x": 2}}', Point)
    assert p == Point(pair=(1, "a"), counts={"x": 2}, label=None)
    assert parse_structured('{"title": "Up", "year": 2009}', Movie) == {"title": "Up", "year": 2009}


@pytest.mark.parametrize("text,needle", [
    ('{"name": "a"}', "pair"),                   # a missing field
    ('{"name": "a", "pair": [1, 2]}', "pair"),   # a wrong type
    ('{"name": "a", "pair": [1, "x"', "not valid JSON"),
    ("[" * 100_000, "not valid JSON"),
])
def test_structured_output_that_does_not_fit_is_a_typed_error_with_the_raw_text(text, needle):
    with pytest.raises(StructuredOutputError) as info:
        parse_structured(text, Strict)
    assert needle in str(info.value) and info.value.raw_text == text


def _result(**kw):
    return CompletionResult(**{"content": None, "finish_reason": "stop", **kw})


def test_refusal_keeps_parsed_none_and_is_not_an_error():
    r = with_parsed(_result(refusal="I can't help with that"), Strict)
    assert r.parsed is None and r.refusal


def test_empty_reply_without_refusal_is_an_error_not_a_silent_none():
    with pytest.raises(StructuredOutputError, match="no content") as info:
        with_parsed(_result(content=""), Strict)
    assert info.value.result is not None


def test_truncated_structured_output_says_it_was_cut_off():
    with pytest.raises(StructuredOutputError, match="cut off") as info:
        with_parsed(_result(content='{"name": "a", "pa', finish_reason="length"), Strict)
    assert info.value.result.content == '{"name": "a", "pa'


def test_sse_decoder_feeds_done_without_blank_line_as_pending():
    # documents the seam: the decoder holds an unterminated "data: [DONE]"; the accumulator's
    # complete_without_done decides that such a stream finished
    dec = SSEDecoder()
    acc = ChatAccumulator(PROFILE)
    for sse in dec.feed(b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}\n\ndata: [DONE]'):
        acc.feed(sse)
    assert dec.pending and not acc.finished and acc.complete_without_done
    with pytest.raises(StreamError):
        ChatAccumulator(PROFILE).feed(ServerSentEvent("[DONE]"))


# -- one parser per wire protocol, also for Batch API output --------------------------------------
def test_batch_output_is_parsed_by_the_same_parsers_as_complete():
    from types import SimpleNamespace

    from llm_client_sync.batch.api import parse_batch_output

    chat = {"id": "c", "object": "chat.completion", "model": "gpt-5-nano", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "a"}},
        {"index": 1, "finish_reason": "length", "message": {"role": "assistant", "content": "b"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    resp = {"id": "r", "object": "response", "status": "completed", "model": "gpt-5-nano", "output": [
        {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": "why"}]},
        {"type": "function_call", "id": "fc", "call_id": "call_1", "name": "f", "arguments": "{}"}]}
    bad = {"id": "x", "object": "chat.completion", "choices": None}
    lines = [{"custom_id": k, "response": {"status_code": 200, "request_id": "req_b", "body": b}}
             for k, b in (("chat", chat), ("resp", resp), ("bad", bad))]
    out = parse_batch_output(SimpleNamespace(profile=PROFILE),
                             b"\n".join(json.dumps(line).encode() for line in lines))
    got, want = out["chat"][0], parse_chat_response(chat, PROFILE, "req_b")
    assert [c.finish_reason for c in got.choices] == ["stop", "length"] == [c.finish_reason for c in want.choices]
    got = out["resp"][0]
    assert got.finish_reason == "tool_calls" and [i["type"] for i in got.output_items] == ["reasoning", "function_call"]
    assert got.reasoning == "why" and got.tool_calls[0].id == "call_1"
    assert out["bad"][0] is None and "choices" in str(out["bad"][1])


def test_same_id_resending_its_whole_arguments_is_not_a_second_call():
    _, events, res = _stream([
        _chunk(_tc(index=0, id="a", name="f", arguments='{"x": ')), _chunk(_tc(index=0, arguments="1}")),
        _chunk(_tc(index=0, id="a", name="f", arguments='{"x": 1}')), _chunk(finish="tool_calls")])
    assert len(res.tool_calls) == 1 and dict(res.tool_calls[0].arguments) == {"x": 1}
    assert sum(e.type is E.TOOL_CALL_END for e in events) == 1


def test_text_response_format_parses_nothing_and_json_formats_parse_dicts():
    assert response_format_spec({"type": "text"}) == ({"type": "text"}, None)
    spec, target = response_format_spec({"type": "json_object"})
    assert target is dict and with_parsed(_result(content='{"a": 1}'), target).parsed == {"a": 1}
    with pytest.raises(StructuredOutputError):
        with_parsed(_result(content="not json"), target)


def test_responses_turn_after_an_anthropic_or_gemini_turn_drops_their_state():
    """A chain or Agent may answer one turn with Anthropic/Gemini and the next with api="responses":
    the other protocols' kept state is not sent to /v1/responses (it would be refused)."""
    from llm_client_sync.models import get_profile
    from llm_client_sync.providers._responses import ResponsesProtocol

    history = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
         "output_items": [{"type": "anthropic_content", "content": [{"type": "thinking", "thinking": "t",
                                                                      "signature": "sig"}]},
                          {"type": "gemini_content", "parts": [{"text": "x", "thoughtSignature": "s"}]}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
    ]
    body = ResponsesProtocol().build(get_profile("gpt-5-nano"), history, {})
    kinds = [item.get("type") or item.get("role") for item in body["input"]]
    assert "anthropic_content" not in kinds and "gemini_content" not in kinds
    assert "function_call" in kinds and "function_call_output" in kinds
