"""The chat stream accumulator's edges: the events it emits (their order, indexes and payloads),
choices out of order, tool-call fragments that open, continue, split or repeat a call, ids made
unique, and what ``[DONE]``/error events do (written to kill the mutants mutmut left alive in
``ChatAccumulator`` and its helpers in ``providers/_chat.py``)."""

from __future__ import annotations

import json
import re

import pytest

from llm_client_sync import StreamError, StreamEventType as E, get_profile
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.providers._chat import ChatAccumulator

PROFILE = get_profile("gpt-5-nano")


def feed(acc, *chunks):
    events = []
    for c in chunks:
        events.extend(acc.feed(ServerSentEvent(c if isinstance(c, str) else json.dumps(c))))
    return events


def chunk(*choices, usage=None, cid="chatcmpl-1", model="m", created=7):
    out = {"id": cid, "model": model, "created": created, "choices": list(choices)}
    if usage is not None:
        out["usage"] = usage
    return out


def ch(index=0, finish=None, **delta):
    return {"index": index, "delta": delta, "finish_reason": finish}


def tc(index=None, id=None, name=None, arguments=None, **extra):
    out = {"type": "function", "function": {}, **extra}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
    if name is not None:
        out["function"]["name"] = name
    if arguments is not None:
        out["function"]["arguments"] = arguments
    return out


def kinds(events):
    return [(e.type, e.data, e.choice) for e in events if e.type is not E.META]


def test_meta_is_sent_once_with_the_first_chunks_model_and_id():
    acc = ChatAccumulator(PROFILE, "req_1")
    events = feed(acc, chunk(ch(content="a"), model="m1", cid="c1"), chunk(ch(content="b"), model="m2", cid="c2"))
    metas = [e.data for e in events if e.type is E.META]
    assert metas == [{"model": "m1", "id": "c1", "request_id": "req_1"}]
    res = acc.result()
    assert res.content == "ab" and res.model == "m1" and res.response_id == "c1" and res.request_id == "req_1"


def test_complete_without_done_needs_every_choice_finished():
    acc = ChatAccumulator(PROFILE)
    assert acc.complete_without_done is False
    feed(acc, chunk(ch(0, content="a"), ch(1, content="b")))
    assert acc.complete_without_done is False
    feed(acc, chunk(ch(1, finish="stop")))
    assert acc.complete_without_done is False
    feed(acc, chunk(ch(0, finish="length")))
    assert acc.complete_without_done is True
    assert acc.finished is False  # only [DONE] marks it finished


@pytest.mark.parametrize("done", ["[DONE]", " [DONE]\n", "[DONE]  "])
def test_done_ends_open_calls_of_every_choice_in_choice_order(done):
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(1, tool_calls=[tc(0, "b1", "f", "{}")]), ch(0, tool_calls=[tc(0, "a1", "g", '{"x": 1}')])))
    events = feed(acc, done)
    assert acc.finished is True
    assert [(e.type, e.data.id, e.data.name, e.choice) for e in events] == [
        (E.TOOL_CALL_END, "a1", "g", 0), (E.TOOL_CALL_END, "b1", "f", 1)]
    assert feed(acc, "[DONE]") == []  # each call ends once


def test_done_without_choices_is_a_stream_error_with_the_partial():
    acc = ChatAccumulator(PROFILE, "req_9")
    feed(acc, chunk(usage={"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}))
    with pytest.raises(StreamError, match="without any answer") as info:
        feed(acc, "[DONE]")
    assert info.value.partial is not None and info.value.partial.usage.prompt_tokens == 3
    assert info.value.request_id == "req_9"


@pytest.mark.parametrize("event, message", [
    ({"error": {"message": "overloaded", "code": 529}}, "error event in stream: overloaded"),
    ({"error": {"code": 500}}, "error event in stream: {'code': 500}"),
    ({"error": "rate limited"}, "error event in stream: rate limited"),
    ({"object": "error", "message": "bad model"}, "error event in stream: bad model"),
])
def test_error_events_raise_with_the_servers_message_and_the_partial(event, message):
    acc = ChatAccumulator(PROFILE, "req_e")
    feed(acc, chunk(ch(content="so far")))
    with pytest.raises(StreamError) as info:
        feed(acc, event)
    assert str(info.value).startswith(message)
    assert info.value.partial.content == "so far" and info.value.request_id == "req_e"
    assert info.value.body == event


def test_choices_arrive_in_any_order_and_assemble_by_index():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc,
                  chunk(ch(2, content="c", reasoning_content="r2"), ch(1, content="b", reasoning_content="r1")),
                  chunk(ch(1, finish="stop"), ch(2, finish="length")))
    assert [(e.data, e.choice) for e in events if e.type is E.TOKEN] == [("c", 2), ("b", 1)]
    assert [(e.data, e.choice) for e in events if e.type is E.REASONING] == [("r2", 2), ("r1", 1)]
    res = acc.result()
    assert [(c.index, c.content, c.finish_reason) for c in res.choices] == [(1, "b", "stop"), (2, "c", "length")]
    assert res.reasoning == "r1"  # from the first choice (by index) that reasoned


def test_reasoning_from_a_later_choice_when_the_first_has_none():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(0, content="a"), ch(1, content="b", reasoning="why"), ch(2, reasoning="other")))
    assert acc.result().reasoning == "why"


def test_annotations_come_from_the_lowest_choice():
    a0, a1 = {"type": "url_citation", "url": "u0"}, {"type": "url_citation", "url": "u1"}
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(1, content="x", annotations=[a1]), ch(0, content="y", annotations=[a0])),
         chunk(ch(0, annotations=[a1])))
    assert [dict(a)["url"] for a in acc.result().annotations] == ["u0", "u1"]


def test_no_choices_yet_is_an_empty_result():
    acc = ChatAccumulator(PROFILE)
    res = acc.result()
    assert res.choices == () or list(res.choices) == []
    assert tuple(res.annotations) == () and res.reasoning is None


def test_content_with_role_and_other_fields_handles_every_field():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(role="assistant", content="hi", reasoning_content="think")),
                  chunk(ch(content="!", refusal="no")),
                  chunk(ch(role="assistant", content="?", tool_calls=[tc(0, "c1", "f", "{}")])))
    assert kinds(events)[:2] == [(E.TOKEN, "hi", 0), (E.REASONING, "think", 0)]
    res = acc.result()
    assert res.content == "hi!?" and res.choices[0].refusal == "no" and [c.id for c in res.tool_calls] == ["c1"]


def test_reasoning_content_wins_over_reasoning_and_an_object_reasoning_is_no_text():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(reasoning_content="rc", reasoning="r")),
                  chunk(ch(reasoning={"effort": "low"})), chunk(ch(reasoning="plain")))
    assert [e.data for e in events if e.type is E.REASONING] == ["rc", "plain"]
    assert acc.result().reasoning == "rcplain"


def test_a_refusal_leaves_content_none_and_no_answer_leaves_it_empty():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(0, refusal="I can't"), ch(1, refusal=""), ch(1, finish="stop")), chunk(ch(0, refusal=" help")))
    c0, c1 = acc.result().choices
    assert (c0.content, c0.refusal) == (None, "I can't help")
    assert (c1.content, c1.refusal) == ("", None)


def test_an_empty_finish_reason_does_not_finish_the_choice():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(content="a", tool_calls=[tc(0, "c", "f", "{}")])))
    events = feed(acc, chunk(ch(finish="")))
    assert events == [] and acc.complete_without_done is False
    assert acc.result().choices[0].finish_reason is None
    events = feed(acc, chunk(ch(finish="tool_calls")))
    assert [e.type for e in events] == [E.TOOL_CALL_END] and acc.complete_without_done is True


def test_usage_event_only_when_usage_is_given():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(content="a"), usage={}), chunk(ch(content="b"), usage=None))
    assert [e.type for e in events if e.type is E.USAGE] == []
    events = feed(acc, chunk(usage={"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}))
    assert [(e.type, e.data.completion_tokens) for e in events] == [(E.USAGE, 5)]
    assert acc.result().usage.total_tokens == 7


def test_choice_index_given_as_digits_and_missing_index():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk({"index": "1", "delta": {"content": "b"}}, {"delta": {"content": "a"}}))
    assert [(c.index, c.content) for c in acc.result().choices] == [(0, "a"), (1, "b")]


def test_content_as_a_list_of_parts():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(content=[{"type": "text", "text": "he"}, {"type": "text", "text": "llo"}])))
    assert kinds(events) == [(E.TOKEN, "hello", 0)]


def test_parallel_calls_carry_their_position_in_every_event():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc,
                  chunk(ch(tool_calls=[tc(0, "a", "f", '{"x"')])),
                  chunk(ch(tool_calls=[tc(0, arguments=": 1}")])),
                  chunk(ch(tool_calls=[tc(1, "b", "g", '{"y"')])),
                  chunk(ch(tool_calls=[tc(1, arguments=": 2}")])),
                  chunk(ch(finish="tool_calls")))
    got = kinds(events)
    assert got[:3] == [
        (E.TOOL_CALL_START, {"index": 0, "id": "a", "name": "f"}, 0),
        (E.TOOL_CALL_DELTA, {"index": 0, "arguments": '{"x"'}, 0),
        (E.TOOL_CALL_DELTA, {"index": 0, "arguments": ": 1}"}, 0),
    ]
    assert got[4:7] == [(E.TOOL_CALL_START, {"index": 1, "id": "b", "name": "g"}, 0),
                        (E.TOOL_CALL_DELTA, {"index": 1, "arguments": '{"y"'}, 0),
                        (E.TOOL_CALL_DELTA, {"index": 1, "arguments": ": 2}"}, 0)]
    # the first call ended when the second opened; the second ends at the finish
    ends = [(e.data.id, dict(e.data.arguments)) for e in events if e.type is E.TOOL_CALL_END]
    assert ends == [("a", {"x": 1}), ("b", {"y": 2})]
    assert got[3][0] is E.TOOL_CALL_END and got[3][1].id == "a"
    assert [(c.id, c.name, dict(c.arguments)) for c in acc.result().tool_calls] == [
        ("a", "f", {"x": 1}), ("b", "g", {"y": 2})]


def test_calls_without_index_split_on_a_new_name_and_on_a_second_json_object():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc,
                  chunk(ch(tool_calls=[tc(name="f", arguments='{"a": 1}')])),
                  chunk(ch(tool_calls=[tc(name="g", arguments='{"b": 2}')])),
                  chunk(ch(tool_calls=[tc(arguments=' {"c": 3}')])),
                  chunk(ch(tool_calls=[tc(arguments='{"d"')])),
                  chunk(ch(tool_calls=[tc(arguments=': 4}')])), "[DONE]")
    calls = acc.result().tool_calls
    assert [(c.name, dict(c.arguments)) for c in calls] == [
        ("f", {"a": 1}), ("g", {"b": 2}), ("g", {"c": 3}), ("g", {"d": 4})]
    starts = [e.data["index"] for e in events if e.type is E.TOOL_CALL_START]
    assert starts == [0, 1, 2, 3]
    assert len({c.id for c in calls}) == 4 and all(c.id.startswith("call_") for c in calls)


def test_synthetic_ids_are_stable_for_one_response_and_differ_across_responses():
    def ids(cid, created):
        acc = ChatAccumulator(PROFILE)
        feed(acc, chunk(ch(tool_calls=[tc(0, name="f", arguments="{}"), tc(1, name="g", arguments="{}")]),
                        cid=cid, created=created))
        return [c.id for c in acc.result().tool_calls]

    first = ids("r1", 1)
    assert first == ids("r1", 1)
    assert first != ids("r2", 1) and first != ids("r1", 2)
    assert first[0].startswith("call_0_") and first[1].startswith("call_1_")


def test_the_same_name_with_an_incomplete_object_continues_the_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(name="f", arguments='{"a": ')])),
         chunk(ch(tool_calls=[tc(name="f", arguments='{"b": 1}}')])))
    calls = acc.result().tool_calls
    assert len(calls) == 1 and dict(calls[0].arguments) == {"a": {"b": 1}}


def test_a_name_arriving_after_the_call_opened_names_it():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, "c1", arguments='{"a"')])),
                  chunk(ch(tool_calls=[tc(0, name="late", arguments=": 1}")])))
    assert [c.name for c in acc.result().tool_calls] == ["late"]
    assert [e.data["name"] for e in events if e.type is E.TOOL_CALL_START] == [""]


def test_an_id_arriving_after_the_opening_fragment_joins_that_call():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, name="f")])),
                  chunk(ch(tool_calls=[tc(0, "srv_1", "f", '{"a": 1}')])),
                  chunk(ch(tool_calls=[tc(0, "srv_1", arguments="")])))
    calls = acc.result().tool_calls
    assert [(c.id, c.name, dict(c.arguments)) for c in calls] == [("srv_1", "f", {"a": 1})]
    assert sum(e.type is E.TOOL_CALL_START for e in events) == 1


def test_an_id_after_a_fragment_of_another_function_opens_a_new_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, name="f")])), chunk(ch(tool_calls=[tc(0, "srv_2", "g", "{}")])))
    assert [(c.id, c.name) for c in acc.result().tool_calls][1] == ("srv_2", "g")
    assert len(acc.result().tool_calls) == 2


def test_an_id_after_a_call_that_has_arguments_opens_a_new_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(name="f", arguments='{"a"')])),
         chunk(ch(tool_calls=[tc(id="srv_3", arguments='{"b": 2}')])))
    calls = acc.result().tool_calls
    assert len(calls) == 2 and calls[1].id == "srv_3" and calls[0].name == "f"
    assert dict(calls[1].arguments) == {"b": 2}


def test_an_id_without_index_joins_the_open_unnamed_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(arguments="")])), chunk(ch(tool_calls=[tc(id="late_id", name="h", arguments="{}")])))
    calls = acc.result().tool_calls
    assert [(c.id, c.name) for c in calls] == [("late_id", "h")]


def test_the_same_id_resending_its_whole_arguments_is_not_a_second_call():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, "c1", "f", '{"a":'), ])),
                  chunk(ch(tool_calls=[tc(0, "c1", arguments=" 1}")])),
                  chunk(ch(tool_calls=[tc(0, "c1", "f", '{"a": 1}')])))
    calls = acc.result().tool_calls
    assert [(c.id, dict(c.arguments)) for c in calls] == [("c1", {"a": 1})]
    assert kinds(events)[-1] == (E.TOOL_CALL_DELTA, {"index": 0, "arguments": " 1}"}, 0)


def test_ids_sent_on_every_fragment_continue_the_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, *[chunk(ch(tool_calls=[tc(0, "same", "f", part)])) for part in ['{"a"', ": ", "1}"]])
    calls = acc.result().tool_calls
    assert [(c.id, dict(c.arguments)) for c in calls] == [("same", {"a": 1})]


def test_a_server_id_equal_to_a_synthetic_one_is_made_unique():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, name="f", arguments="{}")])))
    synthetic = acc.result().tool_calls[0].id
    feed(acc, chunk(ch(tool_calls=[tc(1, synthetic, "g", "{}")])))
    assert [c.id for c in acc.result().tool_calls] == [synthetic, f"{synthetic}_1"]


def test_a_late_id_equal_to_a_synthetic_one_is_made_unique_with_its_position():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, name="f", arguments="{}")])),
         chunk(ch(tool_calls=[tc(1, name="g"), tc(2, name="h")])))
    synthetic = acc.result().tool_calls[0].id
    feed(acc, chunk(ch(tool_calls=[tc(2, synthetic, arguments="{}")])))
    feed(acc, chunk(ch(tool_calls=[tc(1, f"{synthetic}_2", arguments="{}")])))
    ids = [c.id for c in acc.result().tool_calls]
    assert ids == [synthetic, f"{synthetic}_2_1", f"{synthetic}_2"]


def test_numeric_ids_and_digit_indexes_are_accepted():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc("1", 42, "f", '{"a": 1}')])),
         chunk(ch(tool_calls=[tc("1", 42, arguments="")])))
    calls = acc.result().tool_calls
    assert [(c.id, dict(c.arguments)) for c in calls] == [("42", {"a": 1})]


def test_object_arguments_are_serialised():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, "c", "f", {"a": [1, 2]})])))
    assert dict(acc.result().tool_calls[0].arguments) == {"a": (1, 2)} or \
        json.loads(json.dumps(dict(acc.result().tool_calls[0].arguments))) == {"a": [1, 2]}
    assert [e.data["arguments"] for e in events if e.type is E.TOOL_CALL_DELTA] == ['{"a": [1, 2]}']


def test_extra_content_is_merged_across_fragments():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, "c", "f", "{}", extra_content={"google": {"sig": "s"}})])),
         chunk(ch(tool_calls=[tc(0, extra_content={"other": 1})])),
         chunk(ch(tool_calls=[tc(0, extra_content={})])))
    extra = acc.result().tool_calls[0].extra_content
    assert set(extra) == {"google", "other"} and dict(extra["google"]) == {"sig": "s"}


def test_a_call_without_extra_content_has_none():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, "c", "f", "{}")])))
    assert acc.result().tool_calls[0].extra_content is None


@pytest.mark.parametrize("fragment, needle", [
    ({"index": 0, "function": {"name": 5}}, "tool_calls[].function.name"),
    ({"index": 0, "function": "f"}, "tool_calls[].function"),
    ({"index": 0, "id": True, "function": {"name": "f"}}, "tool_calls[].id"),
    ({"index": 0, "function": {"arguments": 5}}, "tool_calls[].function.arguments"),
    ({"index": 0, "extra_content": "x", "function": {"name": "f"}}, "tool_calls[].extra_content"),
    ("not a call", "delta.tool_calls[]"),
    ({"index": "first", "function": {"name": "f"}}, "tool_calls[].index"),
])
def test_malformed_tool_fragments_are_stream_errors_naming_the_field(fragment, needle):
    acc = ChatAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, chunk(ch(tool_calls=[fragment])))
    assert f"{needle} must be" in str(info.value)


@pytest.mark.parametrize("delta, needle", [
    ({"tool_calls": {"index": 0}}, "delta.tool_calls"),
    ({"annotations": {"a": 1}}, "delta.annotations"),
    ({"refusal": 5}, "delta.refusal"),
    ({"reasoning_content": 5}, "delta.reasoning_content"),
    ({"content": 5}, "delta.content"),
])
def test_malformed_delta_fields_are_stream_errors_naming_the_field(delta, needle):
    acc = ChatAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, chunk({"index": 0, "delta": delta}))
    assert f"{needle} must be" in str(info.value)


@pytest.mark.parametrize("choices, needle", [
    ({"index": 0}, "choices"),
    (["x"], "choices[0]"),
    ([{"index": 0, "delta": "x"}], "choices[0].delta"),
    ([{"index": 0, "delta": {}, "finish_reason": 3}], "choices[0].finish_reason"),
    ([{"index": "a", "delta": {}}], "choices[0].index"),
])
def test_malformed_choices_are_stream_errors_naming_the_field(choices, needle):
    acc = ChatAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, {"id": "x", "model": "m", "choices": choices})
    assert f"{needle} must be" in str(info.value)


def test_a_null_delta_is_an_empty_one():
    acc = ChatAccumulator(PROFILE)
    assert kinds(feed(acc, chunk({"index": 0, "delta": None, "finish_reason": "stop"}))) == []
    assert acc.result().choices[0].finish_reason == "stop" and acc.result().content == ""


def test_a_new_object_after_one_sent_in_fragments_opens_a_second_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(name="f", arguments='{"a"')])), chunk(ch(tool_calls=[tc(arguments=": 1}")])),
         chunk(ch(tool_calls=[tc(arguments='{"b": 2}')])))
    assert [(c.name, dict(c.arguments)) for c in acc.result().tool_calls] == [("f", {"a": 1}), ("f", {"b": 2})]


def test_digit_string_indexes_keep_interleaved_calls_apart():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc("0", name="f", arguments='{"a": ')])),
         chunk(ch(tool_calls=[tc("1", name="f", arguments='{"b": 2}')])),
         chunk(ch(tool_calls=[tc("0", arguments="1}")])))
    assert [dict(c.arguments) for c in acc.result().tool_calls] == [{"a": 1}, {"b": 2}]


def test_an_interleaved_call_ends_once_with_its_whole_arguments():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, "call_a", "f", '{"a": ')])),
                  chunk(ch(tool_calls=[tc(1, "call_b", "g", '{"b": 2}')])),
                  chunk(ch(tool_calls=[tc(0, arguments="1}")])), chunk(ch(finish="tool_calls")))
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert [(c.id, dict(c.arguments)) for c in ends] == [("call_a", {"a": 1}), ("call_b", {"b": 2})]
    pos = {e.data["id"]: e.data["index"] for e in events if e.type is E.TOOL_CALL_START}
    for n, e in enumerate(events):  # no argument fragment of a call after its end
        if e.type is E.TOOL_CALL_END:
            assert all(d.data["index"] != pos[e.data.id] for d in events[n:] if d.type is E.TOOL_CALL_DELTA)


def test_a_sequential_call_still_ends_when_the_next_one_opens():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(0, "call_a", "f", '{"a": 1}')])),
                  chunk(ch(tool_calls=[tc(1, "call_b", "g", '{"b"')])))
    assert [e.data.id for e in events if e.type is E.TOOL_CALL_END] == ["call_a"]


def test_a_late_id_whose_first_suffix_is_taken_gets_a_second_suffix():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, name="f", arguments="{}")])))
    s0 = acc.result().tool_calls[0].id
    feed(acc, chunk(ch(tool_calls=[tc(1, f"{s0}_2", "g", "{}")])), chunk(ch(tool_calls=[tc(2, name="h")])),
         chunk(ch(tool_calls=[tc(2, s0, arguments="{}")])))
    assert [c.id for c in acc.result().tool_calls] == [s0, f"{s0}_2", f"{s0}_2_2"]


def test_a_chunk_without_choices_is_accepted():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(content="a", finish="stop")))
    events = feed(acc, {"id": "chatcmpl-1", "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                                                   "total_tokens": 2}})
    assert [e.type for e in events] == [E.USAGE] and acc.result().content == "a"


@pytest.mark.parametrize("field", ["id", "model"])
def test_a_first_chunk_with_a_non_string_id_or_model_names_the_field(field):
    acc = ChatAccumulator(PROFILE)
    with pytest.raises(StreamError) as info:
        feed(acc, {**chunk(ch(content="a")), field: 5})
    assert f"malformed stream event ({field} must be str or null" in str(info.value)


def test_a_call_reported_ended_is_never_changed_afterwards():
    acc = ChatAccumulator(PROFILE)
    events = feed(acc, chunk(ch(tool_calls=[tc(name="f", arguments='{"a": 1}')])), chunk(ch(finish="tool_calls")),
                  chunk(ch(tool_calls=[tc(arguments="[1]")])))
    ended = [e.data for e in events if e.type is E.TOOL_CALL_END]
    calls = acc.result().tool_calls
    assert len(ended) == 1 and calls[0] == ended[0]
    assert len(calls) == 2 and calls[1].raw_arguments == "[1]"


def test_a_fragment_without_function_opens_the_call_by_id():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[{"index": 0, "id": "c9", "type": "function"}])),
         chunk(ch(tool_calls=[tc(0, name="f", arguments="{}")])))
    assert [(c.id, c.name) for c in acc.result().tool_calls] == [("c9", "f")]


# ---- the non-stream parser and the stream body (whole-module run) --------------------------------

def _answer(message=None, **choice):
    return {"id": "chatcmpl-9", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", **(message or {})},
                         "finish_reason": "stop", **choice}]}


def test_a_plain_answer_keeps_its_response_id():
    from llm_client_sync.providers._chat import parse_chat_response

    assert parse_chat_response(_answer(), PROFILE).response_id == "chatcmpl-9"


@pytest.mark.parametrize("message, choice, where", [
    ({"tool_calls": [5]}, {}, "choices[0].message.tool_calls[0] must be object"),
    ({}, {"finish_reason": 5}, "choices[0].finish_reason must be str or null"),
    ({"reasoning_content": 5}, {}, "choices[0].message.reasoning_content must be str or null"),
])
def test_a_malformed_answer_names_the_field_path(message, choice, where):
    from llm_client_sync import APIResponseValidationError
    from llm_client_sync.providers._chat import parse_chat_response

    with pytest.raises(APIResponseValidationError, match=re.escape(where)):
        parse_chat_response(_answer(message, **choice), PROFILE)


def test_repeated_tool_call_ids_in_an_answer_get_a_second_suffix_when_the_first_is_taken():
    from llm_client_sync.providers._chat import parse_chat_response

    calls = [{"id": cid, "type": "function", "function": {"name": "f", "arguments": "{}"}}
             for cid in ("call_a", "call_a_2", "call_a")]
    result = parse_chat_response(_answer({"content": None, "tool_calls": calls}, finish_reason="tool_calls"), PROFILE)
    assert [c.id for c in result.tool_calls] == ["call_a", "call_a_2", "call_a_2_2"]


def test_the_stream_body_keeps_the_callers_stream_options_and_asks_for_usage():
    from llm_client_sync.providers._chat import ChatProtocol

    body = ChatProtocol().stream_body({"model": "m", "stream_options": {"include_obfuscation": False}})
    assert body["stream"] is True
    assert body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert ChatProtocol().stream_body({"model": "m", "stream_options": {"include_usage": False}})[
        "stream_options"] == {"include_usage": False}


_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize("body, where", [
    ({"choices": [{"index": 0, "message": 5, "finish_reason": "stop"}]}, "choices[0].message must be object"),
    (_answer(index="x"), "choices[0].index must be int"),
    (_answer({"tool_calls": [{**_CALL, "extra_content": 5}]}),
     "choices[0].message.tool_calls[0].extra_content must be object or null"),
    (_answer({"content": [5]}), "choices[0].message.content[] must be str"),
    (_answer({"tool_calls": [{**_CALL, "function": {"name": "f", "arguments": 5}}]}),
     "choices[0].message.tool_calls[0].function.arguments must be a JSON string, got int"),
    ({**_answer(), "id": 5}, "id must be str or null"),
])
def test_a_malformed_answer_says_it_is_not_a_valid_chat_completion_and_where(body, where):
    from llm_client_sync import APIResponseValidationError
    from llm_client_sync.providers._chat import parse_chat_response

    with pytest.raises(APIResponseValidationError, match=re.escape(f"not a valid chat completion: {where}")):
        parse_chat_response(body, PROFILE)


def test_done_before_any_choice_says_no_answer_arrived():
    with pytest.raises(StreamError) as info:
        feed(ChatAccumulator(PROFILE), "[DONE]")
    assert str(info.value).startswith("the stream ended ([DONE]) without any answer (no choices arrived)")


def test_an_id_that_arrives_late_and_then_resends_the_whole_arguments_is_one_call():
    acc = ChatAccumulator(PROFILE)
    feed(acc, chunk(ch(tool_calls=[tc(0, name="f")])), chunk(ch(tool_calls=[tc(0, "call_1", arguments='{"a": 1}')])),
         chunk(ch(tool_calls=[tc(0, "call_1", arguments='{"a": 1}')])), chunk(ch(finish="tool_calls")))
    assert [(c.id, c.name, dict(c.arguments)) for c in acc.result().tool_calls] == [("call_1", "f", {"a": 1})]


def test_the_request_body_drops_none_and_renames_max_tokens_for_reasoning_models():
    from llm_client_sync.providers._chat import ChatProtocol

    msgs = [{"role": "user", "content": "hi"}]
    body = ChatProtocol().build(PROFILE, msgs, {"max_tokens": 5, "temperature": None, "seed": 0})
    assert body == {"model": PROFILE.api_id, "messages": msgs, "max_completion_tokens": 5, "seed": 0}
    plain = get_profile("gpt-4o-mini")
    assert not plain.reasoning and ChatProtocol().build(plain, msgs, {"max_tokens": 5})["max_tokens"] == 5
