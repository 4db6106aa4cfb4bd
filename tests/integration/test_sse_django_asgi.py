"""SSE from a Django view under a real ASGI server (uvicorn): tokens arrive as they are made, not
after Django buffered the whole answer, and a client that leaves closes the upstream stream."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import pytest
from support import TrackedStream
import requests

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.streaming import SSEAdapter, django_response

django = pytest.importorskip("django")
uvicorn = pytest.importorskip("uvicorn")
from django.conf import settings  # noqa: E402

from llm_client_sync.providers.openai import OpenAIProvider  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

STATE: dict = {}



def stream_view(request):
    up = TrackedStream(STATE["provider"].stream(request.GET["q"]))
    STATE["tracked"].append(up)
    return django_response(up, SSEAdapter(heartbeat=0.1))


@pytest.fixture(scope="module")
def asgi_server():
    from django.test.utils import override_settings

    if not settings.configured:
        settings.configure(DEBUG=False, DEFAULT_CHARSET="utf-8", ALLOWED_HOSTS=["127.0.0.1"],
                           SECRET_KEY="test-only", MIDDLEWARE=[], INSTALLED_APPS=[])
    django.setup()
    from django.core.handlers.asgi import ASGIHandler
    from django.urls import path

    urlconf = type(sys)("llm_streaming_asgi_urls")
    urlconf.urlpatterns = [path("stream", stream_view)]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with override_settings(ROOT_URLCONF=urlconf, ALLOWED_HOSTS=["127.0.0.1"], MIDDLEWARE=[]):
        config = uvicorn.Config(ASGIHandler(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.fixture
def web(asgi_server):
    with MockOpenAIServer() as mock:
        provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=mock.base_url)
        STATE.update(provider=provider, tracked=[], mock=mock)
        yield asgi_server
        provider.close()
    STATE.clear()


def _events(resp):
    decoder = SSEDecoder()
    while True:  # bounded by the read timeout and the body's end
        data = resp.raw.read1(65536)
        if not data:
            return
        yield from decoder.feed(data)


def test_first_token_arrives_long_before_the_answer_ends(web):
    words = [f"w{i} " for i in range(40)]
    STATE["mock"].add_text("".join(words), chunk_delay=0.05)  # the answer takes about 2 s
    start = time.monotonic()
    first = None
    tokens = []
    with requests.get(f"{web}/stream", params={"q": "hi"}, stream=True, timeout=10) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        for ev in _events(resp):
            if ev.event == "token":
                first = first if first is not None else time.monotonic() - start
                tokens.append(json.loads(ev.data)["text"])
    total = time.monotonic() - start
    assert "".join(tokens) == "".join(words)
    # buffered, the first token would come with the last one, after the whole ~2 s answer
    assert first is not None and first < 0.5 and total - first > 1.0, (first, total)
    STATE["first_token_s"] = first


def test_client_disconnect_closes_upstream(web):
    words = [f"w{i} " for i in range(2000)]
    STATE["mock"].add_text("".join(words), chunk_delay=0.005)
    resp = requests.get(f"{web}/stream", params={"q": "long"}, stream=True, timeout=10)
    seen = 0
    for ev in _events(resp):
        seen += ev.event == "token"
        if seen == 5:
            break
    resp.close()
    up = STATE["tracked"][0]
    assert up.closed.wait(3.0), "upstream not closed after the client left"
    record = STATE["mock"].streams[-1]
    assert record.done.wait(3.0) and record.events_sent < len(words)
