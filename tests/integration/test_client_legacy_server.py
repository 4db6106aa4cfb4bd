"""OpenAIClient against the local server (real sockets): dicts, streams, errors, embeddings, cache."""

from __future__ import annotations

import socket

import pytest

from llm_client_sync.client import OpenAIClient
from llm_client_sync.testing import MockOpenAIServer

pytestmark = pytest.mark.timeout(30)

LONG = " ".join(f"word{i}" for i in range(200))


@pytest.fixture()
def server():
    with MockOpenAIServer() as srv:
        yield srv


@pytest.fixture()
def client(server):
    with OpenAIClient(model="gpt-5-nano", api_key="sk-int-secret", base_url=server.base_url, max_retries=0) as c:
        yield c


def test_text_reply(server, client):
    server.add_text("hello there")
    out = client.get_response(messages=[{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Hi"}], temperature=1)
    assert out["status"] == "success" and out["output"] == "hello there"
    assert out["finish_reason"] == "stop" and out["usage"]["total_tokens"] > 0
    assert out["request_id"].startswith("req_mock") and out["cost"] is not None
    sent = server.requests[-1]
    assert sent.json["messages"][0]["role"] in ("system", "developer")
    assert sent.json["temperature"] == 1
    assert "sk-int-secret" in sent.headers.get("Authorization", "")


def test_tool_calls(server, client):
    server.add_tool_calls([("get_weather", {"city": "Tokyo"}), ("get_time", {"tz": "JST"})])
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
             for n in ("get_weather", "get_time")]
    out = client.get_response(messages="Weather and time in Tokyo?", tools=tools)
    assert out["finish_reason"] == "tool_calls"
    assert [(t["name"], t["arguments"]) for t in out["tool_calls"]] == [("get_weather", {"city": "Tokyo"}),
                                                                       ("get_time", {"tz": "JST"})]
    assert all(t["id"] for t in out["tool_calls"])


def test_http_error_comes_back_as_dict(server, client):
    server.add_error(429, code="insufficient_quota", type="insufficient_quota", message="no credit")
    out = client.get_response(messages="Hi")
    assert out["status"] == "error"
    assert out["error"] == {"type": "insufficient_quota", "message": "no credit", "status_code": 429,
                            "code": "insufficient_quota", "exception": "RateLimitError"}


def test_connection_refused_comes_back_as_dict():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with OpenAIClient(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=5) as client:
        out = client.get_response(messages="Hi")
    assert out["status"] == "error" and out["error"]["exception"] == "APIConnectionError"
    assert out["error"]["status_code"] is None


def test_stream_text(server, client):
    server.add_text("one two three")
    with client.get_response(messages="Hi", stream=True) as chunks:
        assert list(chunks) == ["one ", "two ", "three"]
    assert chunks.response["status"] == "success" and chunks.response["output"] == "one two three"


def test_stream_cut_midway_gives_partial_output_and_error(server, client):
    server.add_text("a b c d e f g h", drop_after=4)
    chunks = client.get_response(messages="Hi", stream=True)
    text = "".join(chunks)
    assert chunks.response["status"] == "error" and chunks.error["exception"] == "StreamError"
    assert chunks.response["output"] == text and text.startswith("a")


def test_stream_status_error_at_open(server, client):
    server.add_error(401, message="bad key", code="invalid_api_key")
    chunks = client.get_response(messages="Hi", stream=True)
    assert list(chunks) == []
    assert chunks.error["status_code"] == 401 and chunks.error["code"] == "invalid_api_key"


def test_closing_a_stream_early_closes_the_connection(server, client):
    server.add_text(LONG, chunk_delay=0.05)
    with client.get_response(messages="Hi", stream=True) as chunks:
        assert next(chunks) == "word0 "
    record = server.streams[0]
    assert record.done.wait(5)
    assert record.client_disconnected and not record.completed and record.events_sent < 200


def test_embeddings(server, client):
    vectors = client.get_embeddings(["alpha", "beta", "gamma"], dimensions=16)
    assert len(vectors) == 3 and all(len(v) == 16 and isinstance(v, list) for v in vectors)
    assert vectors[0] != vectors[1]
    assert server.requests[-1].json["dimensions"] == 16


def test_fs_cache_serves_the_second_call(server, tmp_path):
    server.add_text("cached answer")
    with OpenAIClient(model="gpt-5-nano", cache_backend="fs", api_key="k", base_url=server.base_url,
                      cache_dir=str(tmp_path), max_retries=0) as client:
        first = client.get_response(messages="Hi", seed=1)
        second = client.get_response(messages="Hi", seed=1)
    assert first["output"] == second["output"] == "cached answer"
    assert not first["cached"] and second["cached"]
    assert len(server.requests) == 1
