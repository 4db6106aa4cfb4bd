"""Malformed and compatible-server bodies over a real socket: complete, stream, embed and the
Responses API end in a typed error (with the partial for streams), compat shapes work end to end,
and an Agent runs parallel tool calls from a server that repeats ``index: 0`` without ids."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from llm_client_sync import (
    APIResponseValidationError,
    OpenAIProvider,
    RetryPolicy,
    StreamError,
    StreamEventType as E,
    StructuredOutputError,
)
from llm_client_sync.agent import Agent
from llm_client_sync.testing import MockOpenAIServer, RawReply
from llm_client_sync.tools import tool

pytestmark = pytest.mark.timeout(60)
FAST = RetryPolicy(max_retries=2, base=0.001, cap=0.001)


@pytest.fixture(scope="module")
def server():
    with MockOpenAIServer() as s:
        yield s


def _provider(server, **kw):
    return OpenAIProvider(model="gpt-5-nano", api_key="sk-test", base_url=server.base_url, retry=FAST, **kw)


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


def _msg(content="hi"):
    return {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}


CHAT_BODIES = [
    ("html", b"<html><body>502 Bad Gateway</body></html>", "not JSON"),
    ("empty", b"", "empty"),
    ("not-utf8", b'{"choices": "\xff\xfe"}', "not UTF-8"),
    ("deep", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("no-choices", _j({"id": "x", "object": "chat.completion"}), "choices"),
    ("choices-null", _j({"id": "x", "choices": None}), "choices"),
    ("choices-string", _j({"id": "x", "choices": "oops"}), "choices"),
    ("function-7", _j({"id": "x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "a", "function": 7}]}}]}), "function"),
    ("usage-wrong", _j({"id": "x", "choices": [_msg()], "usage": {"prompt_tokens": "ten"}}), "prompt_tokens"),
    ("error-200", _j({"error": {"message": "no such deployment"}}), "no such deployment"),
]


@pytest.mark.parametrize("name,body,needle", CHAT_BODIES, ids=[c[0] for c in CHAT_BODIES])
def test_complete_with_a_malformed_body_raises_a_typed_error(server, name, body, needle):
    before = len(server.requests)
    server.add(RawReply(body=body))
    with pytest.raises(APIResponseValidationError) as info:
        _provider(server).complete("hi")
    assert needle in str(info.value) and "The body starts with:" in str(info.value)
    assert info.value.request_id and info.value.request_id.startswith("req_mock")
    assert len(server.requests) == before + 1  # a 200 with a bad body is not re-sent


RESPONSES_BODIES = [
    ("html", b"<!doctype html><title>login</title>", "not JSON"),
    ("output-null", _j({"id": "resp_1", "object": "response", "status": "completed", "output": None}), "output"),
    ("content-string", _j({"id": "resp_1", "status": "completed",
                           "output": [{"type": "message", "content": "hello"}]}), "content"),
    ("usage-wrong", _j({"id": "resp_1", "status": "completed", "output": [],
                        "usage": {"input_tokens": [1]}}), "input_tokens"),
]


@pytest.mark.parametrize("name,body,needle", RESPONSES_BODIES, ids=[c[0] for c in RESPONSES_BODIES])
def test_responses_complete_with_a_malformed_body_raises_a_typed_error(server, name, body, needle):
    server.add(RawReply(body=body))
    with pytest.raises(APIResponseValidationError, match=needle):
        _provider(server, api="responses").complete("hi")


EMBED_BODIES = [
    ("html", b"<html></html>", "not JSON"),
    ("data-null", _j({"object": "list", "data": None}), "data"),
    ("wrong-count", _j({"object": "list", "data": []}), "asked for 1 vectors, got 0"),
    ("bad-base64", _j({"object": "list", "data": [{"index": 0, "embedding": "%%%"}]}), "base64"),
    ("strings", _j({"object": "list", "data": [{"index": 0, "embedding": ["a", "b"]}]}), "finite numbers"),
]


@pytest.mark.parametrize("name,body,needle", EMBED_BODIES, ids=[c[0] for c in EMBED_BODIES])
def test_embed_with_a_malformed_body_raises_a_typed_error(server, name, body, needle):
    server.add(RawReply(body=body))
    with pytest.raises(APIResponseValidationError, match=needle):
        _provider(server).embed("hello")


def _sse(*events) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n\n" for e in events)


HELLO = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hello"}}]}
CHAT_STREAMS = [
    ("not-json", b"{broken", "not JSON"),
    ("deep", b"[" * 100_000, "nested too deeply"),
    ("choices-string", _j({"choices": "x"}), "choices"),
    ("function-7", _j({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": 7}]}}]}),
     "function"),
    ("error-without-type", _j({"error": {"message": "model crashed"}}), "model crashed"),
]


@pytest.mark.parametrize("name,bad,needle", CHAT_STREAMS, ids=[c[0] for c in CHAT_STREAMS])
def test_stream_with_a_malformed_chunk_yields_error_then_raises_with_the_partial(server, name, bad, needle):
    server.add(RawReply(body=_sse(HELLO, bad, b"[DONE]"), stream=False, content_type="text/event-stream"))
    events = []
    with pytest.raises(StreamError) as info:
        for ev in _provider(server).stream("hi"):
            events.append(ev)
    assert events[-1].type is E.ERROR and events[-1].data is info.value
    assert needle in str(info.value) and info.value.partial.content == "Hello"


RESP_CREATED = {"type": "response.created", "response": {"id": "resp_1", "model": "m"}}
RESP_HELLO = {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "delta": "Hello"}
RESP_STREAMS = [
    ("not-json", b"{broken", "not JSON"),
    ("item-string", _j({"type": "response.output_item.added", "item": "x"}), "item"),
    ("error-without-type", _j({"error": {"message": "upstream timeout"}}), "upstream timeout"),
]


@pytest.mark.parametrize("name,bad,needle", RESP_STREAMS, ids=[c[0] for c in RESP_STREAMS])
def test_responses_stream_with_a_malformed_event_raises_with_the_partial(server, name, bad, needle):
    server.add(RawReply(body=_sse(RESP_CREATED, RESP_HELLO, bad), stream=False, content_type="text/event-stream"))
    events = []
    with pytest.raises(StreamError) as info:
        for ev in _provider(server, api="responses").stream("hi"):
            events.append(ev)
    assert events[-1].type is E.ERROR
    assert needle in str(info.value) and info.value.partial.content == "Hello"


FINISHED = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
ENDINGS = [
    ("done-without-blank-line", _sse(HELLO, FINISHED) + b"data: [DONE]"),
    ("done-with-trailing-space", _sse(HELLO, FINISHED) + b"data: [DONE]   \n\n"),
    ("no-done", _sse(HELLO, FINISHED)),
    ("eos-and-usage-with-choices", _sse(HELLO, {"choices": [{"index": 0, "delta": {}, "finish_reason": "eos"}],
                                              "usage": {"prompt_tokens": 2, "completion_tokens": 1}})),
]


@pytest.mark.parametrize("name,body", ENDINGS, ids=[c[0] for c in ENDINGS])
def test_stream_endings_compatible_servers_send_are_finished_streams(server, name, body):
    server.add(RawReply(body=body, stream=False, content_type="text/event-stream"))
    with _provider(server).stream("hi") as st:
        events = list(st)
    assert events[-1].type is E.DONE and st.result().content == "Hello"
    assert st.result().finish_reason in ("stop", "eos")


def test_stream_that_ends_before_any_finish_reason_is_still_a_stream_error(server):
    server.add(RawReply(body=_sse(HELLO), stream=False, content_type="text/event-stream"))
    with pytest.raises(StreamError) as info:
        list(_provider(server).stream("hi"))
    assert info.value.partial.content == "Hello"


# -- Agent: a server that repeats index 0 for two parallel calls and sends no ids --------------
def _index0_stream() -> bytes:
    def tc(**fn):
        return {"id": "gen-1", "model": "local", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "type": "function", "function": fn}]}}]}

    return _sse(tc(name="left", arguments=""), tc(arguments='{"tag": "L"}'),
                tc(name="right", arguments=""), tc(arguments='{"tag": "R"}'),
                {"id": "gen-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}, b"[DONE]")


def _barrier_tools(barrier):
    @tool
    def left(tag: str) -> str:
        barrier.wait()  # returns only while the other tool runs at the same time
        return f"left {tag}"

    @tool
    def right(tag: str) -> str:
        barrier.wait()
        return f"right {tag}"

    return [left, right]


def _check_followup(server, result, n_before):
    bodies = [r.json for r in server.requests[n_before:]]
    assert len(bodies) == 2
    follow = bodies[1]["messages"]
    assistant = next(m for m in follow if m["role"] == "assistant")
    ids = [tc["id"] for tc in assistant["tool_calls"]]
    assert len(set(ids)) == 2 and all(ids)
    assert [m["tool_call_id"] for m in follow if m["role"] == "tool"] == ids
    assert sorted(r.content for r in result.tool_results) == ["left L", "right R"]
    assert not any(r.is_error for r in result.tool_results)


def test_agent_runs_index0_parallel_calls_without_ids_in_parallel_streamed():
    with MockOpenAIServer() as server:
        server.add(RawReply(body=_index0_stream(), stream=False, content_type="text/event-stream"))
        server.add_text("both done")
        barrier = threading.Barrier(2, timeout=10)
        agent = Agent(_provider(server), tools=_barrier_tools(barrier))
        with agent.stream("go") as st:
            list(st)
        result = st.result()
        assert result.status == "completed" and result.content == "both done"
        _check_followup(server, result, 0)


def test_agent_runs_calls_with_empty_ids_gemini_style():
    body = {"id": "3SE-aKjd", "object": "chat.completion", "model": "gemini-2.5-flash", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [
            {"id": "", "type": "function", "function": {"name": "left", "arguments": '{"tag": "L"}'},
             "extra_content": {"google": {"thought_signature": "c2ln"}}},
            {"id": "", "type": "function", "function": {"name": "right", "arguments": '{"tag": "R"}'}}]}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
    with MockOpenAIServer() as server:
        server.add(RawReply(body=_j(body)))
        server.add_text("both done")
        result = Agent(_provider(server), tools=_barrier_tools(threading.Barrier(2, timeout=10))).run("go")
        assert result.status == "completed"
        _check_followup(server, result, 0)
        assistant = next(m for m in server.requests[1].json["messages"] if m["role"] == "assistant")
        assert assistant["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "c2ln"}}


# -- structured output: a reply that does not fit is a typed error, a refusal is not ----------
@dataclasses.dataclass
class City:
    name: str
    population: int
    coords: tuple[float, float]


def _chat_body(content=None, refusal=None):
    return _j({"id": "chatcmpl-s", "object": "chat.completion", "model": "gpt-5-nano", "choices": [{
        "index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content, "refusal": refusal}}]})


def test_structured_output_round_trip_and_typed_errors_over_a_socket(server):
    p = _provider(server)
    server.add(RawReply(body=_chat_body('{"name": "Oslo", "population": 700000, "coords": [59.9, 10.7]}')))
    r = p.complete("Oslo?", response_format=City)
    assert r.parsed == City("Oslo", 700000, (59.9, 10.7))
    sent = server.requests[-1].json["response_format"]["json_schema"]
    assert sent["strict"] is True and len(sent["schema"]["properties"]["coords"]["prefixItems"]) == 2

    server.add(RawReply(body=_chat_body('{"name": "Oslo"}')))
    with pytest.raises(StructuredOutputError) as info:
        p.complete("Oslo?", response_format=City)
    assert info.value.raw_text == '{"name": "Oslo"}' and info.value.result.content == '{"name": "Oslo"}'

    server.add(RawReply(body=_chat_body(refusal="I can't help with that.")))
    r = p.complete("Oslo?", response_format=City)
    assert r.parsed is None and r.refusal == "I can't help with that."

    body = _sse({"id": "c", "choices": [{"index": 0, "delta": {"content": '{"name": '}}]},
                {"id": "c", "choices": [{"index": 0, "delta": {"content": '"Oslo", "population": "many"'}, "finish_reason": "length"}]},
                b"[DONE]")
    server.add(RawReply(body=body, content_type="text/event-stream"))
    events = []
    with pytest.raises(StructuredOutputError, match="cut off"):
        for ev in p.stream("Oslo?", response_format=City):
            events.append(ev)
    assert events[-1].type is E.ERROR
