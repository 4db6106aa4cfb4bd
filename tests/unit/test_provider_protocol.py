"""The Provider protocol and BaseProvider: a plain fake drives an Agent, a new wire protocol plugs
into BaseProvider over an in-memory transport, the provider's grouped options and the Agent bugs
of issue 16 (lock held across yields, tool ids, history failures, AgentStatus), the cache close
race. No sockets."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any, Iterator

import pytest

from llm_client_sync import (
    Agent,
    AgentStatus,
    BaseProvider,
    CompletionResult,
    ConfigurationError,
    Conversation,
    FallbackProvider,
    LLMClientError,
    OpenAIClient,
    OpenAIProvider,
    Provider,
    RetryPolicy,
    StreamEvent,
    StreamEventType,
    Timeout,
    ToolCall,
    Usage,
    get_profile,
    tool,
)
from llm_client_sync.cache import ResponseCache
from llm_client_sync.providers._chat import build_result
from llm_client_sync.providers.base import ResultStream
from llm_client_sync.transport import TransportResponse
from llm_client_sync.types import Choice

E = StreamEventType
JOIN = 5.0  # seconds a helper thread gets before the test calls it a deadlock


# -- a plain fake provider (no base class) --------------------------------------------------------
class FakeStream:
    def __init__(self, result: CompletionResult) -> None:
        self._result = result
        self._events = iter([StreamEvent(E.TOKEN, result.content)] if result.content else [])
        self._done = False
        self.closed = False

    def __iter__(self) -> "FakeStream":
        return self

    def __next__(self) -> StreamEvent:
        for ev in self._events:
            return ev
        if self._done:
            raise StopIteration
        self._done = True
        return StreamEvent(E.DONE, self._result)

    def __enter__(self) -> "FakeStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def result(self) -> CompletionResult:
        for _ in self:
            pass
        return self._result


class FakeProvider:
    """Answers from a script; records the messages it was sent."""

    model = "fake-model"

    def __init__(self, *script: CompletionResult) -> None:
        self.profile = get_profile("gpt-5-nano")
        self.script = list(script)
        self.sent: list[list[dict[str, Any]]] = []
        self.lock = threading.Lock()

    def complete(self, prompt: Any = None, **params: Any) -> CompletionResult:
        with self.lock:
            self.sent.append([dict(m) for m in prompt])
            return self.script.pop(0) if self.script else CompletionResult("default answer", usage=Usage(1, 1, 2))

    def stream(self, prompt: Any = None, **params: Any) -> FakeStream:
        return FakeStream(self.complete(prompt, **params))

    def embed(self, texts: Any, dimensions: int | None = None, **kw: Any) -> Any:
        raise ConfigurationError("no embeddings here")

    def close(self) -> None:
        pass

    def __enter__(self) -> "FakeProvider":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def calls(*pairs: tuple[str, str, dict[str, Any]]) -> CompletionResult:
    return CompletionResult(None, tool_calls=tuple(ToolCall.from_raw(i, n, json.dumps(a)) for i, n, a in pairs),
                            usage=Usage(10, 5, 15), cost=0.5, finish_reason="tool_calls")


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def test_every_provider_is_a_provider():
    fake = FakeProvider()
    openai = OpenAIProvider(api_key="k", base_url="http://127.0.0.1:9/v1")
    assert isinstance(fake, Provider) and isinstance(openai, Provider)
    assert isinstance(FallbackProvider([openai, fake]), Provider)
    assert isinstance(FakeStream(CompletionResult("x")), ResultStream)
    assert not isinstance(object(), Provider)
    with pytest.raises(ConfigurationError, match="not a Provider"):
        FallbackProvider([openai, object()])  # type: ignore[list-item]
    openai.close()


def test_a_plain_fake_provider_drives_an_agent_with_tools():
    fake = FakeProvider(calls(("c1", "add", {"a": 2, "b": 3})),
                        CompletionResult("5", usage=Usage(20, 2, 22), cost=0.25))
    result = Agent(fake, tools=[add]).run("2+3?")
    assert result.status is AgentStatus.COMPLETED and result.content == "5"
    assert [m["role"] for m in fake.sent[1]] == ["user", "assistant", "tool"]
    assert fake.sent[1][2] == {"role": "tool", "tool_call_id": "c1", "content": "5"}
    assert result.usage.total_tokens == 37 and result.cost == pytest.approx(0.75)


def test_missing_and_repeated_tool_ids_get_unique_ids_used_in_both_messages():
    fake = FakeProvider(calls(("", "add", {"a": 1, "b": 1}), ("", "add", {"a": 2, "b": 2}),
                              ("dup", "add", {"a": 3, "b": 3}), ("dup", "add", {"a": 4, "b": 4})),
                        CompletionResult("done"))
    result = Agent(fake, tools=[add]).run("sums")
    assert result.status == "completed"
    assistant, tools = fake.sent[1][1], fake.sent[1][2:]
    ids = [tc["id"] for tc in assistant["tool_calls"]]
    assert all(ids) and len(set(ids)) == 4 and ids[2] == "dup"
    assert [t["tool_call_id"] for t in tools] == ids
    assert [t["content"] for t in tools] == ["2", "4", "6", "8"]


class BrokenHistory(Conversation):
    def add_message(self, message: Any) -> None:
        if message.get("role") == "tool":
            raise TypeError("the history store is broken")
        super().add_message(message)


def test_a_failure_recording_history_ends_the_run_with_status_error():
    fake = FakeProvider(calls(("c1", "add", {"a": 1, "b": 2})), CompletionResult("never"))
    result = Agent(fake, tools=[add], conversation=BrokenHistory()).run("1+2")
    assert result.status is AgentStatus.ERROR
    assert isinstance(result.error, LLMClientError) and "history" in str(result.error)
    assert isinstance(result.error.__cause__, TypeError)
    events = list(Agent(FakeProvider(calls(("c1", "add", {"a": 1, "b": 2}))), tools=[add],
                        conversation=BrokenHistory()).stream("1+2"))
    assert [e.type for e in events][-2:] == [E.ERROR, E.DONE] and events[-1].data.status == "error"


def test_agent_status_is_an_enum_of_strings():
    assert issubclass(AgentStatus, str) and AgentStatus("max_turns") is AgentStatus.MAX_TURNS
    result = Agent(FakeProvider(CompletionResult("hi"))).run("hi")
    assert isinstance(result.status, AgentStatus) and result.status == "completed"
    assert f"{result.status}" == "completed" and result.stop_reason == "completed"
    assert json.loads(json.dumps(result.to_dict()))["status"] == "completed"


def _in_thread(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(JOIN)
    return t, out


@pytest.mark.parametrize("action", ["reset", "fork", "run"])
def test_agent_is_usable_while_its_own_stream_is_suspended(action):
    fake = FakeProvider(CompletionResult("first answer"), CompletionResult("other answer"))
    agent = Agent(fake)
    with agent.stream("hello") as events:
        first = next(events)
        assert first.type is E.META
        op = {"reset": agent.reset, "fork": agent.fork, "run": lambda: agent.run("meanwhile")}[action]
        t, out = _in_thread(op)
        assert not t.is_alive(), f"agent.{action}() blocked while the stream was suspended"
        rest = list(events)
    assert rest[-1].type is E.DONE and rest[-1].data.status == "completed"
    if action == "fork":
        assert isinstance(out[0], Agent) and out[0].messages == [{"role": "user", "content": "hello"}]


# -- a new wire protocol plugged into BaseProvider, over an in-memory transport -------------------
class EchoAccumulator:
    def __init__(self, profile: Any, request_id: str | None) -> None:
        self.profile, self.request_id = profile, request_id
        self.finished = False
        self.text: list[str] = []

    def feed(self, sse: Any) -> list[StreamEvent]:
        if sse.data == "[END]":
            self.finished = True
            return []
        piece = json.loads(sse.data)["delta"]
        self.text.append(piece)
        return [StreamEvent(E.TOKEN, piece)]

    def result(self) -> CompletionResult:
        usage = Usage(3, len(self.text), 3 + len(self.text))
        return build_result([Choice(0, "".join(self.text), (), "stop" if self.finished else None, None)], usage,
                            self.profile, model="echo-1", request_id=self.request_id, raw=None, response_id=None,
                            reasoning=None)


class EchoProtocol:
    name = "echo"

    def build(self, profile: Any, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        return {"model": profile.api_id, "text": messages[-1]["content"], **params}

    def path(self, model: str, stream: bool) -> str:
        return f"/models/{model}:{'stream' if stream else 'generate'}"

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def parse(self, data: Any, profile: Any, request_id: str | None) -> CompletionResult:
        return build_result([Choice(0, data["text"], (), "stop", None)], Usage(3, 2, 5), profile, model="echo-1",
                            request_id=request_id, raw=data, response_id=None, reasoning=None)

    def accumulator(self, profile: Any, request_id: str | None) -> EchoAccumulator:
        return EchoAccumulator(profile, request_id)


class MemoryStreamResponse:
    status_code = 200
    headers: dict[str, str] = {}
    content_type = "text/event-stream"
    max_line_bytes = None
    deadline = None

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.request_id = "rid-stream"
        self.closed = False

    def iter_bytes(self) -> Iterator[bytes]:
        yield from self.chunks

    def close(self) -> None:
        self.closed = True


class MemoryTransport:
    """What a test hands ``transport=``: records calls, answers from a function."""

    base_url = "memory://echo"

    def __init__(self, answer: Any, stream_chunks: list[bytes] | None = None) -> None:
        self.answer = answer
        self.stream_chunks = stream_chunks or []
        self.retry = RetryPolicy(max_retries=0)
        self.observers: list[Any] = []
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self.closed = False

    def request(self, method: str, path: str, *, json: Any = None, **kw: Any) -> TransportResponse:
        self.calls.append((path, json, kw))
        return TransportResponse(200, {}, globals()["json"].dumps(self.answer(json)).encode(), "rid-1")

    def open_stream(self, path: str, *, json: Any, **kw: Any) -> MemoryStreamResponse:
        self.calls.append((path, json, kw))
        return MemoryStreamResponse(list(self.stream_chunks))

    def close(self) -> None:
        self.closed = True


class EchoProvider(BaseProvider):
    name = "echo"
    api_key_env = "ECHO_API_KEY"
    default_base_url = "http://127.0.0.1:9"

    def __init__(self, model: str = "gpt-5-nano", **kw: Any) -> None:
        super().__init__(model, protocol=EchoProtocol(), **kw)

    def _default_headers(self) -> dict[str, str]:
        return {"echo-version": "1"}


class RecordingLimiter:
    def __init__(self) -> None:
        self.acquired: list[int] = []
        self.settled: list[int] = []

    def acquire(self, tokens: int = 0, timeout: float | None = None) -> object:
        self.acquired.append(tokens)
        return object()

    def settle(self, reservation: object, actual: int) -> None:
        self.settled.append(actual)

    def observe(self, status: int, headers: Any) -> None:
        pass


def test_a_new_wire_protocol_plugs_into_base_provider():
    transport = MemoryTransport(lambda body: {"text": body["text"].upper()},
                                [b'data: {"delta": "he"}\n\n', b'data: {"delta": "llo"}\n\n', b"data: [END]\n\n"])
    limiter = RecordingLimiter()
    with EchoProvider(transport=transport, rate_limit=limiter, default_params={"seed": 7}) as p:
        assert isinstance(p, Provider)
        r = p.complete("hi", timeout=Timeout(total=3))
        assert (r.content, r.provider, r.model) == ("HI", "echo", "echo-1")
        assert r.cost == pytest.approx(get_profile("gpt-5-nano").cost(3, 2, 0))
        path, body, kw = transport.calls[0]
        assert path == "/models/gpt-5-nano:generate" and body == {"model": "gpt-5-nano", "text": "hi", "seed": 7}
        assert kw["timeout"].total == 3
        stream = p.stream("x")
        assert [e.data for e in stream if e.type is E.TOKEN] == ["he", "llo"]
        res = stream.result()
        assert res.content == "hello" and res.provider == "echo"
        assert transport.calls[1][0] == "/models/gpt-5-nano:stream" and transport.calls[1][1]["stream"] is True
        assert len(limiter.acquired) == 2 and limiter.settled == [5, 5]
        with pytest.raises(ConfigurationError, match="no embeddings"):
            p.embed("x")
    assert transport.closed


def test_default_headers_hook_and_env_key(monkeypatch):
    monkeypatch.setenv("ECHO_API_KEY", "sk-echo-secret")
    p = EchoProvider()
    assert p.transport._headers["echo-version"] == "1"
    assert "sk-echo-secret" not in repr(p) and "sk-echo-secret" not in json.dumps(p.to_config())
    p.close()


# -- OpenAIProvider options (issue 16) --------------------------------------------------------------
def chat_json(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c1", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}


CHAT_SSE = [b'data: {"id":"c2","model":"gpt-5-nano","choices":[{"index":0,"delta":{"content":"o"}}]}\n\n',
            b'data: {"id":"c2","model":"gpt-5-nano","choices":[{"index":0,"delta":{"content":"k"},'
            b'"finish_reason":"stop"}]}\n\n',
            b'data: {"id":"c2","model":"gpt-5-nano","choices":[],"usage":{"prompt_tokens":7,'
            b'"completion_tokens":2,"total_tokens":9}}\n\n',
            b"data: [DONE]\n\n"]


def test_rate_limit_and_cache_backend_through_the_public_api(tmp_path):
    transport = MemoryTransport(chat_json, CHAT_SSE)
    limiter = RecordingLimiter()
    with OpenAIProvider(transport=transport, rate_limit=limiter, cache_backend="fs", cache_dir=str(tmp_path)) as p:
        first, second = p.complete("hi"), p.complete("hi")
        assert first.content == second.content == "ok" and second.cached and first.provider == "openai"
        assert len(transport.calls) == 1  # the second came from the cache
        assert limiter.settled == [8]     # one reservation, settled with the real usage
        stream = p.stream("other", cache_response=False)
        next(iter(stream))
        stream.close()                    # closed early: still settled, once
        assert limiter.settled == [8, 0] and len(limiter.acquired) == 2
        assert p.stream("again").result().content == "ok"
        assert limiter.settled == [8, 0, 9]


def test_cache_grouped_value_forms(tmp_path):
    a = OpenAIProvider(transport=MemoryTransport(chat_json), cache={"backend": "fs", "cache_dir": str(tmp_path)})
    a.complete("q")
    b = OpenAIProvider(transport=MemoryTransport(chat_json), cache="fs", cache_dir=str(tmp_path))
    assert b.complete("q").cached
    shared = ResponseCache(a.cache.backend)
    c = OpenAIProvider(transport=MemoryTransport(chat_json), cache=shared)
    assert c.cache is shared and c.complete("q").cached
    c.close()
    assert not shared._closed  # a ResponseCache handed in belongs to its owner
    with pytest.raises(ConfigurationError, match="not both"):
        OpenAIProvider(api_key="k", cache="fs", cache_backend="fs")
    with pytest.raises(ConfigurationError, match="backend"):
        OpenAIProvider(api_key="k", cache={"cache_dir": str(tmp_path)})
    for p in (a, b):
        p.close()
    shared.close()


def test_max_retries_and_a_disagreeing_retry_policy_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="disagrees"):
        OpenAIProvider(api_key="k", max_retries=3, retry=RetryPolicy(max_retries=1))
    p = OpenAIProvider(api_key="k", max_retries=4, retry=RetryPolicy(max_retries=4, base=0.1))
    assert p.transport.retry == RetryPolicy(max_retries=4, base=0.1)
    assert OpenAIProvider(api_key="k", retry=RetryPolicy(max_retries=5)).transport.retry.max_retries == 5
    assert OpenAIProvider(api_key="k").transport.retry.max_retries == 2
    with pytest.raises(ConfigurationError):
        OpenAIProvider(api_key="k", max_retries=-1)


def test_to_config_keeps_embedding_model_headers_and_retry():
    policy = RetryPolicy(max_retries=4, base=0.1, max_retry_after=7.0)
    p = OpenAIProvider("gpt-5-mini", api_key="sk-not-in-config", base_url="http://127.0.0.1:9/v1",
                       embedding_model="text-embedding-3-large", retry=policy,
                       headers={"X-Team": "search", "api-key": "azure-secret", "X-Auth-Token": "t0k"},
                       timeout=Timeout(connect=2, read=30, first_byte=5), api="responses")
    config = p.to_config()
    assert not {"sk-not-in-config", "azure-secret", "t0k"} & set(json.dumps(config).split('"'))
    q = OpenAIProvider.from_config(json.loads(json.dumps(config)), api_key="k")
    assert q.transport.retry == policy
    assert q._embedding_model == "text-embedding-3-large" and q.headers == {"X-Team": "search"}
    assert q.transport._headers["X-Team"] == "search"
    assert q.transport.timeout == p.transport.timeout and q.api == "responses" and q.model == p.model


def test_openai_client_accepts_any_provider():
    client = OpenAIClient(provider=FakeProvider(CompletionResult("from fake", usage=Usage(1, 2, 3))))
    out = client.get_response(messages=[{"role": "user", "content": "hi"}])
    assert out["status"] == "success" and out["output"] == "from fake"
    with pytest.raises(ConfigurationError):
        OpenAIClient(provider=FakeProvider(), api_key="k")


# -- ResponseCache.close() under calls in flight (issue 16) --------------------------------------------
class BlockingBackend:
    needs_deadline = False

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.closed = threading.Event()

    def get(self, key: str, collection: str) -> Any:
        self.entered.set()
        self.closed.wait(JOIN)
        raise ConnectionError("connection closed by close()")

    def set(self, *a: Any) -> None:
        pass

    def delete(self, *a: Any) -> None:
        pass

    def close(self) -> None:
        self.closed.set()


def test_closing_the_cache_under_an_in_flight_call_is_not_an_outage():
    cache = ResponseCache(BlockingBackend(), owns_backend=True)
    backend = cache.backend
    t = threading.Thread(target=lambda: cache.get("k" * 64, "default"), daemon=True)
    t.start()
    assert backend.entered.wait(JOIN)
    with _no_cache_warning():
        cache.close()
        t.join(JOIN)
    assert not t.is_alive()
    assert cache.stats["errors"] == 0 and cache._down_until is None


class _no_cache_warning:
    def __enter__(self) -> None:
        import warnings

        self._ctx = warnings.catch_warnings(record=True)
        self.records = self._ctx.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
        from llm_client_sync.cache import CacheWarning

        assert not [w for w in self.records if issubclass(w.category, CacheWarning)]


def test_result_provider_and_attempts_survive_the_cache_round_trip():
    r = dataclasses.replace(CompletionResult("x"), provider="openai")
    assert CompletionResult.from_dict(r.to_dict()).provider == "openai"


def test_a_chain_rebuilds_from_its_config_in_another_process():
    chain = FallbackProvider([OpenAIProvider("gpt-5-nano", api_key="sk-x", base_url="http://127.0.0.1:9/v1"),
                              OpenAIProvider("gpt-5-mini", api_key="sk-y", base_url="http://127.0.0.1:8/v1",
                                             retry=RetryPolicy(max_retries=0))],
                             timeout=Timeout(total=9, first_byte=2), max_retry_after=3, failure_threshold=4, cooldown=7)
    config = json.loads(json.dumps(chain.to_config()))
    assert "sk-x" not in json.dumps(config)
    again = FallbackProvider.from_config(config)
    assert [p.model for p in again.providers] == ["gpt-5-nano", "gpt-5-mini"]
    second = again.providers[1]
    assert second.base_url == "http://127.0.0.1:8/v1" and second.transport.retry.max_retries == 0
    assert again.timeout == chain.timeout and again.max_retry_after == 3
    assert (again.breakers[0].failure_threshold, again.breakers[0].cooldown) == (4, 7.0)
    config["providers"][0]["class"] = "os:system"
    with pytest.raises(ConfigurationError, match="not a provider class"):
        FallbackProvider.from_config(config)
    with pytest.raises(ConfigurationError, match="no to_config"):
        FallbackProvider([FakeProvider()]).to_config()
