"""Every body shape that is valid bytes but not what the endpoint documents ends in a typed error.

Table-driven over the pure parsers: chat and Responses bodies, embeddings, the JSON decoding in
front of them, and malformed chunks/events in the middle of a chat or Responses stream.
"""

from __future__ import annotations

import json

import pytest

from llm_client_sync import APIResponseValidationError, StreamError, get_profile
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.providers._body import decode_json, parse_embeddings
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.providers._responses import ResponsesAccumulator, parse_responses_response

PROFILE = get_profile("gpt-5-nano")
OK_MSG = {"role": "assistant", "content": "hi"}


def _chat(**kw):
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m", **kw}


def _choice(message=None, **kw):
    return {"index": 0, "message": OK_MSG if message is None else message, "finish_reason": "stop", **kw}


# (id, body, expect the base_url hint)
CHAT_BODIES = [
    ("empty-object", {}, True),
    ("not-an-api-body", {"contentType": "application/json", "method": "POST"}, True),
    ("no-choices", _chat(), False),
    ("choices-null", _chat(choices=None), False),
    ("choices-empty", _chat(choices=[]), False),
    ("choices-string", _chat(choices="abc"), False),
    ("choice-string", _chat(choices=["abc"]), False),
    ("message-string", _chat(choices=[_choice("hello")]), False),
    ("message-missing", _chat(choices=[{"index": 0, "finish_reason": "stop"}]), False),
    ("content-number", _chat(choices=[_choice({"role": "assistant", "content": 5})]), False),
    ("index-word", _chat(choices=[_choice(index="zero")]), False),
    ("finish-number", _chat(choices=[_choice(finish_reason=3)]), False),
    ("tool-calls-string", _chat(choices=[_choice({"content": None, "tool_calls": "x"})]), False),
    ("tool-call-number", _chat(choices=[_choice({"content": None, "tool_calls": [7]})]), False),
    ("function-7", _chat(choices=[_choice({"content": None, "tool_calls": [{"id": "a", "function": 7}]})]), False),
    ("function-name-number", _chat(choices=[_choice({"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": 3, "arguments": "{}"}}]})]), False),
    ("arguments-number", _chat(choices=[_choice({"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": 12}}]})]), False),
    ("usage-string", _chat(choices=[_choice()], usage="lots"), False),
    ("usage-field-string", _chat(choices=[_choice()], usage={"prompt_tokens": "many", "completion_tokens": 1}), False),
    ("usage-field-object", _chat(choices=[_choice()], usage={"prompt_tokens": {"n": 1}}), False),
    ("usage-negative", _chat(choices=[_choice()], usage={"prompt_tokens": -4}), False),
    ("usage-details-number", _chat(choices=[_choice()], usage={"prompt_tokens": 1, "prompt_tokens_details": 5}), False),
    ("model-number", _chat(choices=[_choice()], model=5), False),
    ("error-envelope-200", {"error": {"message": "quota exceeded", "type": "insufficient_quota"}}, False),
    ("list-body", [1, 2, 3], True),
    ("string-body", "just text", True),
    ("null-body", None, True),
]


@pytest.mark.parametrize("name,body,hint", CHAT_BODIES, ids=[c[0] for c in CHAT_BODIES])
def test_malformed_chat_body_is_a_typed_error_with_the_first_bytes(name, body, hint):
    with pytest.raises(APIResponseValidationError) as info:
        parse_chat_response(body, PROFILE, "req_1")
    err = info.value
    assert "The body starts with:" in str(err)
    assert err.body and err.body == (body if isinstance(body, str) else json.dumps(body))[:200]
    assert err.request_id == "req_1"
    assert ("check that base_url" in str(err)) is hint


def test_error_envelope_in_a_200_carries_the_servers_message():
    with pytest.raises(APIResponseValidationError, match="quota exceeded"):
        parse_chat_response({"error": {"message": "quota exceeded"}}, PROFILE)


RESPONSES_BODIES = [
    ("empty", {}, True),
    ("output-missing", {"id": "resp_1", "object": "response", "status": "completed"}, False),
    ("output-null", {"id": "resp_1", "object": "response", "output": None}, False),
    ("output-string", {"id": "resp_1", "object": "response", "output": "text"}, False),
    ("item-number", {"id": "resp_1", "object": "response", "output": [5]}, False),
    ("content-string", {"id": "resp_1", "output": [{"type": "message", "content": "hello"}]}, False),
    ("part-string", {"id": "resp_1", "output": [{"type": "message", "content": ["hello"]}]}, False),
    ("text-number", {"id": "resp_1", "output": [{"type": "message", "content": [
        {"type": "output_text", "text": 5}]}]}, False),
    ("call-name-number", {"id": "resp_1", "output": [{"type": "function_call", "call_id": "c", "name": 5,
                                                       "arguments": "{}"}]}, False),
    ("summary-string", {"id": "resp_1", "output": [{"type": "reasoning", "summary": "x"}]}, False),
    ("usage-wrong", {"id": "resp_1", "output": [], "usage": {"input_tokens": "x"}}, False),
]


@pytest.mark.parametrize("name,body,hint", RESPONSES_BODIES, ids=[c[0] for c in RESPONSES_BODIES])
def test_malformed_responses_body_is_a_typed_error(name, body, hint):
    with pytest.raises(APIResponseValidationError) as info:
        parse_responses_response(body, PROFILE, "req_2")
    assert "The body starts with:" in str(info.value)
    assert ("check that base_url" in str(info.value)) is hint


EMBEDDING_BODIES = [
    ("empty", {}, 1),
    ("data-null", {"object": "list", "data": None}, 1),
    ("row-string", {"object": "list", "data": ["x"]}, 1),
    ("too-few", {"object": "list", "data": [{"index": 0, "embedding": [0.1]}]}, 2),
    ("bad-base64", {"object": "list", "data": [{"index": 0, "embedding": "!!not base64!!"}]}, 1),
    ("base64-not-float32", {"object": "list", "data": [{"index": 0, "embedding": "AAAAAAA="}]}, 1),
    ("strings-in-vector", {"object": "list", "data": [{"index": 0, "embedding": [0.1, "a"]}]}, 1),
    ("nested-vector", {"object": "list", "data": [{"index": 0, "embedding": [[0.1]]}]}, 1),
    ("bool-in-vector", {"object": "list", "data": [{"index": 0, "embedding": [True]}]}, 1),
    ("object-vector", {"object": "list", "data": [{"index": 0, "embedding": {"a": 1}}]}, 1),
    ("index-string", {"object": "list", "data": [{"index": "0", "embedding": [0.1]}]}, 1),
    ("ragged", {"object": "list", "data": [{"index": 0, "embedding": [0.1]},
                                          {"index": 1, "embedding": [0.1, 0.2]}]}, 2),
    ("usage-wrong", {"object": "list", "data": [{"index": 0, "embedding": [0.1]}], "usage": {"prompt_tokens": []}}, 1),
]


@pytest.mark.parametrize("name,body,expected", EMBEDDING_BODIES, ids=[c[0] for c in EMBEDDING_BODIES])
def test_malformed_embeddings_body_is_a_typed_error(name, body, expected):
    with pytest.raises(APIResponseValidationError, match="not a valid embeddings response"):
        parse_embeddings(body, expected, "req_3")


def test_embeddings_accept_floats_and_base64_in_input_order():
    body = {"data": [{"index": 1, "embedding": [1, 2.5]}, {"index": 0, "embedding": "AACAPwAAAEA="}],
            "usage": {"prompt_tokens": 3, "total_tokens": 3}, "model": "e"}
    vectors, usage, model = parse_embeddings(body, 2)
    assert vectors == ([1.0, 2.0], [1.0, 2.5]) and usage.prompt_tokens == 3 and model == "e"


RAW_BODIES = [
    ("html", b"<!DOCTYPE html><html><body>Welcome to nginx!</body></html>", "not JSON", True),
    ("empty", b"", "empty", True),
    ("whitespace", b"  \n ", "empty", True),
    ("not-utf8", b'{"choices": "\xff\xfe\xfa"}', "not UTF-8", True),
    ("deep-array", b"[" * 100_000 + b"]" * 100_000, "nested too deeply", True),
    ("deep-object", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply", True),
    ("truncated", b'{"id": "chatcmpl-1", "choices": [', "not JSON", True),
]


@pytest.mark.parametrize("name,raw,reason,hint", RAW_BODIES, ids=[c[0] for c in RAW_BODIES])
def test_body_that_is_not_json_is_a_typed_error_showing_its_first_200_bytes(name, raw, reason, hint):
    with pytest.raises(APIResponseValidationError) as info:
        decode_json(raw, "chat response", "req_4")
    err = info.value
    assert reason in str(err)
    assert err.body == raw[:200].decode("utf-8", errors="replace")
    assert len(err.body) <= 200
    assert ("check that base_url" in str(err)) is hint


def test_utf8_bom_is_accepted():
    assert decode_json(b'\xef\xbb\xbf{"a": 1}', "x") == {"a": 1}


# -- mid-stream -------------------------------------------------------------------------------
def _sse(obj) -> ServerSentEvent:
    return ServerSentEvent(obj if isinstance(obj, str) else json.dumps(obj))


CHAT_GOOD = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hello"}}]}
CHAT_CHUNKS = [
    ("not-json", "this is not json", "not JSON"),
    ("array", "[1, 2]", "not a JSON object"),
    ("deep", "[" * 100_000, "nested too deeply"),
    ("choices-string", {"choices": "x"}, "choices must be array"),
    ("choice-number", {"choices": [3]}, "choices[0] must be object"),
    ("delta-string", {"choices": [{"index": 0, "delta": "x"}]}, "delta must be object"),
    ("content-number", {"choices": [{"index": 0, "delta": {"content": 5}}]}, "delta.content"),
    ("function-7", {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": 7}]}}]},
     "function must be object"),
    ("tool-calls-object", {"choices": [{"index": 0, "delta": {"tool_calls": {"a": 1}}}]}, "tool_calls"),
    ("usage-wrong", {"choices": [], "usage": {"prompt_tokens": "x"}}, "prompt_tokens"),
    ("error-without-type", {"error": {"message": "model overloaded"}}, "model overloaded"),
    ("error-with-choices", {"error": {"message": "upstream died", "code": 502},
                            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]},
     "upstream died"),
    ("error-string", {"error": "boom"}, "boom"),
]


@pytest.mark.parametrize("name,chunk,needle", CHAT_CHUNKS, ids=[c[0] for c in CHAT_CHUNKS])
def test_malformed_chat_chunk_is_a_stream_error_with_the_partial(name, chunk, needle):
    acc = ChatAccumulator(PROFILE, "req_5")
    acc.feed(_sse(CHAT_GOOD))
    with pytest.raises(StreamError) as info:
        acc.feed(_sse(chunk))
    assert needle in str(info.value)
    assert info.value.partial.content == "Hello"
    assert info.value.request_id == "req_5"


def test_done_before_any_choice_is_a_stream_error_not_an_empty_answer():
    acc = ChatAccumulator(PROFILE)
    with pytest.raises(StreamError, match="without any answer"):
        acc.feed(_sse("[DONE]"))


RESP_GOOD = [{"type": "response.created", "response": {"id": "resp_1", "model": "m"}},
             {"type": "response.output_text.delta", "item_id": "msg_1", "delta": "Hello"}]
RESP_EVENTS = [
    ("not-json", "{nope", "not JSON"),
    ("array", "[]", "not a JSON object"),
    ("deep", '{"a":' * 100_000, "nested too deeply"),
    ("delta-number", {"type": "response.output_text.delta", "delta": 5}, "delta"),
    ("item-string", {"type": "response.output_item.added", "item": "x"}, "item must be object"),
    ("response-string", {"type": "response.completed", "response": "x"}, "response must be object"),
    ("usage-wrong", {"type": "response.completed", "response": {"usage": {"input_tokens": "x"}}}, "input_tokens"),
    ("annotation-string", {"type": "response.output_text.annotation.added", "annotation": 5}, "annotation"),
    ("error-without-type", {"error": {"message": "rate limited upstream"}}, "rate limited upstream"),
    ("error-event", {"type": "error", "code": "server_error", "message": "boom"}, "boom"),
    ("failed", {"type": "response.failed", "response": {"error": {"message": "it failed"}}}, "it failed"),
]


@pytest.mark.parametrize("name,event,needle", RESP_EVENTS, ids=[c[0] for c in RESP_EVENTS])
def test_malformed_responses_event_is_a_stream_error_with_the_partial(name, event, needle):
    acc = ResponsesAccumulator(PROFILE, "req_6")
    for ev in RESP_GOOD:
        acc.feed(_sse(ev))
    with pytest.raises(StreamError) as info:
        acc.feed(_sse(event))
    assert needle in str(info.value)
    assert info.value.partial.content == "Hello"


def test_deeply_nested_tool_arguments_are_a_tool_error_not_a_crash():
    body = _chat(choices=[_choice({"content": None, "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[" * 100_000}}]})])
    call = parse_chat_response(body, PROFILE).tool_calls[0]
    assert call.arguments == {} and "nested too deeply" in call.arguments_error


def test_responses_stream_final_object_nested_too_deeply_is_a_stream_error():
    deep = '{"a":' * 600 + "1" + "}" * 600
    acc = ResponsesAccumulator(PROFILE)
    for ev in RESP_GOOD:
        acc.feed(_sse(ev))
    data = '{"type": "response.completed", "response": {"id": "resp_1", "status": "completed", "x": ' + deep + "}}"
    try:
        acc.feed(ServerSentEvent(data))
    except StreamError as exc:  # too deep to keep: a typed error with the partial
        assert exc.partial.content == "Hello"
    else:  # or kept: then the result must assemble without a raw RecursionError
        assert acc.result().content == "Hello"


def test_chat_body_nested_too_deeply_inside_an_unknown_field_is_a_typed_error_or_parses():
    body = json.loads('{"id": "x", "choices": [{"index": 0, "message": {"content": "hi"}}], "x": '
                      + '{"a":' * 600 + "1" + "}" * 600 + "}")
    try:
        assert parse_chat_response(body, PROFILE).content == "hi"
    except APIResponseValidationError as exc:
        assert "nested too deeply" in str(exc)


@pytest.mark.parametrize("parse, native, api, root", [
    ("anthropic", {"id": "msg_1", "type": "message", "content": 5}, "an Anthropic Messages API response",
     "https://api.anthropic.com"),
    ("gemini", {"candidates": 5}, "a Gemini API response", "https://generativelanguage.googleapis.com/v1beta"),
])
def test_a_native_protocols_base_url_hint_names_that_api(parse, native, api, root):
    from llm_client_sync.providers._anthropic_wire import parse_anthropic_message
    from llm_client_sync.providers._gemini_wire import parse_gemini_response

    fn = parse_anthropic_message if parse == "anthropic" else parse_gemini_response
    with pytest.raises(APIResponseValidationError) as info:  # a web page's JSON, not the API's
        fn({"page": "<html>login</html>"}, PROFILE)
    msg = str(info.value)
    assert f"does not look like {api}; check that base_url points at the API root (for example {root})" in msg
    assert "OpenAI" not in msg
    with pytest.raises(APIResponseValidationError) as info:  # the API's own shape, one field wrong: no hint
        fn(native, PROFILE)
    assert "check that base_url" not in str(info.value)
