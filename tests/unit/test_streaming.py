"""Stream adapters on plain iterators of StreamEvents: SSE frames, callbacks, buffering, websocket."""

from __future__ import annotations

import json
import threading

import pytest

from llm_client_sync.errors import ConfigurationError, RateLimitError, StreamError
from llm_client_sync.streaming import (
    SSE_HEADERS,
    BufferingAdapter,
    CallbackAdapter,
    SSEAdapter,
    WebSocketAdapter,
    collect_stream,
    django_response,
    flask_response,
    format_sse,
)
from llm_client_sync.streaming._payload import event_payload
from llm_client_sync.types import CompletionResult, StreamEvent, StreamEventType as T, ToolCall, Usage

RESULT = CompletionResult(content="Hello world", usage=Usage(3, 2, 5), model="gpt-5-nano", finish_reason="stop")
TOOL = ToolCall.from_raw("call_1", "get_weather", '{"city": "Tokyo"}')


def events(*tokens: str, done: bool = True, result: CompletionResult = RESULT) -> list[StreamEvent]:
    out = [StreamEvent(T.META, {"model": "gpt-5-nano", "request_id": "req_1"})]
    out += [StreamEvent(T.TOKEN, t) for t in tokens]
    out.append(StreamEvent(T.USAGE, Usage(3, 2, 5)))
    if done:
        out.append(StreamEvent(T.DONE, result))
    return out


class FakeStream:
    """An upstream like the provider's Stream: iterator + close(), which ends iteration."""

    def __init__(self, items: list, *, raise_at_end: BaseException | None = None,
                 block: threading.Event | None = None) -> None:
        self.items = list(items)
        self.raise_at_end = raise_at_end
        self.block = block
        self.closed = threading.Event()
        self.close_calls = 0
        self.yielded = 0

    def __iter__(self) -> "FakeStream":
        return self

    def __next__(self) -> StreamEvent:
        if self.closed.is_set():
            raise StopIteration
        if self.yielded == len(self.items):
            if self.block is not None:
                # a silent model: wait until released or closed (close unblocks, like a socket)
                while not (self.block.wait(0.01) or self.closed.is_set()):
                    pass
                if self.closed.is_set():
                    raise StreamError("stream closed")
                self.block = None
                return self.__next__()
            if self.raise_at_end is not None:
                raise self.raise_at_end
            raise StopIteration
        self.yielded += 1
        return self.items[self.yielded - 1]

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()


def parse_frames(frames: list[str]) -> list[tuple[str, dict]]:
    out = []
    for frame in frames:
        assert frame.endswith("\n\n")
        if frame.startswith(":"):
            out.append((":", {}))
            continue
        fields = dict(line.split(": ", 1) for line in frame.strip("\n").split("\n"))
        out.append((fields["event"], json.loads(fields["data"])))
    return out


# -- payloads and frames ---------------------------------------------------------------------
def test_format_sse_splits_multiline_text_into_data_lines():
    assert format_sse("x", "a\nb") == "event: x\ndata: a\ndata: b\n\n"
    assert format_sse("token", {"text": "é\n"}) == 'event: token\ndata: {"text":"é\\n"}\n\n'


def test_event_payload_shapes():
    assert event_payload(StreamEvent(T.TOKEN, "Hi")) == {"type": "token", "text": "Hi"}
    assert event_payload(StreamEvent(T.TOKEN, "Hi", choice=2)) == {"type": "token", "text": "Hi", "choice": 2}
    start = event_payload(StreamEvent(T.TOOL_CALL_START, {"index": 0, "id": "c", "name": "f", "type": "x"}))
    assert start == {"type": "tool_call_start", "index": 0, "id": "c", "name": "f"}
    end = event_payload(StreamEvent(T.TOOL_CALL_END, TOOL))
    assert end["tool_call"]["arguments"] == {"city": "Tokyo"} and end["tool_call"]["name"] == "get_weather"
    done = json.loads(json.dumps(event_payload(StreamEvent(T.DONE, RESULT)), default=lambda o: o.to_dict()))
    assert done["result"]["content"] == "Hello world" and done["result"]["usage"]["total_tokens"] == 5
    assert "raw" not in done["result"]


def test_error_payload_hides_messages_of_foreign_exceptions():
    lib = event_payload(StreamEvent(T.ERROR, RateLimitError("slow down", status_code=429)))
    assert lib["error"] == {"type": "RateLimitError", "message": "slow down", "status_code": 429}
    foreign = event_payload(StreamEvent(T.ERROR, KeyError("/etc/secret path")))
    assert foreign["error"] == {"type": "KeyError", "message": "internal error"}


# -- SSEAdapter ------------------------------------------------------------------------------
@pytest.mark.parametrize("heartbeat", [None, 5.0])
def test_sse_one_frame_per_event_ending_with_done(heartbeat):
    up = FakeStream(events("Hel", "lo"))
    frames = list(SSEAdapter(heartbeat=heartbeat).transform(up))
    parsed = parse_frames(frames)
    assert [name for name, _ in parsed] == ["meta", "token", "token", "usage", "done"]
    assert [d["text"] for n, d in parsed if n == "token"] == ["Hel", "lo"]
    assert parsed[-1][1]["result"]["content"] == "Hello world"
    assert up.closed.is_set()


def test_sse_event_names_rename_and_drop():
    adapter = SSEAdapter(event_names={"token": "delta", T.META: None, "usage": None}, heartbeat=None)
    parsed = parse_frames(list(adapter.transform(FakeStream(events("a")))))
    assert [name for name, _ in parsed] == ["delta", "done"]


def test_sse_synthesises_done_when_stream_ends_without_it():
    parsed = parse_frames(list(SSEAdapter(heartbeat=None).transform(FakeStream(events("a", "b", done=False)))))
    assert parsed[-1][0] == "done"
    assert parsed[-1][1]["result"]["content"] == "ab"
    assert parsed[-1][1]["result"]["model"] == "gpt-5-nano"


@pytest.mark.parametrize("heartbeat", [None, 5.0])
def test_sse_stream_error_sends_error_then_done_with_null_result(heartbeat):
    up = FakeStream(events("a", done=False), raise_at_end=StreamError("connection lost"))
    parsed = parse_frames(list(SSEAdapter(heartbeat=heartbeat).transform(up)))
    assert [n for n, _ in parsed][-2:] == ["error", "done"]
    assert parsed[-2][1]["error"] == {"type": "StreamError", "message": "connection lost"}
    assert parsed[-1][1]["result"] is None


def test_sse_error_event_followed_by_the_same_raise_is_sent_once():
    exc = StreamError("in-band error")
    up = FakeStream([StreamEvent(T.TOKEN, "a"), StreamEvent(T.ERROR, exc)], raise_at_end=exc)
    names = [n for n, _ in parse_frames(list(SSEAdapter(heartbeat=None).transform(up)))]
    assert names == ["token", "error", "done"]


def test_sse_heartbeat_while_model_is_silent():
    release = threading.Event()
    up = FakeStream([StreamEvent(T.TOKEN, "a")], block=release)
    frames = SSEAdapter(heartbeat=0.02).transform(up)
    assert parse_frames([next(frames)])[0][0] == "token"
    assert next(frames) == ": heartbeat\n\n"  # the upstream is blocked until released
    release.set()
    rest = [f for f in frames if not f.startswith(":")]
    assert [n for n, _ in parse_frames(rest)] == ["done"]


def test_sse_closing_mid_stream_closes_upstream_and_stops_the_reader():
    release = threading.Event()
    up = FakeStream([StreamEvent(T.TOKEN, "a")], block=release)
    frames = SSEAdapter(heartbeat=0.02).transform(up)
    next(frames)
    assert next(frames).startswith(":")
    frames.close()  # what a WSGI server does when the client went away
    assert up.closed.is_set()
    assert not release.is_set()
    assert not any(t.name == "llm-stream-pump" and t.is_alive() for t in threading.enumerate())


def test_sse_close_before_iteration_still_closes_upstream():
    up = FakeStream(events("a"))
    SSEAdapter().transform(up).close()
    assert up.closed.is_set() and up.yielded == 0


def test_sse_closes_plain_generator_upstream():
    closed = []

    def gen():
        try:
            yield StreamEvent(T.TOKEN, "a")
            yield StreamEvent(T.TOKEN, "b")
        finally:
            closed.append(True)

    frames = SSEAdapter(heartbeat=None).transform(gen())
    next(frames)
    frames.close()
    assert closed == [True]


def test_sse_heartbeat_must_be_positive():
    with pytest.raises(ValueError):
        SSEAdapter(heartbeat=0)


def test_flask_response_headers_and_body():
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)

    @app.get("/s")
    def s():
        return flask_response(FakeStream(events("x", "y")), heartbeat=None)

    resp = app.test_client().get("/s")
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Accel-Buffering"] == "no"
    body = resp.get_data(as_text=True)
    assert body.count("event: token\n") == 2 and body.endswith("\n\n") and "event: done\n" in body


def test_django_response_headers_and_body(django_settings):
    up = FakeStream(events("x"))
    resp = django_response(up, heartbeat=None)
    assert resp["Content-Type"] == "text/event-stream; charset=utf-8"
    for key, value in SSE_HEADERS.items():
        assert resp[key] == value
    assert resp.streaming
    body = b"".join(resp.streaming_content).decode()
    assert "event: token\ndata: {\"type\":\"token\",\"text\":\"x\"}\n\n" in body
    resp.close()
    assert up.closed.is_set()


def test_django_response_close_before_iteration_closes_upstream(django_settings):
    up = FakeStream(events("x"))
    django_response(up).close()
    assert up.closed.is_set()


@pytest.fixture
def django_settings():
    pytest.importorskip("django")
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, DEFAULT_CHARSET="utf-8", ALLOWED_HOSTS=["127.0.0.1", "localhost"])
    return settings


# -- CallbackAdapter / BufferingAdapter / collect_stream -------------------------------------
def test_callbacks_receive_tokens_reasoning_tool_calls_and_done():
    seen: list = []
    stream = FakeStream([StreamEvent(T.REASONING, "think"), StreamEvent(T.TOKEN, "Hi"),
                         StreamEvent(T.TOOL_CALL_END, TOOL), StreamEvent(T.DONE, RESULT)])
    adapter = CallbackAdapter(on_token=lambda t: seen.append(("token", t)),
                              on_reasoning=lambda t: seen.append(("reasoning", t)),
                              on_tool_call=lambda tc: seen.append(("tool", tc.name)),
                              on_done=lambda r: seen.append(("done", r.content)),
                              on_error=lambda e: seen.append(("error", e)))
    assert adapter.consume(stream) is RESULT
    assert seen == [("reasoning", "think"), ("token", "Hi"), ("tool", "get_weather"), ("done", "Hello world")]
    assert stream.closed.is_set()


def test_callback_that_raises_stops_stream_and_reraises():
    stream = FakeStream(events("a", "b", "c"))
    seen = []

    def on_token(text):
        seen.append(text)
        if text == "b":
            raise RuntimeError("client gone")

    with pytest.raises(RuntimeError, match="client gone"):
        CallbackAdapter(on_token=on_token).consume(stream)
    assert seen == ["a", "b"]
    assert stream.closed.is_set() and stream.yielded == 3  # META, a, b: nothing read after


def test_stream_error_goes_to_on_error_then_is_reraised():
    err = StreamError("lost", partial=None)
    errors = []
    stream = FakeStream(events("a", done=False), raise_at_end=err)
    with pytest.raises(StreamError) as info:
        CallbackAdapter(on_error=errors.append).consume(stream)
    assert info.value is err and errors == [err]


def test_error_event_without_exception_raises_stream_error_with_partial():
    stream = FakeStream([StreamEvent(T.TOKEN, "par"), StreamEvent(T.ERROR, {"message": "boom"})])
    with pytest.raises(StreamError) as info:
        collect_stream(stream)
    assert info.value.partial.content == "par"


def test_on_done_called_with_assembled_result_when_no_done_event():
    got = []
    result = CallbackAdapter(on_done=got.append).consume(FakeStream(events("a", "b", done=False)))
    assert got == [result] and result.content == "ab" and result.usage.total_tokens == 5


def test_collect_stream_returns_done_result_or_assembles_one():
    assert collect_stream(iter(events("x"))) is RESULT
    assembled = collect_stream([StreamEvent(T.TOOL_CALL_END, TOOL)])
    assert assembled.content is None and assembled.tool_calls == (TOOL,)
    assert assembled.finish_reason == "tool_calls"


def test_collect_stream_passes_agent_results_through():
    class AgentResult:  # whatever an agent's DONE carries is returned as is
        content = "final"

    agent_done = AgentResult()
    assert collect_stream([StreamEvent(T.META, {"event": "turn"}), StreamEvent(T.DONE, agent_done)]) is agent_done


def test_buffering_adapter_passes_events_unchanged_and_accumulates():
    items = [StreamEvent(T.TOKEN, "Hel"), StreamEvent(T.REASONING, "r"), StreamEvent(T.TOKEN, "lo"),
             StreamEvent(T.TOKEN, "zz", choice=1), StreamEvent(T.TOOL_CALL_END, TOOL),
             StreamEvent(T.USAGE, Usage(1, 1, 2)), StreamEvent(T.DONE, RESULT)]
    buf = BufferingAdapter()
    assert list(buf.wrap(FakeStream(items))) == items
    assert buf.content == "Hello" and buf.reasoning == "r" and buf.tool_calls == (TOOL,)
    assert buf.usage == Usage(1, 1, 2) and buf.result is RESULT and buf.done and buf.error is None


def test_buffering_adapter_records_error_and_closes_on_early_exit():
    up = FakeStream(events("a", done=False), raise_at_end=StreamError("x"))
    buf = BufferingAdapter()
    with pytest.raises(StreamError):
        list(buf.wrap(up))
    assert isinstance(buf.error, StreamError) and buf.content == "a" and buf.result is None

    up2 = FakeStream(events("a", "b"))
    wrapped = BufferingAdapter().wrap(up2)
    next(wrapped)
    wrapped.close()
    assert up2.closed.is_set()


# -- WebSocketAdapter ------------------------------------------------------------------------
class Sink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_after = fail_after

    def send(self, message: str) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("socket closed")
        self.sent.append(message)


def test_websocket_one_json_message_per_event():
    sink = Sink()
    result = WebSocketAdapter(sink).consume(FakeStream(events("Hel", "lo")))
    messages = [json.loads(m) for m in sink.sent]
    assert result is RESULT
    assert [m["type"] for m in messages] == ["meta", "token", "token", "usage", "done"]
    assert messages[-1]["result"]["content"] == "Hello world"


def test_websocket_accepts_a_callable_and_renames_types():
    sent: list[str] = []
    WebSocketAdapter(sent.append, event_names={"meta": None, "usage": None, "token": "t"}).consume(events("a"))
    assert [json.loads(m)["type"] for m in sent] == ["t", "done"]
    with pytest.raises(ConfigurationError, match="send must be a callable"):
        WebSocketAdapter(object())


def test_websocket_send_failure_closes_upstream_and_reraises():
    up = FakeStream(events("a", "b", "c"))
    with pytest.raises(ConnectionError):
        WebSocketAdapter(Sink(fail_after=2)).consume(up)
    assert up.closed.is_set() and up.yielded == 3


def test_websocket_stream_error_is_sent_then_reraised():
    sink = Sink()
    with pytest.raises(StreamError):
        WebSocketAdapter(sink).consume(FakeStream(events("a", done=False), raise_at_end=StreamError("lost")))
    tail = [json.loads(m) for m in sink.sent][-2:]
    assert tail[0] == {"type": "error", "error": {"type": "StreamError", "message": "lost"}}
    assert tail[1] == {"type": "done", "result": None}


# -- agent-shaped streams: ERROR for a failed model call, then DONE with the agent's result ----
class AgentResultLike:
    def __init__(self, error: BaseException) -> None:
        self.content = "partial answer"
        self.status = "error"
        self.num_turns = 1
        self.usage = Usage(1, 1, 2)
        self.cost = None
        self.error = error


def agent_events(exc: BaseException) -> list[StreamEvent]:
    return [StreamEvent(T.META, {"event": "turn", "turn": 1}), StreamEvent(T.TOKEN, "partial answer"),
            StreamEvent(T.ERROR, exc), StreamEvent(T.DONE, AgentResultLike(exc))]


def test_callbacks_error_event_then_done_returns_the_result():
    exc = StreamError("model call failed")
    errors: list = []
    result = CallbackAdapter(on_error=errors.append).consume(FakeStream(agent_events(exc)))
    assert result.status == "error" and errors == [exc]


def test_callbacks_error_event_then_the_same_raise_reports_once():
    exc = StreamError("lost")
    errors: list = []
    with pytest.raises(StreamError):
        CallbackAdapter(on_error=errors.append).consume(FakeStream([StreamEvent(T.ERROR, exc)], raise_at_end=exc))
    assert errors == [exc]


def test_sse_agent_stream_error_then_done_carries_status_and_error():
    parsed = parse_frames(list(SSEAdapter(heartbeat=None).transform(FakeStream(agent_events(StreamError("x"))))))
    assert [n for n, _ in parsed] == ["meta", "token", "error", "done"]
    done = parsed[-1][1]["result"]
    assert done["status"] == "error" and done["content"] == "partial answer"
    assert done["error"] == {"type": "StreamError", "message": "x"}
    assert parsed[0][1] == {"type": "meta", "data": {"event": "turn", "turn": 1}}


def test_websocket_agent_stream_error_then_done_returns_result():
    sink = Sink()
    result = WebSocketAdapter(sink).consume(FakeStream(agent_events(StreamError("x"))))
    assert result.status == "error"
    assert [json.loads(m)["type"] for m in sink.sent] == ["meta", "token", "error", "done"]


# -- encoders never break on hostile text ----------------------------------------------------------
def _sse_fields(frame: str) -> list[tuple[str, str]]:
    from llm_client_sync._sse import SSEDecoder

    events = SSEDecoder().feed(frame.encode("utf-8"))
    return [(e.event, e.data) for e in events]


def test_format_sse_splits_cr_lf_and_crlf_into_data_lines_the_decoder_rejoins():
    frame = format_sse("token", "a\rb\r\nc\nd")
    assert "\r" not in frame
    assert _sse_fields(frame) == [("token", "a\nb\nc\nd")]


def test_format_sse_strips_line_breaks_and_nul_from_event_and_id():
    frame = format_sse("tok\r\nevent: admin\n", {"x": 1}, id="7\nretry: 1\0")
    lines = frame.split("\n")
    assert lines[0] == "event: tokevent: admin" and lines[1] == "id: 7retry: 1"
    assert _sse_fields(frame) == [("tokevent: admin", '{"x":1}')]


def test_a_split_surrogate_pair_in_model_text_never_breaks_any_encoder():
    from llm_client_sync.streaming import PusherAdapter

    halves = ["smile \ud83d", "\ude00 done", "\ud83d\ude00"]  # a pair split across chunks, and a whole one
    stream = events(*halves)
    frames = list(SSEAdapter(heartbeat=None).encode(FakeStream(stream)))
    text = b"".join(frames).decode("utf-8")
    assert "smile \ufffd" in text and "\U0001F600" in text
    sent: list[str] = []
    WebSocketAdapter(sent.append).consume(FakeStream(stream))
    assert all(m.encode("utf-8") for m in sent)

    class Client:
        batches: list = []

        def trigger_batch(self, batch, already_encoded=False):
            for message in batch:
                message["data"].encode("utf-8")  # what the HTTP client does
            self.batches.append(batch)
            return {}

    PusherAdapter("chat-1", client=Client()).consume(FakeStream(stream))
    assert Client.batches


def test_heartbeat_and_comment_are_checked():
    for bad in (0, -1, float("nan"), float("inf"), "5", True):
        with pytest.raises(ConfigurationError, match="heartbeat"):
            SSEAdapter(heartbeat=bad)
    with pytest.raises(ConfigurationError, match="heartbeat_comment"):
        SSEAdapter(heartbeat_comment="x\n\ndata: injected")
