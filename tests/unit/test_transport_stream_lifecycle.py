"""The one stream lifecycle with an in-memory transport: settle exactly once on every exit,
close during a re-open, content-type check; and the SSE decoder's caps and linear long lines."""

from __future__ import annotations

import json
import threading
import time

import pytest

from llm_client_sync import StreamError, StreamEventType as E
from llm_client_sync._sse import SSEDecoder, SSELineTooLong
from llm_client_sync.models import get_profile
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.providers._stream import Stream

PROFILE = get_profile("gpt-5-nano")


def ev(text=None, finish=None):
    delta = {} if text is None else {"content": text}
    return b"data: " + json.dumps({"id": "c", "model": "m", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish}]}).encode() + b"\n\n"


GOOD = [ev("a"), ev("b"), ev(None, "stop"), b"data: [DONE]\n\n"]


class FakeResponse:
    """What Transport.open_stream returns, in memory: chunks, then EOF (or an error)."""

    def __init__(self, chunks, *, fail=None, content_type="text/event-stream", body=b""):
        self.chunks = list(chunks)
        self.fail = fail
        self.content_type = content_type
        self.body = body
        self.request_id = "req_fake"
        self.deadline = None
        self.max_line_bytes = 1024
        self.closed = False

    def iter_bytes(self):
        for c in self.chunks:
            if self.closed:
                return
            yield c
        if self.fail is not None:
            raise self.fail

    def read_all(self):
        return self.body

    def close(self):
        self.closed = True


class Ledger:
    def __init__(self):
        self.done, self.fail = [], 0

    def on_done(self, result):
        self.done.append(result)

    def on_fail(self):
        self.fail += 1


def make(responses, ledger, **kw):
    it = iter(responses)
    opened = []

    def open_response():
        r = next(it)
        if isinstance(r, BaseException):
            raise r
        opened.append(r)
        return r

    s = Stream(open_response, lambda rid: ChatAccumulator(PROFILE, rid), on_done=ledger.on_done,
               on_fail=ledger.on_fail, parse_body=lambda d, rid: parse_chat_response(d, PROFILE, rid), **kw)
    return s, opened


def test_settled_once_at_the_end():
    led = Ledger()
    s, opened = make([FakeResponse(GOOD)], led)
    assert s.result().content == "ab"
    s.close()
    del s
    assert len(led.done) == 1 and led.fail == 0 and opened[0].closed


def test_settled_once_on_error_and_error_reported_once():
    led = Ledger()
    s, _ = make([FakeResponse([ev("a"), b"data: {bad\n\n"])], led)
    events = []
    with pytest.raises(StreamError):
        for e in s:
            events.append(e)
    assert [e.type for e in events].count(E.ERROR) == 1
    with pytest.raises(StreamError):
        s.result()
    s.close()
    assert led.fail == 1 and led.done == []


def test_settled_once_on_early_close():
    led = Ledger()
    s, opened = make([FakeResponse(GOOD)], led)
    next(s)
    s.close()
    s.close()
    assert led.fail == 1 and opened[0].closed


def test_settled_and_released_when_dropped_without_close():
    led = Ledger()
    s, opened = make([FakeResponse(GOOD)], led)
    for _ in s:
        break
    del s  # no cycle: freed (and finalized) by reference counting, not by the collector
    assert opened[0].closed and led.fail == 1


def test_settled_when_opening_fails():
    led = Ledger()
    with pytest.raises(StreamError):
        make([StreamError("refused")], led)
    assert led.fail == 1


def test_json_answer_parsed_once_and_not_reopened():
    led = Ledger()
    body = json.dumps({"id": "x", "model": "m", "choices": [{"index": 0, "message": {"content": "whole"},
                                                             "finish_reason": "stop"}]}).encode()
    s, opened = make([FakeResponse([], content_type="application/json", body=body)], led, max_reopen=2)
    assert s.result().content == "whole"
    assert len(opened) == 1 and len(led.done) == 1


def test_connection_lost_before_any_event_reopens_once_settles_once():
    led = Ledger()
    s, opened = make([FakeResponse([], fail=StreamError("reset")), FakeResponse(GOOD)], led, max_reopen=1)
    assert s.result().content == "ab"
    assert len(opened) == 2 and opened[0].closed and len(led.done) == 1 and led.fail == 0


def test_malformed_first_event_is_not_reopened():
    led = Ledger()
    s, opened = make([FakeResponse([b"data: {bad\n\n"]), FakeResponse(GOOD)], led, max_reopen=2)
    with pytest.raises(StreamError):
        s.result()
    assert len(opened) == 1


def test_close_from_another_thread_during_reopen_closes_the_new_response():
    led = Ledger()
    entered, release = threading.Event(), threading.Event()
    first = FakeResponse([], fail=StreamError("reset"))
    second = FakeResponse(GOOD)
    calls = []

    def open_response():
        calls.append(1)
        if len(calls) == 1:
            return first
        entered.set()
        assert release.wait(5)
        return second

    s = Stream(open_response, lambda rid: ChatAccumulator(PROFILE, rid), max_reopen=1,
               on_done=led.on_done, on_fail=led.on_fail)
    got = []
    t = threading.Thread(target=lambda: got.extend(s))
    t.start()
    assert entered.wait(5)
    s.close()  # while the re-open is in flight
    release.set()
    t.join(5)
    assert not t.is_alive()
    assert second.closed and first.closed  # the response opened after the close is closed too
    assert got == [] and led.fail == 1 and led.done == []


def test_sse_line_cap_and_event_cap():
    d = SSEDecoder(max_line=100)
    with pytest.raises(SSELineTooLong):
        for _ in range(10):
            d.feed(b"x" * 30)
    d = SSEDecoder(max_line=100)
    with pytest.raises(SSELineTooLong):
        d.feed(b"data: " + b"y" * 50 + b"\n" + b"data: " + b"z" * 50 + b"\n")
    assert issubclass(SSELineTooLong, StreamError)


def test_long_line_assembly_is_linear():
    # 8 MiB in 2,048 pieces: quadratic concatenation copies ~8 GiB (seconds); linear is a few ms
    piece = b"x" * 4096
    d = SSEDecoder()
    t0 = time.perf_counter()
    assert d.feed(b"data: ") == []
    for _ in range(2048):
        assert d.feed(piece) == []
    events = d.feed(b"\n\n")
    took = time.perf_counter() - t0
    assert len(events) == 1 and len(events[0].data) == 8 * 2**20
    assert took < 0.5, took
