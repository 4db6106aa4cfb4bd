"""PusherAdapter and its token coalescer, with a recording client and a fake clock."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from llm_client_sync.errors import ConfigurationError, LLMClientError, StreamError
from llm_client_sync.streaming import PusherAdapter, TokenCoalescer
from llm_client_sync.types import CompletionResult, StreamEvent, StreamEventType as T, ToolCall, Usage

RESULT = CompletionResult(content="x", usage=Usage(1, 2, 3), model="gpt-5-nano", finish_reason="stop")


class RecordingClient:
    def __init__(self, reply=None, fail: Exception | None = None) -> None:
        self.batches: list[list[dict]] = []
        self.reply = {"ok": True} if reply is None else reply
        self.fail = fail

    def trigger_batch(self, batch, already_encoded=False):
        if self.fail is not None:
            raise self.fail
        assert already_encoded
        self.batches.append([dict(e) for e in batch])
        return self.reply

    @property
    def messages(self) -> list[tuple[str, dict, str]]:
        return [(e["name"], json.loads(e["data"]), e["data"]) for b in self.batches for e in b]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ticking(events, clock: FakeClock, step: float):
    for event in events:
        clock.now += step
        yield event


def tokens(*texts: str, done: bool = True):
    out = [StreamEvent(T.TOKEN, t) for t in texts]
    if done:
        out.append(StreamEvent(T.DONE, RESULT))
    return out


# -- TokenCoalescer --------------------------------------------------------------------------
def test_coalescer_packs_text_and_numbers_messages():
    c = TokenCoalescer("r1", max_bytes=100)
    for t in ["Hel", "lo", " world"]:
        c.add_text("new-token", t)
    c.finish()
    assert c.take() == [("new-token", '{"response_id":"r1","seq":0,"text":"Hello world"}')]
    c.add_message("response-finished", {"x": 1})
    assert json.loads(c.take()[0][1])["seq"] == 1


def test_coalescer_never_exceeds_limit_in_utf8_bytes_with_multibyte_text():
    c = TokenCoalescer("r" * 32, max_bytes=10_240)
    text = ("héllo wörld 日本語テキスト 🚀🎉 " * 600)  # well over 10 KB, 1-4 bytes per character
    for i in range(0, len(text), 7):
        c.add_text("new-token", text[i:i + 7])
    c.finish()
    msgs = c.take()
    sizes = [len(d.encode("utf-8")) for _, d in msgs]
    assert max(sizes) <= 10_240
    assert max(sizes) > 10_240 - 4  # packed right up to the limit, not in characters
    assert max(len(d) for _, d in msgs) < 10_240 - 1000  # characters alone would have overfilled
    assert "".join(json.loads(d)["text"] for _, d in msgs) == text
    assert [json.loads(d)["seq"] for _, d in msgs] == list(range(len(msgs)))


def test_coalescer_counts_json_escapes():
    c = TokenCoalescer("r", max_bytes=60)
    c.add_text("t", '"\\\n\x01' * 20)
    c.finish()
    msgs = c.take()
    assert all(len(d.encode()) <= 60 for _, d in msgs)
    assert "".join(json.loads(d)["text"] for _, d in msgs) == '"\\\n\x01' * 20


def test_coalescer_starts_new_message_when_event_name_changes():
    c = TokenCoalescer("r", max_bytes=200)
    c.add_text("reasoning", "think")
    c.add_text("token", "say")
    c.finish()
    assert [(n, json.loads(d)["text"]) for n, d in c.take()] == [("reasoning", "think"), ("token", "say")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), max_size=60), st.integers(min_value=60, max_value=400))
def test_coalescer_property_limit_order_and_content(pieces, max_bytes):
    c = TokenCoalescer("resp", max_bytes=max_bytes)
    for p in pieces:
        c.add_text("t", p)
    c.finish()
    msgs = c.take()
    assert all(len(d.encode("utf-8")) <= max_bytes for _, d in msgs)
    assert "".join(json.loads(d)["text"] for _, d in msgs) == "".join(pieces)
    assert [json.loads(d)["seq"] for _, d in msgs] == list(range(len(msgs)))


def test_coalescer_rejects_a_limit_without_room():
    with pytest.raises(ConfigurationError):
        TokenCoalescer("r" * 50, max_bytes=60).add_text("t", "a")


# -- PusherAdapter ---------------------------------------------------------------------------
def test_adapter_publishes_start_tokens_and_finish_with_sequence_numbers():
    client = RecordingClient()
    clock = FakeClock()
    adapter = PusherAdapter("chat-1", client, clock=clock, metadata={"conversation": "c9"})
    result = adapter.consume(ticking(tokens("Hel", "lo", " there"), clock, 0.04), response_id="rid")
    assert result is RESULT
    msgs = client.messages
    assert [n for n, _, _ in msgs][0] == "new-response" and msgs[-1][0] == "response-finished"
    assert msgs[0][1] == {"response_id": "rid", "seq": 0, "conversation": "c9"}
    assert "".join(d["text"] for n, d, _ in msgs if n == "new-token") == "Hello there"
    assert [d["seq"] for _, d, _ in msgs] == list(range(len(msgs)))
    finished = msgs[-1][1]
    assert finished["last_seq"] == finished["seq"] == len(msgs) - 1
    assert finished["usage"]["total_tokens"] == 3 and finished["error"] is None
    assert all(e["channel"] == "chat-1" for b in client.batches for e in b)


def test_adapter_coalesces_by_flush_interval():
    client = RecordingClient()
    clock = FakeClock()
    adapter = PusherAdapter("c", client, clock=clock, flush_interval=0.1)
    adapter.consume(ticking(tokens(*"abcdefghij"), clock, 0.03))
    token_msgs = [d["text"] for n, d, _ in client.messages if n == "new-token"]
    # published when 0.1 s had passed since the last publish: every 4th token (0.12 s)
    assert token_msgs == ["abcd", "efgh", "ij"]
    assert adapter.published_batches == 1 + 2 + 1  # start, two flushes, final (tail + finished)


def test_adapter_batches_at_most_ten_events():
    client = RecordingClient()
    clock = FakeClock()
    big = "é" * 6000  # 12 KB per token: each is split into two messages
    PusherAdapter("c", client, clock=clock, flush_interval=1000).consume(ticking(tokens(*[big] * 12), clock, 0))
    assert max(len(b) for b in client.batches) <= 10
    assert all(len(e["data"].encode()) <= 10_240 for b in client.batches for e in b)
    assert "".join(d["text"] for n, d, _ in client.messages if n == "new-token") == big * 12


def test_adapter_publishes_error_in_finished_and_reraises():
    client = RecordingClient()

    def failing():
        yield StreamEvent(T.TOKEN, "partial")
        raise StreamError("connection lost")

    with pytest.raises(StreamError):
        PusherAdapter("c", client, flush_interval=1000).consume(failing())
    names = [n for n, _, _ in client.messages]
    assert names == ["new-response", "new-token", "response-finished"]
    assert client.messages[-1][1]["error"] == {"type": "StreamError", "message": "connection lost"}


def test_adapter_optional_reasoning_and_tool_call_events():
    client = RecordingClient()
    tc = ToolCall.from_raw("call_1", "lookup", '{"q": "x"}')
    events = [StreamEvent(T.REASONING, "hmm"), StreamEvent(T.TOKEN, "ok"), StreamEvent(T.TOOL_CALL_END, tc),
              StreamEvent(T.DONE, CompletionResult(content="ok", tool_calls=(tc,)))]
    PusherAdapter("c", client, event_names={"reasoning": "new-reasoning", "tool_call": "tool-call"},
                  flush_interval=1000).consume(events)
    names = [n for n, _, _ in client.messages]
    assert names == ["new-response", "new-reasoning", "new-token", "tool-call", "response-finished"]
    assert client.messages[3][1]["tool_call"] == {"id": "call_1", "name": "lookup", "raw_arguments": '{"q": "x"}'}
    assert client.messages[-1][1]["tool_calls"] == [{"id": "call_1", "name": "lookup"}]


class ClosableStream:
    def __init__(self, events) -> None:
        self._it = iter(events)
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self) -> None:
        self.closed = True


def test_adapter_raises_when_server_answers_200_with_error_body_and_closes_stream():
    stream = ClosableStream(tokens("a", "b"))
    client = RecordingClient(reply={"error": "The secret authentication failed", "code": 401})
    with pytest.raises(LLMClientError, match="secret authentication failed"):
        PusherAdapter("c", client).consume(stream)
    assert stream.closed


def test_adapter_wraps_client_exceptions():
    stream = iter(tokens("a"))
    with pytest.raises(LLMClientError) as info:
        PusherAdapter("c", RecordingClient(fail=OSError("refused"))).consume(stream)
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("kwargs", [{"max_batch": 11}, {"max_bytes": 20_000}, {"event_names": {"nope": "x"}}])
def test_adapter_rejects_invalid_settings(kwargs):
    with pytest.raises(ConfigurationError):
        PusherAdapter("c", RecordingClient(), **kwargs)


def test_adapter_rejects_encrypted_and_invalid_channels_and_needs_credentials():
    with pytest.raises(ConfigurationError):
        PusherAdapter("private-encrypted-x", RecordingClient())
    pytest.importorskip("pusher")
    with pytest.raises(ConfigurationError):
        PusherAdapter("bad channel!", RecordingClient())
    with pytest.raises(ConfigurationError):
        PusherAdapter("c", app_id="1", key="k")


def test_adapter_repr_hides_secret():
    pytest.importorskip("pusher")
    adapter = PusherAdapter("c", app_id=12345, key="app-key", secret="very-secret", host="127.0.0.1", port=6001, ssl=False)
    assert "very-secret" not in repr(adapter)


def test_adapter_agent_error_then_done_is_published_and_returned():
    class AgentResultLike:
        content, status, usage, cost = "partial", "error", None, None

    client = RecordingClient()
    exc = StreamError("model call failed")
    events = [StreamEvent(T.TOKEN, "partial"), StreamEvent(T.ERROR, exc), StreamEvent(T.DONE, AgentResultLike())]
    result = PusherAdapter("c", client, flush_interval=1000).consume(events)
    assert result.status == "error"
    finished = client.messages[-1][1]
    assert finished["status"] == "error" and finished["error"]["message"] == "model call failed"
