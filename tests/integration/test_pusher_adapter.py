"""PusherAdapter against soketi (a real Pusher-protocol server) with a websocket subscriber.

Needs soketi on 127.0.0.1:6001: ``source ../shared/services/soketi.sh && soketi_start``.
"""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest

from support import require_service

from llm_client_sync.errors import LLMClientError
from llm_client_sync.streaming import PusherAdapter
from llm_client_sync.types import CompletionResult, StreamEvent, StreamEventType as T

pusher = pytest.importorskip("pusher")
websocket = pytest.importorskip("websocket")

pytestmark = pytest.mark.services

HOST, PORT, APP_ID, KEY, SECRET = "127.0.0.1", 6001, "12345", "app-key", "app-secret"


@pytest.fixture(scope="module")
def soketi() -> None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{PORT}/ready", timeout=1) as resp:
            resp.read()
    except OSError:
        require_service("soketi is not running on 127.0.0.1:6001 "
                        "(source ../shared/services/soketi.sh && soketi_start)")


class RecordingPusher(pusher.Pusher):
    """The official client, recording how many events each batch call carried."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_sizes: list[int] = []

    def trigger_batch(self, batch=[], already_encoded=False):  # noqa: B006 - the library's signature
        self.batch_sizes.append(len(batch))
        return super().trigger_batch(batch, already_encoded=already_encoded)


def make_client(secret: str = SECRET) -> RecordingPusher:
    return RecordingPusher(app_id=APP_ID, key=KEY, secret=secret, host=HOST, port=PORT, ssl=False)


class Subscriber:
    """A websocket client speaking the Pusher protocol (protocol 7) on one public channel."""

    def __init__(self, channel: str) -> None:
        self.ws = websocket.create_connection(
            f"ws://{HOST}:{PORT}/app/{KEY}?protocol=7&client=llm-client-sync-test&version=1.0", timeout=5)
        first = json.loads(self.ws.recv())
        assert first["event"] == "pusher:connection_established", first
        self.ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": channel}}))
        ack = json.loads(self.ws.recv())
        assert ack["event"] == "pusher_internal:subscription_succeeded", ack

    def receive_until(self, final_event: str, limit: int = 10_000) -> list[tuple[str, str]]:
        """(event name, raw data string) in arrival order, up to and including ``final_event``."""
        out = []
        for _ in range(limit):
            msg = json.loads(self.ws.recv())
            if msg["event"].startswith("pusher"):
                continue
            out.append((msg["event"], msg["data"]))
            if msg["event"] == final_event:
                return out
        raise AssertionError(f"no {final_event} within {limit} messages")

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def channel(soketi) -> str:
    return f"llm-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def subscriber(channel):
    sub = Subscriber(channel)
    yield sub
    sub.close()


def token_stream(pieces, result_text=None):
    for piece in pieces:
        yield StreamEvent(T.TOKEN, piece)
    yield StreamEvent(T.DONE, CompletionResult(content=result_text or "".join(pieces), finish_reason="stop"))


def check_sequence(received):
    datas = [json.loads(d) for _, d in received]
    assert [d["seq"] for d in datas] == list(range(len(datas))), "arrival order is sequence order"
    assert len({d["response_id"] for d in datas}) == 1
    return datas


def test_subscriber_receives_every_token_in_order(channel, subscriber):
    pieces = [f"token{i} " for i in range(300)]
    client = make_client()
    result = PusherAdapter(channel, client, flush_interval=0.0).consume(token_stream(pieces))
    received = subscriber.receive_until("response-finished")
    datas = check_sequence(received)
    assert received[0][0] == "new-response"
    assert "".join(d["text"] for (name, _), d in zip(received, datas) if name == "new-token") == "".join(pieces)
    assert datas[-1]["last_seq"] == len(datas) - 1 and datas[-1]["error"] is None
    assert max(client.batch_sizes) <= 10
    assert result.content == "".join(pieces)


def test_multibyte_text_near_the_size_limit(channel, subscriber):
    # 2-, 3- and 4-byte characters: ~41 KB of UTF-8 but only ~14k characters
    text = "ÀÉÎÕÜ日本語の文章🚀🎉🌍" * 1100
    pieces = [text[i:i + 500] for i in range(0, len(text), 500)]
    client = make_client()
    PusherAdapter(channel, client, flush_interval=3600).consume(token_stream(pieces))
    received = subscriber.receive_until("response-finished")
    datas = check_sequence(received)
    sizes = [len(raw.encode("utf-8")) for _, raw in received]
    assert max(sizes) <= 10_240
    assert max(sizes) >= 10_240 - 4, "messages are packed by UTF-8 bytes up to the limit"
    assert "".join(d["text"] for (name, _), d in zip(received, datas) if name == "new-token") == text
    assert max(client.batch_sizes) <= 10


def test_wrong_secret_is_an_error_even_though_soketi_answers_200(channel):
    with pytest.raises(LLMClientError, match="authentication"):
        PusherAdapter(channel, make_client(secret="wrong")).consume(token_stream(["a"]))


def test_built_from_settings_with_numeric_app_id(channel, subscriber):
    adapter = PusherAdapter(channel, app_id=int(APP_ID), key=KEY, secret=SECRET, host=HOST, port=PORT, ssl=False)
    adapter.consume(token_stream(["hello", " ", "world"]))
    received = subscriber.receive_until("response-finished")
    assert "".join(json.loads(d).get("text", "") for n, d in received if n == "new-token") == "hello world"


def test_full_batches_of_ten_keep_order_across_calls(channel, subscriber):
    pieces = [f"w{i:04d} " for i in range(2000)]
    client = make_client()
    PusherAdapter(channel, client, max_bytes=300, flush_interval=3600).consume(token_stream(pieces))
    received = subscriber.receive_until("response-finished")
    datas = check_sequence(received)
    assert max(client.batch_sizes) == 10 and len(client.batch_sizes) > 5
    assert all(len(raw.encode()) <= 300 for _, raw in received)
    assert "".join(d.get("text", "") for (name, _), d in zip(received, datas) if name == "new-token") == "".join(pieces)
