"""The Anthropic Messages wire protocol field by field: the request body an Anthropic server reads
(content blocks, merged turns, system, tools, tool_choice, output_format, thinking, max_tokens,
refused and dropped parameters), the stop-reason map, usage, and what the stream accumulator does
with each event (written to kill the mutants mutmut left alive in ``providers/_anthropic_wire.py``)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from llm_client_sync import StreamEventType as E, get_profile
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.errors import APIResponseValidationError, ConfigurationError, StreamError
from llm_client_sync.providers._anthropic_wire import AnthropicProtocol, anthropic_usage
from llm_client_sync.types import Usage

PROTO = AnthropicProtocol()
HAIKU = get_profile("claude-haiku-4-5")  # budget_tokens thinking, 64k output
OPUS = get_profile("claude-opus-4-6")  # adaptive thinking, efforts low..max
SONNET55 = get_profile("claude-sonnet-5-5")  # adaptive thinking, efforts low..high
Q = [{"role": "user", "content": "q"}]


def build(messages=Q, profile=HAIKU, **params):
    return PROTO.build(profile, list(messages), params)


def feed(*events, acc=None):
    """Feed event dicts (or (sse event name, dict) pairs) to an accumulator; (events out, acc)."""
    acc = acc or PROTO.accumulator(HAIKU, "req_1")
    out = []
    for ev in events:
        name, ev = ev if isinstance(ev, tuple) else ("message", ev)
        out.extend(acc.feed(ServerSentEvent(json.dumps(ev), name)))
    return out, acc


def start(idx, **block):
    return {"type": "content_block_start", "index": idx, "content_block": block}


def delta(idx, **d):
    return {"type": "content_block_delta", "index": idx, "delta": d}


# -- responses --------------------------------------------------------------------------------
@pytest.mark.parametrize("stop, finish", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"), ("model_context_window_exceeded", "length"),
    ("pause_turn", "pause_turn"),  # a stop reason added later passes through as the API names it
    (None, None)])
def test_stop_reasons_map_to_finish_reasons(stop, finish):
    body = {"type": "message", "content": [{"type": "text", "text": "x"}], "stop_reason": stop}
    assert PROTO.parse(body, HAIKU, None).finish_reason == finish
    _, acc = feed({"type": "message_delta", "delta": {"stop_reason": stop}})
    assert acc.result().finish_reason == finish


def test_usage_counts_cache_reads_and_writes_into_the_prompt():
    u = anthropic_usage({"input_tokens": 3, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 100,
                         "output_tokens": 7, "output_tokens_details": {"thinking_tokens": 5}})
    assert u == Usage(123, 7, 130, 5, 100, 20)
    assert anthropic_usage(None) == anthropic_usage({}) == Usage()
    assert anthropic_usage({"input_tokens": None, "output_tokens": 2}) == Usage(0, 2, 2, 0, 0, 0)


def test_message_body_fields_reach_the_result():
    body = {"type": "message", "id": "msg_1", "model": "claude-haiku-4-5-20251001", "request_id": "req_body",
            "stop_reason": "end_turn", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    r = PROTO.parse(body, HAIKU, None)
    assert (r.content, r.model, r.response_id, r.request_id) == ("ab", "claude-haiku-4-5-20251001", "msg_1", "req_body")
    assert r.output_items == () and r.reasoning is None and r.choices[0].index == 0
    assert PROTO.parse(body, HAIKU, "req_header").request_id == "req_header"


def test_blocks_assemble_into_text_calls_and_kept_items():
    blocks = [{"type": "thinking", "signature": "sig"}, {"type": "tool_use", "input": {"a": 1}},
              {"type": "tool_use", "id": "toolu_x", "name": "f"}]
    r = PROTO.parse({"content": blocks}, HAIKU, None)
    assert r.reasoning == "" and r.content is None
    assert [(c.id, c.name, dict(c.arguments), c.raw_arguments) for c in r.tool_calls] == [
        ("toolu_1", "", {"a": 1}, '{"a": 1}'), ("toolu_x", "f", {}, "{}")]
    assert r.output_items[0]["type"] == "anthropic_content" and r.output_items[0]["content"][0]["signature"] == "sig"
    assert PROTO.parse({"content": []}, HAIKU, None).content == ""
    two = [{"type": "thinking", "thinking": "a"}, {"type": "redacted_thinking", "data": "x"}, {"type": "thinking", "thinking": "b"}]
    assert PROTO.parse({"content": two}, HAIKU, None).reasoning == "ab"
    # a text block with citations is kept whole (the citations go back in the next turn)
    cited = [{"type": "text", "text": "t", "citations": [{"type": "char_location", "cited_text": "c"}]}]
    assert PROTO.parse({"content": cited}, HAIKU, None).output_items[0]["content"][0]["citations"][0]["cited_text"] == "c"
    plain = [{"type": "text", "text": "t"}, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]
    assert PROTO.parse({"content": plain}, HAIKU, None).output_items == ()


def test_an_error_object_in_a_200_says_what_the_server_said():
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(APIResponseValidationError) as info:
        PROTO.parse(body, HAIKU, "req_e")
    assert "not a valid Anthropic message: the server answered with an error object: Overloaded. The body" in str(info.value)
    assert info.value.request_id == "req_e"


# -- streams ----------------------------------------------------------------------------------
def test_message_start_names_model_and_id_and_the_choice_is_index_0():
    events, acc = feed({"type": "message_start", "message": {"model": "claude-m", "id": "msg_9",
                                                             "usage": {"input_tokens": 4}}})
    assert [(e.type, e.data) for e in events] == [(E.META, {"model": "claude-m", "id": "msg_9", "request_id": "req_1"})]
    r = acc.result()
    assert (r.model, r.response_id, r.request_id, r.usage.prompt_tokens) == ("claude-m", "msg_9", "req_1", 4)
    assert r.choices[0].index == 0


def test_event_type_falls_back_to_the_sse_event_name_and_unknown_events_are_ignored():
    events, acc = feed(("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
                       {"type": "ping"}, {"type": "something_new", "index": 0})
    assert [(e.type, e.data) for e in events] == [(E.TOKEN, "hi")]
    assert acc.result().content == "hi" and not acc.finished


def test_blocks_opened_with_text_emit_it_and_deltas_continue():
    events, acc = feed(start(0, type="thinking", thinking="hm"), delta(0, type="thinking_delta", thinking=" ok"),
                       delta(0, type="thinking_delta"), delta(0, type="signature_delta", signature="s1"), delta(0, type="signature_delta"),
                       delta(0, type="signature_delta", signature="s2"),
                       start(1, type="text", text="Hel"), delta(1, type="text_delta", text="lo"),
                       delta(1, type="text_delta", text=""),
                       delta(1, type="citations_delta", citation={"type": "char_location", "cited_text": "c"}),
                       start(2, type="text"), start(3, type="thinking"), {"type": "message_stop"})
    assert [(e.type, e.data) for e in events] == [(E.REASONING, "hm"), (E.REASONING, " ok"), (E.TOKEN, "Hel"),
                                                  (E.TOKEN, "lo")]
    r = acc.result()
    assert acc.finished and r.content == "Hello" and r.reasoning == "hm ok"
    blocks = r.output_items[0]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "hm ok", "signature": "s1s2"}
    assert blocks[1]["text"] == "Hello" and list(blocks[1]["citations"]) == [{"type": "char_location", "cited_text": "c"}]
    assert list(blocks[2:]) == [{"type": "text", "text": ""}, {"type": "thinking", "thinking": ""}]


def test_tool_call_events_carry_their_call_index_and_end_once():
    events, acc = feed(start(0, type="text", text=""), delta(0, type="input_json_delta", partial_json='{"x"'),
                       start(1, type="tool_use", id="toolu_a", name="f"),
                       delta(1, type="input_json_delta", partial_json='{"a":'),
                       delta(1, type="input_json_delta", partial_json=""),
                       delta(1, type="input_json_delta", partial_json="1}"),
                       start(2, type="tool_use"), delta(2, type="input_json_delta", partial_json="[1]"),
                       {"type": "content_block_stop", "index": 1}, {"type": "content_block_stop", "index": 1},
                       {"type": "content_block_stop", "index": 0}, {"type": "message_stop"})
    got = [(e.type, e.data) for e in events]
    assert got[:4] == [(E.TOOL_CALL_START, {"index": 0, "id": "toolu_a", "name": "f"}),
                       (E.TOOL_CALL_DELTA, {"index": 0, "arguments": '{"a":'}),
                       (E.TOOL_CALL_DELTA, {"index": 0, "arguments": "1}"}),
                       (E.TOOL_CALL_START, {"index": 1, "id": None, "name": None})]
    assert got[4] == (E.TOOL_CALL_DELTA, {"index": 1, "arguments": "[1]"})
    ends = [d for t, d in got[5:]]
    assert [t for t, _ in got[5:]] == [E.TOOL_CALL_END, E.TOOL_CALL_END]
    assert (ends[0].id, ends[0].name, dict(ends[0].arguments)) == ("toolu_a", "f", {"a": 1})
    assert (ends[1].id, ends[1].name, ends[1].raw_arguments) == ("toolu_2", "", "[1]") and ends[1].arguments_error
    r = acc.result()
    assert list(r.tool_calls) == ends and r.tool_calls[0].raw_arguments == '{"a":1}'


def test_message_delta_keeps_the_stop_reason_and_merges_usage():
    events, acc = feed({"type": "message_start", "message": {"usage": {"input_tokens": 10,
                                                                       "cache_read_input_tokens": 5}}},
                       {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
                       {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9, "input_tokens": None}})
    usages = [e.data for e in events if e.type is E.USAGE]
    assert usages == [Usage(15, 3, 18, 0, 5, 0), Usage(15, 9, 24, 0, 5, 0)]
    assert acc.result().finish_reason == "tool_calls" and acc.result().usage == usages[-1]


@pytest.mark.parametrize("kind, retryable", [("overloaded_error", True), ("api_error", True),
                                             ("rate_limit_error", True), ("timeout_error", True),
                                             ("invalid_request_error", False)])
def test_an_error_event_raises_with_the_partial_and_says_if_a_retry_may_help(kind, retryable):
    acc = PROTO.accumulator(HAIKU, None)
    feed(start(0, type="text", text="par"), acc=acc)
    with pytest.raises(StreamError) as info:
        feed({"type": "error", "request_id": "req_ev", "error": {"type": kind, "message": "Boom"}}, acc=acc)
    err = info.value
    assert str(err).startswith(f"error event in stream: {kind}: Boom")
    assert err.retryable is retryable and err.partial.content == "par" and err.request_id == "req_ev"
    with pytest.raises(StreamError, match="error event in stream: error: None") as info:
        feed({"type": "error", "error": "text"}, acc=PROTO.accumulator(HAIKU, "req_acc"))
    assert info.value.retryable is False and info.value.request_id == "req_acc"


# -- requests: content --------------------------------------------------------------------------
def test_content_parts_become_anthropic_blocks():
    doc = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    parts = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
             {"type": "image_url", "image_url": "https://example.com/b.png"}, doc]
    assert build([{"role": "user", "content": parts}])["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": ""},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}}, doc]}]


@pytest.mark.parametrize("kind", ["input_audio", "file"])
def test_audio_and_file_parts_are_refused_before_sending(kind):
    with pytest.raises(ConfigurationError) as info:
        build([{"role": "user", "content": [{"type": kind, kind: {}}]}])
    assert str(info.value) == (f"the Anthropic provider cannot send a '{kind}' content part; "
                               "send text, images, or a native Anthropic document block")


def test_turns_of_one_role_merge_into_one_message():
    msgs = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c"}, {"role": "tool", "tool_call_id": "t1", "content": "r1"},
            {"role": "tool", "tool_call_id": "t2", "content": None, "is_error": True},
            {"role": "user", "content": "next"}, {"role": "function", "name": "f", "content": [{"type": "text", "text": "fn"}]}]
    assert build(msgs)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r1"},
                                     {"type": "tool_result", "tool_use_id": "t2", "content": "", "is_error": True},
                                     {"type": "text", "text": "next"}, {"type": "text", "text": "fn"}]}]


def test_assistant_turns_send_text_tool_use_or_the_stored_blocks():
    calls = [{"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
             {"id": "toolu_2", "type": "function", "function": {}}]
    stored = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "user", "content": "q2"}, {"role": "assistant", "content": "hi", "tool_calls": calls[:1]},
            {"role": "user", "content": "q3"}, {"role": "assistant", "content": "", "tool_calls": []},
            {"role": "assistant", "content": "x", "output_items": [{"type": "anthropic_content", "content": stored}]},
            {"role": "assistant", "content": "y", "output_items": [{"type": "gemini_parts", "content": []}]}]
    out = build(msgs)["messages"]
    assert out[1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "toolu_2", "name": "", "input": {}}]}
    assert out[3]["content"][0] == {"type": "text", "text": "hi"} and len(out[3]["content"]) == 2
    assert out[5] == {"role": "assistant", "content": stored + [{"type": "text", "text": "y"}]}
    assert len(out) == 6


@pytest.mark.parametrize("system, expected", [
    (["Be brief.", "Be kind."], "Be brief.\n\nBe kind."),
    ([[{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]], "A\n\nB"),
    ([[{"type": "text", "text": "Long", "cache_control": {"type": "ephemeral"}}], "Short"],
     [{"type": "text", "text": "Long", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "Short"}]),
    ([None], ""),
])
def test_system_and_developer_turns_become_the_system_field(system, expected):
    msgs = [{"role": "system" if i % 2 == 0 else "developer", "content": s} for i, s in enumerate(system)]
    body = build(msgs + Q)
    assert body["system"] == expected and body["messages"] == [{"role": "user", "content": "q"}]
    assert "system" not in build()


def test_a_request_needs_a_user_or_assistant_turn():
    with pytest.raises(ConfigurationError, match="^the Anthropic Messages API needs at least one user or assistant message$"):
        build([{"role": "system", "content": "s"}])


# -- requests: tools, tool_choice, output_format ------------------------------------------------
def test_tools_become_name_and_input_schema():
    native = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    tools = [native, {"type": "function", "function": {"name": "a"}},
             {"type": "function", "function": {"name": "b", "description": "B", "parameters": {"type": "object"}},
              "cache_control": {"type": "ephemeral"}}]
    assert build(tools=tools)["tools"] == [
        native, {"name": "a", "input_schema": {"type": "object", "properties": {}}},
        {"name": "b", "input_schema": {"type": "object"}, "description": "B", "cache_control": {"type": "ephemeral"}}]
    assert "tools" not in build(tools=[]) and "tool_choice" not in build(tool_choice="required")


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("choice, parallel, expected", [
    (None, None, None), (None, True, None),
    (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ("auto", None, {"type": "auto"}), ("required", None, {"type": "any"}), ("none", None, {"type": "none"}),
    ("none", False, {"type": "none"}),
    ({"type": "function", "function": {"name": "f"}}, None, {"type": "tool", "name": "f"}),
    ({"type": "function", "name": "f"}, False, {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
    ({"type": "tool", "name": "f"}, None, {"type": "tool", "name": "f"}),
    ({"type": "any"}, False, {"type": "any", "disable_parallel_tool_use": True}),
    ({"type": "auto"}, None, {"type": "auto"}), ({"type": "none"}, False, {"type": "none"}),
])
def test_tool_choice_maps_to_the_anthropic_shape(choice, parallel, expected):
    body = build(tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel)
    assert body.get("tool_choice") == expected and "parallel_tool_calls" not in body


@pytest.mark.parametrize("choice", ["always", {"type": "function_call"}, 3])
def test_an_unknown_tool_choice_is_refused(choice):
    with pytest.raises(ConfigurationError, match=r"^tool_choice .+ is not valid: use 'auto', 'required', 'none' or \{'type'"):
        build(tools=TOOLS, tool_choice=choice)


@pytest.mark.parametrize("fmt, expected", [
    ({"type": "json_object"}, {"type": "json_schema", "schema": {"type": "object"}}),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object", "required": ["a"]}}},
     {"type": "json_schema", "schema": {"type": "object", "required": ["a"]}}),
    ({"type": "json_schema", "json_schema": {"name": "n"}}, {"type": "json_schema", "schema": {}}),
    ({"type": "text"}, None),
])
def test_response_format_becomes_output_format(fmt, expected):
    body = build(response_format=fmt)
    assert body.get("output_format") == expected and "response_format" not in body


# -- requests: thinking and max_tokens ----------------------------------------------------------
@pytest.mark.parametrize("profile, params, effort", [
    (OPUS, {"thinking_budget": 2048}, "low"), (OPUS, {"thinking_budget": 2049}, "medium"),
    (OPUS, {"thinking_budget": 8192}, "medium"), (OPUS, {"thinking_budget": 8193}, "high"),
    (OPUS, {"reasoning_effort": "minimal"}, None), (OPUS, {"reasoning_effort": "low"}, "low"),
    (OPUS, {"thinking_budget": 4096, "reasoning_effort": "minimal"}, "low"),  # the named effort wins
    (OPUS, {"thinking_budget": 1024, "reasoning_effort": "xhigh"}, "max"),
    (OPUS, {"reasoning_effort": "xhigh"}, "max"), (OPUS, {"reasoning_effort": "max"}, "max"),
    (SONNET55, {"reasoning_effort": "max"}, "high"), (SONNET55, {"reasoning_effort": "medium"}, "medium"),
    (dataclasses.replace(SONNET55, reasoning_efforts=("low", "max")), {"reasoning_effort": "medium"}, "high"),
])
def test_adaptive_models_get_an_effort_and_summarized_thinking(profile, params, effort):
    body = build(profile=profile, output_config={"format": "x"}, **params)
    if effort is None:  # minimal is a zero budget: no thinking at all
        assert "thinking" not in body and body["output_config"] == {"format": "x"} and body["max_tokens"] == 8192
        return
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["output_config"] == {"format": "x", "effort": effort}
    assert body["max_tokens"] == 16384 and "reasoning_effort" not in body and "thinking_budget" not in body


def test_default_max_tokens_follow_the_profile_and_the_thinking_budget():
    small = dataclasses.replace(OPUS, max_output_tokens=4000)
    assert build(profile=small, reasoning_effort="high")["max_tokens"] == 4000
    assert build(profile=dataclasses.replace(HAIKU, max_output_tokens=0))["max_tokens"] == 8192
    assert build(profile=dataclasses.replace(OPUS, max_output_tokens=0), reasoning_effort="low")["max_tokens"] == 16384
    assert build(profile=dataclasses.replace(HAIKU, max_output_tokens=2000))["max_tokens"] == 2000
    assert build()["max_tokens"] == 8192 and build(profile=OPUS)["max_tokens"] == 8192
    assert build(thinking_budget=1024)["max_tokens"] == 8192
    bumped = build(thinking_budget=16384)["max_tokens"]
    assert bumped == 16384 + 4096 and type(bumped) is int  # the API takes an integer
    assert build(thinking={"type": "enabled", "budget_tokens": 5000})["max_tokens"] == 9096


def test_max_tokens_aliases_and_the_budget_check():
    assert build(max_completion_tokens=100)["max_tokens"] == 100
    assert build(max_output_tokens=200)["max_tokens"] == 200
    assert build(max_completion_tokens=100, max_output_tokens=200)["max_tokens"] == 100
    body = build(max_tokens=50, max_completion_tokens=100, max_output_tokens=200)
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body and "max_output_tokens" not in body
    assert build(thinking_budget=1024, max_tokens=1025)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    with pytest.raises(ConfigurationError) as info:
        build(thinking_budget=2000, max_tokens=2000)
    assert str(info.value) == "max_tokens (2000) must be larger than the thinking budget (2000)"
    with pytest.raises(ConfigurationError, match=r"^Anthropic thinking budgets start at 1024 tokens \(got 1023\)$"):
        build(thinking_budget=1023)


def test_an_explicit_thinking_dict_is_sent_as_given():
    t = {"type": "enabled", "budget_tokens": 3000}
    assert build(thinking=t, max_tokens=4000, reasoning_effort="high")["thinking"] == t
    off = build(thinking={"type": "disabled"}, temperature=0.2)
    assert off["thinking"] == {"type": "disabled"} and off["temperature"] == 0.2 and off["max_tokens"] == 8192
    assert "thinking" not in build(thinking_budget=0)


@pytest.mark.parametrize("name", ["temperature", "top_p"])
def test_thinking_needs_temperature_and_top_p_unset_or_1(name):
    assert build(thinking_budget=1024, **{name: 1})[name] == 1
    for params in ({"thinking_budget": 1024}, {"reasoning_effort": "high", "__profile": OPUS}):
        profile = params.pop("__profile", HAIKU)
        with pytest.raises(ConfigurationError) as info:
            build(profile=profile, **params, **{name: 0.5})
        assert str(info.value) == (f"Anthropic extended thinking needs {name} unset or 1 (got 0.5); "
                                   "remove it or turn thinking off")


# -- requests: the remaining parameters -------------------------------------------------------
@pytest.mark.parametrize("name", ["logit_bias", "prediction", "modalities", "audio", "web_search_options", "seed",
                                  "logprobs", "top_logprobs", "frequency_penalty", "presence_penalty"])
def test_parameters_the_messages_api_lacks_are_refused(name):
    with pytest.raises(ConfigurationError, match=f"the Anthropic Messages API does not support '{name}'"):
        build(**{name: 1})
    assert name not in build(**{name: None})


def test_n_other_than_1_is_refused():
    with pytest.raises(ConfigurationError, match=r"^the Anthropic Messages API returns one answer per call: remove n or set n=1$"):
        build(n=2)
    assert "n" not in build(n=1)


def test_chat_only_parameters_are_dropped_and_the_rest_pass_through():
    body = build(stream=True, stream_options={"include_usage": True}, store=True, parallel_tool_calls=True,
                 user="u-7", n=1, top_k=5, temperature=None, metadata={"user_id": "m"}, stop="END")
    assert body == {"model": "claude-haiku-4-5", "messages": Q, "max_tokens": 8192, "stop_sequences": ["END"],
                    "top_k": 5, "metadata": {"user_id": "m"}}
    assert build(user=42)["metadata"] == {"user_id": "42"}
    assert "metadata" not in build() and "stop_sequences" not in build(stop=[])


def test_stream_count_and_path():
    body = build(tools=TOOLS, tool_choice="auto", thinking_budget=1024, temperature=1, stop=["x"])
    assert PROTO.stream_body(body) == {**body, "stream": True} and "stream" not in body
    assert PROTO.count_body(body) == {k: body[k] for k in ("model", "messages", "tools", "tool_choice", "thinking")}
    with_system = build([{"role": "system", "content": "s"}] + Q)
    assert PROTO.count_body(with_system)["system"] == "s"
    assert PROTO.path("any-model") == PROTO.path("m", True) == "/v1/messages" == PROTO.endpoint
    assert PROTO.count_endpoint == "/v1/messages/count_tokens"


def test_a_tool_call_ends_when_its_block_stops_and_its_input_is_kept_for_the_next_turn():
    events, acc = feed(start(0, type="tool_use", id="toolu_0", name="f", input={}),
                       delta(0, type="input_json_delta", partial_json='{"a":1}'), {"type": "content_block_stop", "index": 0},
                       start(1, type="tool_use", id="toolu_1", name="g", input={}), {"type": "content_block_stop", "index": 1},
                       start(2, type="thinking", thinking="t"), delta(2, type="signature_delta", signature="sig"),
                       {"type": "message_stop"})
    assert [(e.type, getattr(e.data, "id", None)) for e in events] == [
        (E.TOOL_CALL_START, None), (E.TOOL_CALL_DELTA, None), (E.TOOL_CALL_END, "toolu_0"),
        (E.TOOL_CALL_START, None), (E.TOOL_CALL_END, "toolu_1"), (E.REASONING, None)]
    assert list(acc.result().output_items[0]["content"]) == [
        {"type": "tool_use", "id": "toolu_0", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "toolu_1", "name": "g", "input": {}},
        {"type": "thinking", "thinking": "t", "signature": "sig"}]


@pytest.mark.parametrize("body, reason", [
    (["a"], "the body must be object, got an array"),
    ({"type": "message", "content": {"a": 1}}, "content must be array, got an object"),
    ({"type": "message", "content": [1]}, "a content block must be object, got number 1"),
])
def test_a_malformed_body_says_which_part_is_wrong(body, reason):
    with pytest.raises(APIResponseValidationError) as info:
        PROTO.parse(body, HAIKU, None)
    assert f"is not a valid Anthropic message: {reason}. The body starts with" in str(info.value)
