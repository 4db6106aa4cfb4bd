"""OpenAIClient's legacy dict against recorded chat exchanges (../shared/openai-wire) served verbatim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import require_service, shared_dir

from llm_client_sync.client import OpenAIClient
from llm_client_sync.testing import ErrorReply, MockOpenAIServer

WIRE = shared_dir() / "openai-wire" / "exchanges"


@pytest.fixture(autouse=True)
def _recordings() -> None:
    if not WIRE.is_dir():
        require_service(f"recorded exchanges not available at {WIRE}")

KEYS = {"output", "usage", "tool_calls", "finish_reason", "model", "status", "error", "request_id", "cost", "cached"}


def _load(pattern: str) -> list[Path]:
    return sorted(WIRE.glob(pattern)) if WIRE.is_dir() else []


def _chat(stream: bool) -> list[Path]:
    return [p for p in _load("chat_*.json") if json.loads(p.read_text())["stream"] is stream]


@pytest.fixture(scope="module")
def server():
    with MockOpenAIServer() as srv:
        yield srv


@pytest.fixture()
def client(server):
    server.clear()
    c = OpenAIClient(model="gpt-5-nano", api_key="sk-test-secret", base_url=server.base_url, max_retries=0)
    yield c
    c.close()


def _first_message(body: dict) -> dict:
    return body["choices"][0]["message"]


@pytest.mark.parametrize("path", _chat(False), ids=lambda p: p.stem)
def test_recorded_chat_gives_success_dict(server, client, path):
    ex = json.loads(path.read_text())
    body = ex["response_body"]
    server.add_raw(json.dumps(body), status=ex["status"])
    out = client.get_response(messages=[{"role": "user", "content": "hi"}])
    assert set(out) == KEYS
    assert out["status"] == "success" and out["error"] is None
    msg = _first_message(body)
    assert out["output"] == (msg.get("content") or "")
    assert out["finish_reason"] == body["choices"][0].get("finish_reason")
    assert out["model"] == body.get("model")
    usage = body.get("usage") or {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert out["usage"][name] == usage.get(name, 0)
    details = usage.get("completion_tokens_details") or {}
    assert out["usage"]["reasoning_tokens"] == (details.get("reasoning_tokens") or 0)
    wire_calls = msg.get("tool_calls") or []
    assert [tc["id"] for tc in out["tool_calls"]] == [tc["id"] for tc in wire_calls]
    assert [tc["name"] for tc in out["tool_calls"]] == [tc["function"]["name"] for tc in wire_calls]
    assert [tc["arguments"] for tc in out["tool_calls"]] == [json.loads(tc["function"]["arguments"])
                                                            for tc in wire_calls]
    assert out["request_id"] and out["request_id"].startswith("req_")
    json.dumps(out)  # the legacy dict is plain JSON


@pytest.mark.parametrize("path", _chat(True), ids=lambda p: p.stem)
def test_recorded_stream_gives_text_chunks_and_final_dict(server, client, path):
    ex = json.loads(path.read_text())
    raw = ex["response_body"]
    server.add_raw(raw, stream=True, content_type="text/event-stream")
    expected = ""
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        line = block.strip()
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        chunk = json.loads(line[5:])
        for ch in chunk.get("choices") or []:
            if ch.get("index", 0) == 0:
                expected += (ch.get("delta") or {}).get("content") or ""
    with client.get_response(messages="hi", stream=True) as chunks:
        text = "".join(chunks)
    assert text == expected
    assert chunks.response is not None and set(chunks.response) == KEYS
    assert chunks.response["status"] == "success"
    assert chunks.response["output"] == expected


# every recorded error body (whatever endpoint it was recorded on) served as a chat reply
@pytest.mark.parametrize("path", _load("error_*.json"), ids=lambda p: p.stem)
def test_recorded_errors_come_back_as_error_dict(server, client, path):
    ex = json.loads(path.read_text())
    body = ex["response_body"]
    server.add(ErrorReply(status=ex["status"], body=body))
    out = client.get_response(messages=[{"role": "user", "content": "hi"}])
    assert set(out) == KEYS
    assert out["status"] == "error"
    err = out["error"]
    assert err["status_code"] == ex["status"]
    wire_err = (body or {}).get("error") if isinstance(body, dict) else None
    if wire_err:
        assert err["message"] == wire_err["message"]
        assert err["code"] == wire_err.get("code")
        assert err["type"] == (wire_err.get("type") or err["exception"])
    else:
        assert err["code"] is None and err["message"]
    assert out["output"] == "" and out["tool_calls"] == [] and out["cost"] is None
    assert out["request_id"] and out["request_id"].startswith("req_mock")
    assert "sk-test-secret" not in json.dumps(out)
