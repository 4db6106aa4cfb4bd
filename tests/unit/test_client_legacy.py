"""OpenAIClient's dict shape and error policy, with a fake provider (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_client_sync.client import OpenAIClient, error_info, response_dict
from llm_client_sync.errors import (
    APIConnectionError,
    CacheError,
    ConfigurationError,
    ContextWindowExceededError,
    LLMClientError,
    RateLimitError,
    RateLimitTimeoutError,
    StreamError,
)
from llm_client_sync.types import CompletionResult, EmbeddingResult, StreamEvent, StreamEventType, ToolCall, Usage

E = StreamEventType
RESULT = CompletionResult(content="hi there", tool_calls=(ToolCall.from_raw("call_1", "get_weather",
                                                                             '{"city": "Tokyo", "days": [1, 2]}'),),
                          usage=Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5, reasoning_tokens=1),
                          cost=0.5, model="gpt-5-nano-2025-08-07", finish_reason="tool_calls", request_id="req_1")


class FakeStream:
    def __init__(self, events: list[StreamEvent], fail: BaseException | None = None) -> None:
        self.events, self.fail, self.closed = events, fail, False

    def __iter__(self):
        yield from self.events
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True


class FakeProvider:
    model = "gpt-5-nano"

    def __init__(self, outcome: Any = RESULT, stream: Any = None) -> None:
        self.outcome, self.stream_outcome, self.calls = outcome, stream, []

    def complete(self, messages: Any, **params: Any) -> CompletionResult:
        self.calls.append((messages, params))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def stream(self, messages: Any, **params: Any) -> FakeStream:
        if isinstance(self.stream_outcome, BaseException):
            raise self.stream_outcome
        return self.stream_outcome

    def embed(self, texts: Any, dimensions: int | None = None) -> EmbeddingResult:
        n = 1 if isinstance(texts, str) else len(texts)
        return EmbeddingResult(tuple([0.5] * (dimensions or 3) for _ in range(n)))


def _client(provider: FakeProvider) -> OpenAIClient:
    client = OpenAIClient(model="gpt-5-nano", api_key="sk-unit-secret", base_url="http://127.0.0.1:9/v1")
    client.provider = provider  # type: ignore[assignment]
    return client


def test_success_dict_has_every_legacy_key_and_plain_values():
    fake = FakeProvider()
    out = _client(fake).get_response(messages=[{"role": "user", "content": "Hi"}], temperature=1)
    assert out == {
        "output": "hi there",
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "reasoning_tokens": 1,
                  "cached_tokens": 0, "cache_write_tokens": 0},
        "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": {"city": "Tokyo", "days": [1, 2]},
                        "raw_arguments": '{"city": "Tokyo", "days": [1, 2]}'}],
        "finish_reason": "tool_calls", "model": "gpt-5-nano-2025-08-07", "status": "success", "error": None,
        "request_id": "req_1", "cost": 0.5, "cached": False,
    }
    assert type(out["tool_calls"][0]["arguments"]) is dict and type(out["tool_calls"][0]["arguments"]["days"]) is list
    assert fake.calls == [([{"role": "user", "content": "Hi"}], {"temperature": 1})]


def test_none_content_becomes_empty_output():
    out = response_dict(CompletionResult(content=None))
    assert out["output"] == "" and out["status"] == "success"


@pytest.mark.parametrize("exc", [
    RateLimitError("HTTP 429", status_code=429, request_id="req_9",
                   body={"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}),
    APIConnectionError("connection refused"),
    StreamError("cut"),
    RateLimitTimeoutError("waited too long"),
    LLMClientError("body is not JSON"),
])
def test_runtime_errors_come_back_in_the_dict(exc):
    out = _client(FakeProvider(exc)).get_response(messages="Hi")
    assert out["status"] == "error" and out["output"] == "" and out["tool_calls"] == [] and out["usage"] == {}
    assert out["model"] == "gpt-5-nano"
    err = out["error"]
    assert set(err) == {"type", "message", "status_code", "code", "exception"}
    assert err["exception"] == type(exc).__name__
    json.dumps(out)


def test_status_error_info_uses_the_wire_envelope():
    exc = RateLimitError("HTTP 429: quota (request id req_9)", status_code=429, request_id="req_9",
                         body={"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}})
    assert error_info(exc) == {"type": "insufficient_quota", "message": "quota", "status_code": 429,
                               "code": "insufficient_quota", "exception": "RateLimitError"}
    assert response_dict(None, exc, "m")["request_id"] == "req_9"


def test_connection_error_info_uses_the_class_name():
    assert error_info(APIConnectionError("refused")) == {"type": "APIConnectionError", "message": "refused",
                                                         "status_code": None, "code": None,
                                                         "exception": "APIConnectionError"}


@pytest.mark.parametrize("exc", [ConfigurationError("bad param"), ContextWindowExceededError("too long"),
                                 CacheError("bad cache")])
def test_programming_errors_raise(exc):
    with pytest.raises(type(exc)):
        _client(FakeProvider(exc)).get_response(messages="Hi")


@pytest.mark.parametrize("messages", [None, []])
def test_missing_messages_raise(messages):
    with pytest.raises(ConfigurationError):
        _client(FakeProvider()).get_response(messages=messages)


def test_prompt_keyword_is_accepted_for_messages():
    fake = FakeProvider()
    assert _client(fake).get_response(prompt="Hi")["status"] == "success"
    assert fake.calls[0][0] == "Hi"


def test_stream_yields_text_and_sets_response():
    events = [StreamEvent(E.META, {}), StreamEvent(E.TOKEN, "hi "), StreamEvent(E.TOKEN, "other", choice=1),
              StreamEvent(E.TOKEN, "there"), StreamEvent(E.DONE, RESULT)]
    fake_stream = FakeStream(events)
    chunks = _client(FakeProvider(stream=fake_stream)).get_response(messages="Hi", stream=True)
    assert chunks.response is None
    assert list(chunks) == ["hi ", "there"]
    assert chunks.response["status"] == "success" and chunks.response["output"] == "hi there"
    assert chunks.error is None and fake_stream.closed


def test_stream_failure_at_open_ends_quietly_with_error_response():
    chunks = _client(FakeProvider(stream=APIConnectionError("refused"))).get_response(messages="Hi", stream=True)
    assert list(chunks) == []
    assert chunks.response["status"] == "error" and chunks.error["type"] == "APIConnectionError"


def test_stream_failure_midway_keeps_the_partial_output():
    partial = CompletionResult(content="hi ")
    err = StreamError("cut", partial=partial)
    fake_stream = FakeStream([StreamEvent(E.TOKEN, "hi "), StreamEvent(E.ERROR, err)], fail=err)
    chunks = _client(FakeProvider(stream=fake_stream)).get_response(messages="Hi", stream=True)
    assert list(chunks) == ["hi "]
    assert chunks.response["status"] == "error" and chunks.response["output"] == "hi "
    assert chunks.error["exception"] == "StreamError" and fake_stream.closed


def test_stream_configuration_error_raises():
    chunks = _client(FakeProvider(stream=ConfigurationError("bad"))).get_response(messages="Hi", stream=True)
    with pytest.raises(ConfigurationError):
        list(chunks)


def test_get_embeddings_returns_plain_lists():
    client = _client(FakeProvider())
    assert client.get_embeddings(["a", "b"], dimensions=2) == [[0.5, 0.5], [0.5, 0.5]]
    assert client.get_embeddings("a") == [[0.5, 0.5, 0.5]]
    with pytest.raises(ConfigurationError):
        client.get_embeddings(["a"], dimensions=0)


def test_repr_hides_the_key():
    client = OpenAIClient(api_key="sk-unit-secret", base_url="http://127.0.0.1:9/v1")
    assert "sk-unit-secret" not in repr(client) and "gpt-5-nano" in repr(client)
