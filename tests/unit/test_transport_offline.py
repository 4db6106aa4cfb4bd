"""Request building, headers, auth and retry decisions without sockets: ``responses`` answers
inside requests' adapter, so these run in milliseconds and need no server."""

from __future__ import annotations

import json

import pytest

responses = pytest.importorskip("responses")

from llm_client_sync.errors import AuthenticationError, BadRequestError, InternalServerError, RateLimitError  # noqa: E402
from llm_client_sync.providers.openai import OpenAIProvider  # noqa: E402

BASE = "https://api.example.test/v1"
CHAT = f"{BASE}/chat/completions"
REPLY = {"id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-5-nano",
         "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.fixture()
def mock():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def make(**kw):
    slept: list[float] = []
    p = OpenAIProvider(**{"model": "gpt-5-nano", "api_key": "sk-offline-key-123\n", "base_url": BASE,
                          "sleep": slept.append, **kw})
    return p, slept


def test_body_path_and_headers_of_a_completion(mock):
    mock.post(CHAT, json=REPLY)
    p, _ = make(organization="org-1", project="proj-1", headers={"X-Trace": "t1"})
    assert p.complete("hello", max_completion_tokens=50, reasoning_effort="low").content == "hi"
    [call] = mock.calls
    sent = call.request
    body = json.loads(sent.body)
    assert body["model"] == "gpt-5-nano" and body["messages"] == [{"role": "user", "content": "hello"}]
    assert body["max_completion_tokens"] == 50 and body["reasoning_effort"] == "low"
    assert sent.headers["Authorization"] == "Bearer sk-offline-key-123"  # the trailing newline stripped
    assert sent.headers["OpenAI-Organization"] == "org-1" and sent.headers["OpenAI-Project"] == "proj-1"
    assert sent.headers["X-Trace"] == "t1" and sent.headers["User-Agent"].startswith("llm-client-sync/")
    assert sent.headers["Content-Type"] == "application/json"


def test_no_key_sends_no_authorization_header(mock, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    mock.post(CHAT, json=REPLY)
    p, _ = make(api_key="   ")
    p.complete("hello")
    assert "Authorization" not in mock.calls[0].request.headers


def test_5xx_is_retried_with_backoff_then_succeeds(mock):
    mock.post(CHAT, status=500, json={"error": {"message": "boom"}})
    mock.post(CHAT, status=503, json={"error": {"message": "busy"}})
    mock.post(CHAT, json=REPLY)
    p, slept = make(max_retries=2)
    assert p.complete("hello").content == "hi"
    assert len(mock.calls) == 3 and len(slept) == 2 and all(0 < s <= 8 for s in slept)


def test_retry_after_ms_is_the_wait(mock):
    mock.post(CHAT, status=429, json={"error": {"message": "slow down"}}, headers={"retry-after-ms": "1500"})
    mock.post(CHAT, json=REPLY)
    p, slept = make(max_retries=1)
    p.complete("hello")
    assert slept == [1.5]


@pytest.mark.parametrize("status, body, headers, cls", [
    (400, {"error": {"message": "bad", "type": "invalid_request_error"}}, {}, BadRequestError),
    (401, {"error": {"message": "no key", "code": "invalid_api_key"}}, {}, AuthenticationError),
    (429, {"error": {"message": "quota", "code": "insufficient_quota"}}, {}, RateLimitError),
    (500, {"error": {"message": "boom"}}, {"x-should-retry": "false"}, InternalServerError),
])
def test_not_retried(mock, status, body, headers, cls):
    mock.post(CHAT, status=status, json=body, headers=headers)
    p, slept = make(max_retries=3)
    with pytest.raises(cls):
        p.complete("hello")
    assert len(mock.calls) == 1 and slept == []


def test_x_should_retry_true_retries_a_400(mock):
    mock.post(CHAT, status=400, json={"error": {"message": "flaky"}}, headers={"x-should-retry": "true"})
    mock.post(CHAT, json=REPLY)
    p, slept = make(max_retries=1)
    assert p.complete("hello").content == "hi" and len(mock.calls) == 2


def test_an_echoed_key_is_redacted_from_the_error(mock):
    mock.post(CHAT, status=401, json={"error": {"message": "bad key sk-offline-key-123"}},
              headers={"X-Echo": "Bearer sk-offline-key-123"})
    p, _ = make()
    with pytest.raises(AuthenticationError) as info:
        p.complete("hello")
    assert "sk-offline-key-123" not in str(info.value) + repr(info.value.body) + repr(info.value.headers)
