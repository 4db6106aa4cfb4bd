"""SSE through a real Flask app on werkzeug's server, fed by the provider's stream from the local
OpenAI-compatible server, read by a real HTTP client (requests)."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from support import TrackedStream
import requests

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.streaming import SSEAdapter, flask_response

flask = pytest.importorskip("flask")
from werkzeug.serving import make_server  # noqa: E402

from llm_client_sync.providers.openai import OpenAIProvider  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

WORDS = re.compile(r"\S+\s*|\s+")  # how the local server cuts text into chunks



@pytest.fixture
def mock():
    with MockOpenAIServer() as server:
        yield server


@pytest.fixture
def provider(mock):
    p = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=mock.base_url)
    yield p
    p.close()


@pytest.fixture
def web(provider):
    """A Flask app on werkzeug in a thread; ``web.tracked`` holds the streams it served."""
    app = flask.Flask(__name__)
    tracked: list[TrackedStream] = []
    settings = {"heartbeat": 15.0}

    @app.get("/stream")
    def stream():
        up = TrackedStream(provider.stream(flask.request.args["q"]))
        tracked.append(up)
        return flask_response(up, SSEAdapter(heartbeat=settings["heartbeat"]))

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.tracked = tracked
    server.settings = settings
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def chunks(resp):
    """Bytes as they arrive (iter_content(None) would wait for EOF on a close-delimited body)."""
    while True:  # bounded by the read timeout and the server ending the body
        data = resp.raw.read1(65536)
        if not data:
            return
        yield data


def read_events(resp, decoder: SSEDecoder | None = None):
    decoder = decoder or SSEDecoder()
    for chunk in chunks(resp):
        yield from decoder.feed(chunk)


def read_until_heartbeat(resp, tokens: int) -> tuple[list[str], SSEDecoder]:
    """Read ``tokens`` token events and then at least one heartbeat comment."""
    decoder = SSEDecoder()
    seen: list[str] = []
    for chunk in chunks(resp):  # bounded by the 10 s read timeout
        seen += [json.loads(e.data)["text"] for e in decoder.feed(chunk) if e.event == "token"]
        if len(seen) >= tokens and decoder.comments:
            break
    return seen, decoder


def pump_threads():
    return [t for t in threading.enumerate() if t.name == "llm-stream-pump"]


def test_tokens_arrive_in_order_and_end_with_done(mock, web):
    text = "Streaming through Flask keeps every token in order, even the émojis 🚀 and 日本語."
    mock.add_text(text)
    with requests.get(f"{web.url}/stream", params={"q": "hi"}, stream=True, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        events = list(read_events(resp))
    names = [e.event for e in events]
    assert names[-1] == "done" and names.count("done") == 1
    tokens = [json.loads(e.data)["text"] for e in events if e.event == "token"]
    assert tokens == WORDS.findall(text)
    assert json.loads(events[-1].data)["result"]["content"] == text
    assert web.tracked[0].closed.is_set()


def test_client_disconnect_closes_upstream_within_a_second(mock, web):
    words = [f"w{i} " for i in range(2000)]
    mock.add_text("".join(words), chunk_delay=0.005)
    resp = requests.get(f"{web.url}/stream", params={"q": "long"}, stream=True, timeout=10)
    seen = []
    for event in read_events(resp):
        if event.event == "token":
            seen.append(json.loads(event.data)["text"])
        if len(seen) == 5:
            break
    resp.close()  # the browser tab goes away
    gone = time.monotonic()
    up = web.tracked[0]
    assert up.closed.wait(1.0), "upstream not closed within 1 s of the disconnect"
    assert up.closed_at - gone < 1.0
    assert seen == words[:5]
    record = mock.streams[-1]
    assert record.done.wait(2.0), "the local server is still writing the model stream"
    assert record.client_disconnected and not record.completed
    assert record.events_sent < len(words)


def test_disconnect_while_model_is_silent_is_noticed_through_heartbeats(mock, web):
    web.settings["heartbeat"] = 0.05
    # role chunk, two words, then 5 s of silence (a model thinking)
    mock.add_text("one two three four", stall_after=3, stall=5.0)
    resp = requests.get(f"{web.url}/stream", params={"q": "think"}, stream=True, timeout=10)
    tokens, decoder = read_until_heartbeat(resp, tokens=2)
    assert tokens == ["one ", "two "]
    resp.close()
    gone = time.monotonic()
    up = web.tracked[0]
    assert up.closed.wait(1.0), "heartbeats did not make the server close the upstream"
    assert up.closed_at - gone < 1.0
    for thread in pump_threads():  # the reader blocked on the silent socket stops too
        thread.join(1.0)
        assert not thread.is_alive()


def test_heartbeat_comments_while_silent_then_the_rest(mock, web):
    web.settings["heartbeat"] = 0.05
    mock.add_text("before after", stall_after=2, stall=0.3)
    with requests.get(f"{web.url}/stream", params={"q": "x"}, stream=True, timeout=10) as resp:
        decoder = SSEDecoder()
        events = list(read_events(resp, decoder))
    assert decoder.comments >= 2
    assert [json.loads(e.data)["text"] for e in events if e.event == "token"] == ["before ", "after"]


def test_stream_error_mid_answer_becomes_error_then_done(mock, web):
    mock.add_text("a b c d e f", error_after=3)
    with requests.get(f"{web.url}/stream", params={"q": "x"}, stream=True, timeout=10) as resp:
        events = list(read_events(resp))
    names = [e.event for e in events]
    assert names[-2:] == ["error", "done"]
    assert json.loads(events[-1].data)["result"] is None
    assert json.loads(events[-2].data)["error"]["type"] == "StreamError"


def test_agent_stream_with_a_tool_through_sse(mock, provider):
    from llm_client_sync.agent import Agent
    from llm_client_sync.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"sunny in {city}"

    app = flask.Flask(__name__)
    agent = Agent(provider, tools=[get_weather])

    @app.get("/agent")
    def run_agent():
        return flask_response(agent.stream(flask.request.args["q"]), heartbeat=5.0)

    with app.test_client() as client:  # the agent part; the socket path is covered above
        body = client.get("/agent", query_string={"q": "What is the weather in Tokyo?"}).get_data()
    decoder = SSEDecoder()
    events = decoder.feed(body)
    metas = [json.loads(e.data)["data"] for e in events if e.event == "meta"]
    assert [m["event"] for m in metas] == ["turn", "tool_call", "tool_result", "turn"]
    assert metas[1]["tool_name"] == "get_weather" and metas[1]["arguments"] == {"city": "Tokyo"}
    assert metas[2]["content"] == "sunny in Tokyo"
    text = "".join(json.loads(e.data)["text"] for e in events if e.event == "token")
    done = json.loads(events[-1].data)
    assert events[-1].event == "done" and done["result"]["status"] == "completed"
    assert done["result"]["content"] == text and "sunny in Tokyo" in text
