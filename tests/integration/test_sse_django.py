"""SSE through Django's own test server (django.core.servers.basehttp, what runserver and
LiveServerTestCase use), fed by the provider's stream, read by a real HTTP client."""

from __future__ import annotations

import json
import re
import sys
import threading
import time

import pytest
from support import TrackedStream
import requests

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.streaming import SSEAdapter, django_response

django = pytest.importorskip("django")
from django.conf import settings  # noqa: E402

from llm_client_sync.providers.openai import OpenAIProvider  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

WORDS = re.compile(r"\S+\s*|\s+")
STATE: dict = {}



def stream_view(request):
    up = TrackedStream(STATE["provider"].stream(request.GET["q"]))
    STATE["tracked"].append(up)
    return django_response(up, SSEAdapter(heartbeat=STATE["heartbeat"]))


def _urlpatterns():
    from django.urls import path

    return [path("stream", stream_view)]


@pytest.fixture(scope="module")
def django_server():
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure(DEBUG=False, DEFAULT_CHARSET="utf-8", ALLOWED_HOSTS=["127.0.0.1"],
                           SECRET_KEY="test-only", MIDDLEWARE=[], INSTALLED_APPS=[])
    django.setup()
    urlconf = type(sys)("llm_streaming_test_urls")
    urlconf.urlpatterns = _urlpatterns()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    with override_settings(ROOT_URLCONF=urlconf, ALLOWED_HOSTS=["127.0.0.1"], MIDDLEWARE=[]):
        httpd = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
        httpd.set_app(WSGIHandler())
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)


@pytest.fixture
def mock():
    with MockOpenAIServer() as server:
        yield server


@pytest.fixture
def web(mock, django_server):
    provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=mock.base_url)
    STATE.update(provider=provider, tracked=[], heartbeat=15.0)
    yield django_server
    provider.close()
    STATE.clear()


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


def test_tokens_arrive_in_order_through_django(mock, web):
    text = "Django streams this answer word by word — with ünïcödé and 🚀 too."
    mock.add_text(text)
    with requests.get(f"{web}/stream", params={"q": "hi"}, stream=True, timeout=10) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Accel-Buffering"] == "no"
        events = list(read_events(resp))
    assert [json.loads(e.data)["text"] for e in events if e.event == "token"] == WORDS.findall(text)
    assert events[-1].event == "done"
    assert json.loads(events[-1].data)["result"]["content"] == text
    assert STATE["tracked"][0].closed.is_set()


def test_client_disconnect_closes_upstream_within_a_second(mock, web):
    words = [f"w{i} " for i in range(2000)]
    mock.add_text("".join(words), chunk_delay=0.005)
    resp = requests.get(f"{web}/stream", params={"q": "long"}, stream=True, timeout=10)
    seen = []
    for event in read_events(resp):
        if event.event == "token":
            seen.append(json.loads(event.data)["text"])
        if len(seen) == 5:
            break
    resp.close()
    gone = time.monotonic()
    up = STATE["tracked"][0]
    assert up.closed.wait(1.0), "upstream not closed within 1 s of the disconnect"
    assert up.closed_at - gone < 1.0
    assert seen == words[:5]
    record = mock.streams[-1]
    assert record.done.wait(2.0)
    assert record.client_disconnected and record.events_sent < len(words)


def test_disconnect_while_model_is_silent_is_noticed_through_heartbeats(mock, web):
    STATE["heartbeat"] = 0.05
    mock.add_text("one two three", stall_after=2, stall=5.0)
    resp = requests.get(f"{web}/stream", params={"q": "think"}, stream=True, timeout=10)
    decoder = SSEDecoder()
    tokens: list[str] = []
    for chunk in chunks(resp):  # bounded by the 10 s read timeout
        tokens += [json.loads(e.data)["text"] for e in decoder.feed(chunk) if e.event == "token"]
        if tokens and decoder.comments:
            break
    assert tokens == ["one "]
    resp.close()
    gone = time.monotonic()
    up = STATE["tracked"][0]
    assert up.closed.wait(1.0), "heartbeats did not make Django's server close the upstream"
    assert up.closed_at - gone < 1.0
