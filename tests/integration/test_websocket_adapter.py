"""WebSocketAdapter on a real websockets sync server, fed by the provider's stream from the local
OpenAI-compatible server, read by real clients (websockets' sync client and websocket-client)."""

from __future__ import annotations

import json
import queue
import re
import threading

import pytest
from support import TrackedStream

from llm_client_sync.streaming import WebSocketAdapter

websockets_server = pytest.importorskip("websockets.sync.server")
websockets_client = pytest.importorskip("websockets.sync.client")

from llm_client_sync.providers.openai import OpenAIProvider  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

WORDS = re.compile(r"\S+\s*|\s+")



@pytest.fixture
def mock():
    with MockOpenAIServer() as server:
        yield server


@pytest.fixture
def ws_server(mock):
    """A websockets sync server: each connection sends a prompt and gets the streamed answer."""
    provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=mock.base_url)
    outcomes: queue.SimpleQueue = queue.SimpleQueue()
    tracked: list[TrackedStream] = []

    def handler(ws):
        up = TrackedStream(provider.stream(ws.recv()))
        tracked.append(up)
        try:
            outcomes.put(("ok", WebSocketAdapter(ws).consume(up)))
        except Exception as exc:  # the client went away: consume re-raises the send error
            outcomes.put(("error", exc))

    server = websockets_server.serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}"
    server.outcomes = outcomes
    server.tracked = tracked
    yield server
    server.shutdown()
    thread.join(5)
    provider.close()


def receive_all(recv, limit: int = 10_000) -> list[dict]:
    messages = []
    for _ in range(limit):
        msg = json.loads(recv())
        messages.append(msg)
        if msg["type"] == "done":
            return messages
    raise AssertionError("no done message")


def test_tokens_in_order_with_websockets_client(mock, ws_server):
    text = "WebSocket frames carry each token, in order: ä ö ü 日本 🚀."
    mock.add_text(text)
    with websockets_client.connect(ws_server.url, open_timeout=5) as ws:
        ws.send("hello")
        messages = receive_all(lambda: ws.recv(timeout=10))
    assert [m["text"] for m in messages if m["type"] == "token"] == WORDS.findall(text)
    assert messages[-1]["result"]["content"] == text
    status, result = ws_server.outcomes.get(timeout=5)
    assert status == "ok" and result.content == text
    assert ws_server.tracked[0].closed.is_set()


def test_tokens_in_order_with_websocket_client_library(mock, ws_server):
    websocket = pytest.importorskip("websocket")
    mock.add_text("second client library works too")
    ws = websocket.create_connection(ws_server.url, timeout=10)
    try:
        ws.send("hi")
        messages = receive_all(ws.recv)
    finally:
        ws.close()
    assert "".join(m["text"] for m in messages if m["type"] == "token") == "second client library works too"


def test_client_disconnect_closes_upstream(mock, ws_server):
    words = [f"w{i} " for i in range(2000)]
    mock.add_text("".join(words), chunk_delay=0.005)
    with websockets_client.connect(ws_server.url, open_timeout=5) as ws:
        ws.send("long")
        got = []
        while len(got) < 3:
            msg = json.loads(ws.recv(timeout=10))
            if msg["type"] == "token":
                got.append(msg["text"])
    # the client closed: the server's next send fails, the adapter closes the upstream
    status, exc = ws_server.outcomes.get(timeout=5)
    assert status == "error" and type(exc).__name__.startswith("ConnectionClosed")
    assert ws_server.tracked[0].closed.wait(1.0)
    record = mock.streams[-1]
    assert record.done.wait(2.0) and record.client_disconnected
    assert got == words[:3]
