"""The Flask chat example's server side with a scripted provider (the browser test covers the page)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.errors import AuthenticationError
from llm_client_sync.types import CompletionResult, StreamEvent, StreamEventType as T

flask = pytest.importorskip("flask")

APP_PATH = Path(__file__).resolve().parents[2] / "examples" / "flask_chat" / "app.py"


def load_example():
    spec = importlib.util.spec_from_file_location("flask_chat_example_unit", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ScriptedProvider:
    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list = []
        self.fail = fail

    def stream(self, messages, **params):
        self.calls.append(messages)
        if self.fail is not None:
            raise self.fail
        words = ["Hi ", "there"]
        return iter([StreamEvent(T.TOKEN, w) for w in words]
                    + [StreamEvent(T.DONE, CompletionResult(content="".join(words)))])


def frames(body: bytes):
    return SSEDecoder().feed(body)


def test_index_page_loads_the_eventsource_script():
    client = load_example().create_app(ScriptedProvider()).test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'id="chat-form"' in page and "/static/chat.js" in page
    js = client.get("/static/chat.js").get_data(as_text=True)
    assert "new EventSource(" in js and "source.close()" in js and "pagehide" in js


def test_stream_sends_system_and_user_message_and_streams_tokens():
    provider = ScriptedProvider()
    client = load_example().create_app(provider).test_client()
    resp = client.get("/chat/stream", query_string={"message": "  hello  "})
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    events = frames(resp.get_data())
    assert [json.loads(e.data)["text"] for e in events if e.event == "token"] == ["Hi ", "there"]
    assert events[-1].event == "done"
    assert provider.calls[0][-1] == {"role": "user", "content": "hello"}
    assert provider.calls[0][0]["role"] == "system"


@pytest.mark.parametrize("message", ["", "   ", "x" * 4001])
def test_stream_rejects_empty_or_huge_messages(message):
    provider = ScriptedProvider()
    resp = load_example().create_app(provider).test_client().get("/chat/stream", query_string={"message": message})
    assert resp.status_code == 400 and provider.calls == []


def test_a_failing_model_call_becomes_an_error_event_not_a_500():
    err = AuthenticationError("Incorrect API key provided", status_code=401)
    client = load_example().create_app(ScriptedProvider(fail=err)).test_client()
    resp = client.get("/chat/stream", query_string={"message": "hi"})
    assert resp.status_code == 200
    events = frames(resp.get_data())
    assert [e.event for e in events] == ["error", "done"]
    assert json.loads(events[0].data)["error"]["status_code"] == 401
