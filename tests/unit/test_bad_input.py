"""Every public entry point x bad values: a typed LLMClientError naming the argument, before any
request is sent (a local server counts the requests; it must see none).

One table: each row is (entry point, bad value, the error class, a word the message must hold).
"""

from __future__ import annotations

import asyncio
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest
from support import serving

from llm_client_sync.errors import ConfigurationError, LLMClientError, ToolError

NAN = float("nan")
INF = float("inf")


class _Counter(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _count(self):
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _count


_server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
_server.hits = 0  # type: ignore[attr-defined]
URL = f"http://127.0.0.1:{_server.server_port}/v1"


@pytest.fixture(scope="module", autouse=True)
def counting_server():
    with serving(_server):
        yield _server


def provider(**kw: Any):
    from llm_client_sync.providers.openai import OpenAIProvider

    return OpenAIProvider(**{"model": "gpt-5-nano", "api_key": "sk-test", "base_url": URL, "max_retries": 0, **kw})


def fallback(providers: Any, **kw: Any):
    from llm_client_sync import FallbackProvider

    return FallbackProvider(providers, **kw)


def native(cls: str, **kw: Any):
    import llm_client_sync

    return getattr(llm_client_sync, cls)(**{"api_key": "test-key", "base_url": URL, "max_retries": 0, **kw})


def agent(**kw: Any):
    from llm_client_sync.agent import Agent

    return Agent(provider(), **kw)


def documented(a: int) -> str:
    """Documented tool."""
    return str(a)


def other_documented(a: int) -> str:
    """Same name, different function."""
    return str(a)


other_documented.__name__ = "documented"


def with_varargs(*args: int) -> str:
    """Varargs tool."""
    return ""


def conversation(**kw: Any):
    from llm_client_sync.conversation import Conversation

    return Conversation(**kw)


def runner(**kw: Any):
    from llm_client_sync.batch import BatchRunner

    return BatchRunner(**{"provider": provider(), **kw})


def limit(**kw: Any):
    from llm_client_sync.ratelimit import RateLimit

    return RateLimit(**kw)


def limiter():
    from llm_client_sync.ratelimit import RateLimit, RateLimiter

    return RateLimiter(RateLimit(rpm=60, tpm=1000))


class _PusherClient:
    def trigger_batch(self, batch, already_encoded=False):
        return {}


def pusher(channel: Any = "chat-1", **kw: Any):
    from llm_client_sync.streaming import PusherAdapter

    return PusherAdapter(channel, client=_PusherClient(), **kw)


def sse(**kw: Any):
    from llm_client_sync.streaming import SSEAdapter

    return SSEAdapter(**kw)


def websocket(send: Any):
    from llm_client_sync.streaming import WebSocketAdapter

    return WebSocketAdapter(send)


def aio(coro_fn: Callable[[Any], Any], **kw: Any):
    from llm_client_sync.aio import AsyncOpenAIProvider

    async def go():
        p = AsyncOpenAIProvider(**{"model": "gpt-5-nano", "api_key": "sk-test", "base_url": URL,
                                   "max_retries": 0, **kw})
        try:
            return await coro_fn(p)
        finally:
            await p.aclose()

    return asyncio.run(go())


async def _drain(stream):
    async for _ in stream:
        pass


def client(**kw: Any):
    from llm_client_sync.client import OpenAIClient

    return OpenAIClient(**{"model": "gpt-5-nano", "api_key": "sk-test", "base_url": URL, **kw})


def cache(**options: Any):
    from llm_client_sync.cache import build_cache

    return build_cache(options.pop("backend", "fs"), options=options)


C, T, E = ConfigurationError, ToolError, LLMClientError

# (entry point, bad value label, call, error class, word the message must contain)
CASES: list[tuple[str, str, Callable[[], Any], type, str]] = [
    # OpenAIProvider(...)
    *[("OpenAIProvider", f"model={v!r}", (lambda v=v: provider(model=v)), C, "model")
      for v in (None, 123, b"gpt-5-nano", "", 1.5)],
    *[("OpenAIProvider", f"api_key={v!r}", (lambda v=v: provider(api_key=v)), C, "api_key")
      for v in (123, b"sk-test", "sk-a\nb", "sk-\x00", ["sk-test"])],
    *[("OpenAIProvider", f"base_url={v!r}", (lambda v=v: provider(base_url=v)), C, "base_url")
      for v in (123, "ftp://x", b"http://127.0.0.1/v1", "127.0.0.1:8000")],
    *[("OpenAIProvider", f"timeout={v!r}", (lambda v=v: provider(timeout=v)), C, "timeout")
      for v in (-1, 0, NAN, INF, "10", b"10", True)],
    *[("OpenAIProvider", f"max_retries={v!r}", (lambda v=v: provider(max_retries=v)), C, "max_retries")
      for v in (-1, 2.5, NAN, "2", True)],
    *[("OpenAIProvider", f"pool_maxsize={v!r}", (lambda v=v: provider(pool_maxsize=v)), C, "pool_maxsize")
      for v in (0, -5, "10", None, NAN, 2.5)],
    *[("OpenAIProvider", f"api={v!r}", (lambda v=v: provider(api=v)), C, "api")
      for v in ("grpc", None, 1)],
    *[("OpenAIProvider", f"default_params={v!r}", (lambda v=v: provider(default_params=v)), C, "default_params")
      for v in ("temperature=1", 5, [("a", 1)])],
    *[("OpenAIProvider", f"headers={v!r}", (lambda v=v: provider(headers=v)), C, "header")
      for v in ("X-A: 1", {"X-A": 1}, {"X-A": "a\r\nInjected: 1"}, {"bad name": "x"}, {"X-A": b"x"})],
    *[("OpenAIProvider", f"cache_backend={v!r}", (lambda v=v: provider(cache_backend=v)), C, "cache_backend")
      for v in ("nope", 123, b"fs")],
    *[("OpenAIProvider", f"cache_ttl={v!r}", (lambda v=v, d=d: provider(cache_backend="fs", cache_dir=d, cache_ttl=v)),
       C, "cache_ttl") for v, d in ((-1, "unused-cache"), (NAN, "unused-cache"), ("60", "unused-cache"))],
    *[("OpenAIProvider", f"rate_limit={v!r}", (lambda v=v: provider(rate_limit=v)), C, "rate")
      for v in ("nope", -1, {"rpm": -1}, {"rpm": NAN}, {"rpmm": 5})],
    *[("OpenAIProvider", f"retry={v!r}", (lambda v=v: provider(retry=v)), C, "retry")
      for v in ("x", 3, {"max_retries": 2})],
    *[("OpenAIProvider", f"{k}={v!r}", (lambda k=k, v=v: provider(**{k: v})), C, k)
      for k, v in (("organization", 123), ("project", b"p"), ("embedding_model", 5))],
    # FallbackProvider(...)
    *[("FallbackProvider", label, fn, C, w) for label, fn, w in (
        ("providers=None", lambda: fallback(None), "providers"),
        ("providers=[]", lambda: fallback([]), "provider"),
        ("providers=[123]", lambda: fallback([123]), "providers[0]"),
        ("providers='gpt-5-nano'", lambda: fallback("gpt-5-nano"), "providers"),
        ("max_retry_after=nan", lambda: fallback([provider()], max_retry_after=NAN), "max_retry_after"),
        ("failure_threshold=0", lambda: fallback([provider()], failure_threshold=0), "failure_threshold"),
        ("cooldown=-1", lambda: fallback([provider()], cooldown=-1), "cooldown"),
        ("timeout=-1", lambda: fallback([provider()], timeout=-1), "timeout"),
    )],
    *[("FallbackProvider.complete", f"prompt={v!r}", (lambda v=v: fallback([provider()]).complete(v)), C, w)
      for v, w in ((None, "prompt"), ([{"content": "hi"}], "role"))],
    # the native providers share BaseProvider's checks
    *[(cls, f"{k}={v!r}", (lambda cls=cls, k=k, v=v: native(cls, **{k: v})), C, k)
      for cls in ("AnthropicProvider", "GeminiProvider")
      for k, v in (("api_key", "key\nwith-newline"), ("model", None), ("timeout", NAN), ("pool_maxsize", 0),
                   ("headers", {"X": "a\rb"}))],
    *[(f"{cls}.complete", f"{k}={v!r}", (lambda cls=cls, k=k, v=v: native(cls).complete("hi", **{k: v})), C, k)
      for cls in ("AnthropicProvider", "GeminiProvider")
      for k, v in (("temperature", NAN), ("max_tokens", -1), ("reasoning_effort", "ultra"))],
    # provider.complete / stream / embed
    *[("OpenAIProvider.complete", f"prompt={v!r}", (lambda v=v: provider().complete(v)), C, w)
      for v, w in ((None, "prompt"), (123, "prompt"), (b"hi", "prompt"), ([], "message"),
                   ([{"content": "hi"}], "role"), ([{"role": "wizard", "content": "x"}], "role"),
                   ([123], "messages[0]"), ([{"role": "user"}], "content"),
                   ([{"role": "user", "content": 5}], "content"), ({"role": "user", "content": "hi"}, "prompt"))],
    *[("OpenAIProvider.complete", f"{k}={v!r}", (lambda k=k, v=v, m=m: provider(model=m).complete("hi", **{k: v})),
       C, k)
      for k, v, m in (("temperature", NAN, "gpt-4o-mini"), ("temperature", "hot", "gpt-4o-mini"),
                      ("temperature", 3.5, "gpt-4o-mini"), ("top_p", -0.1, "gpt-4o-mini"),
                      ("max_completion_tokens", -1, "gpt-5-nano"), ("max_completion_tokens", 0, "gpt-5-nano"),
                      ("max_completion_tokens", 1.5, "gpt-5-nano"), ("max_completion_tokens", NAN, "gpt-5-nano"),
                      ("max_tokens", -5, "gpt-4o-mini"),
                      ("reasoning_effort", "extreme", "gpt-5-nano"), ("reasoning_effort", 5, "gpt-5-nano"),
                      ("reasoning_effort", "extreme", "my-local-model"), ("reasoning_effort", 3, "my-local-model"),
                      ("reasoning_effort", "", "my-local-model"),
                      ("tools", "get_weather", "gpt-5-nano"), ("tools", [123], "gpt-5-nano"),
                      ("response_format", 123, "gpt-5-nano"), ("n", 0, "gpt-4o-mini"), ("n", -1, "gpt-4o-mini"),
                      ("n", "2", "gpt-4o-mini"), ("seed", NAN, "gpt-4o-mini"), ("stop", 5, "gpt-4o-mini"),
                      ("system", 5, "gpt-5-nano"))],
    *[("OpenAIProvider.stream", f"prompt={v!r}", (lambda v=v: provider().stream(v)), C, w)
      for v, w in ((None, "prompt"), ([{"content": "hi"}], "role"), (b"hi", "prompt"))],
    ("OpenAIProvider.stream", "temperature=nan", lambda: provider(model="gpt-4o-mini").stream("hi", temperature=NAN),
     C, "temperature"),
    *[("OpenAIProvider.embed", f"texts={v!r}", (lambda v=v: provider().embed(v)), C, "text")
      for v in (None, 123, [], [None], [b"x"], "", [""], b"hello")],
    *[("OpenAIProvider.embed", f"dimensions={v!r}", (lambda v=v: provider().embed("hi", dimensions=v)), C, "dimensions")
      for v in (0, -3, "256", NAN, 2.5)],
    # Agent / AgentConfig
    *[("Agent", f"provider={v!r}", (lambda v=v: __import__("llm_client_sync.agent", fromlist=["Agent"]).Agent(v)),
       C, "provider") for v in (None, 123, "gpt-5-nano")],
    *[("Agent", f"tools={v!r}", (lambda v=v: agent(tools=v)), T, w)
      for v, w in (("get_weather", "tool"), ([123], "tool"), ([documented, other_documented], "already registered"),
                   ([with_varargs], "args"))],
    ("Agent", "system_message=5", lambda: agent(system_message=5), C, "system_message"),
    *[("AgentConfig", f"{k}={v!r}",
       (lambda k=k, v=v: __import__("llm_client_sync.agent", fromlist=["AgentConfig"]).AgentConfig(**{k: v})), C, k)
      for k, v in (("max_turns", 0), ("max_turns", "3"), ("max_turns", NAN), ("max_turns", None),
                   ("tool_timeout", -1), ("tool_timeout", NAN), ("tool_timeout", "5"),
                   ("max_parallel_tools", 0), ("max_tool_output_chars", -1), ("model_params", "x"))],
    *[("Agent.run", f"prompt={v!r}", (lambda v=v: agent().run(v)), C, w)
      for v, w in ((123, "prompt"), (b"hi", "prompt"), ({"content": "x"}, "role"), ([1, 2], "prompt"))],
    ("Agent.stream", "prompt=123", lambda: agent().stream(123), C, "prompt"),
    # tools / ToolRegistry
    *[("Tool", label, fn, T, w) for label, fn, w in (
        ("fn=123", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(123), "callable"),
        ("fn=None", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(None), "callable"),
        ("*args", lambda: __import__("llm_client_sync.tools", fromlist=["tool"]).tool(with_varargs), "args"),
        ("name='bad name!'", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(documented, name="bad name!"), "name"),
        ("name=5", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(documented, name=5), "name"),
        ("parameters='x'", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(documented, parameters="x"), "parameters"),
        ("parameters=unevaluatedProperties", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(
            documented, parameters={"type": "object", "unevaluatedProperties": False}), "unevaluatedProperties"),
        ("description=5", lambda: __import__("llm_client_sync.tools", fromlist=["Tool"]).Tool(documented, description=5), "description"),
    )],
    *[("ToolRegistry", label, fn, err, w) for label, fn, err, w in (
        ("clashing names", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry(
            [documented, other_documented]), T, "already registered"),
        ("tools=5", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry(5), T, "tools"),
        ("register(None)", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry().register(None), T, "callable"),
        ("max_output_chars=-1", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry(
            max_output_chars=-1), C, "max_output_chars"),
        ("max_output_chars='x'", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry(
            max_output_chars="x"), C, "max_output_chars"),
        ("max_output_chars=nan", lambda: __import__("llm_client_sync.tools", fromlist=["ToolRegistry"]).ToolRegistry(
            max_output_chars=NAN), C, "max_output_chars"),
    )],
    # Conversation
    *[("Conversation", f"{k}={v!r}", (lambda k=k, v=v: conversation(**{k: v})), C, k)
      for k, v in (("max_tokens", -1), ("max_tokens", NAN), ("max_tokens", "4000"), ("max_tokens", None),
                   ("truncation_strategy", "random"), ("truncation_strategy", None), ("reserve_tokens", -1),
                   ("system_message", 5), ("system_message", b"sys"), ("model", 5), ("model", None))],
    *[("Conversation.add_user", f"text={v!r}", (lambda v=v: conversation().add_user(v)), C, "content")
      for v in (None, 123, b"hi", [1, 2])],
    *[("Conversation.add_message", f"message={v!r}", (lambda v=v: conversation().add_message(v)), C, w)
      for v, w in (({"content": "x"}, "role"), ("hi", "message"), ({"role": "user"}, "content"),
                   ({"role": "tool", "content": "x"}, "tool_call_id"), ({"role": "assistant", "tool_calls": [5]}, "tool call"))],
    *[("Conversation.add_tool_result", f"tool_call_id={v!r}", (lambda v=v: conversation().add_tool_result(v, "x")), C,
       "tool_call_id") for v in (None, "", 5)],
    ("Conversation.add_assistant", "nothing", lambda: conversation().add_assistant(), C, "assistant"),
    ("Conversation.from_dict", "data=5", lambda: __import__("llm_client_sync.conversation", fromlist=["Conversation"]
                                                            ).Conversation.from_dict(5), C, "Conversation"),
    # caches
    *[("build_cache", label, fn, C, w) for label, fn, w in (
        ("backend='nope'", lambda: cache(backend="nope"), "cache_backend"),
        ("cache_dir=5", lambda: cache(cache_dir=5), "cache_dir"),
        ("cache_ttl=-1", lambda: cache(cache_dir="unused-cache", cache_ttl=-1), "cache_ttl"),
        ("cache_ttl=nan", lambda: cache(cache_dir="unused-cache", cache_ttl=NAN), "cache_ttl"),
        ("cache_timeout=-1", lambda: cache(cache_dir="unused-cache", cache_timeout=-1), "cache_timeout"),
        ("cache_timeout=inf", lambda: cache(cache_dir="unused-cache", cache_timeout=INF), "cache_timeout"),
        ("unknown option", lambda: cache(cache_dir="unused-cache", cache_dirr="x"), "cache_dirr"),
        ("signing_key=5", lambda: cache(cache_dir="unused-cache", signing_key=5), "signing_key"),
    )],
    ("ResponseCache", "backend=5", lambda: __import__("llm_client_sync.cache", fromlist=["ResponseCache"]).ResponseCache(5),
     C, "backend"),
    ("FileCache", "cache_dir=None", lambda: __import__("llm_client_sync.cache", fromlist=["FileCache"]).FileCache(None),
     C, "cache_dir"),
    # rate limits
    *[("RateLimit", f"{k}={v!r}", (lambda k=k, v=v: limit(**{k: v})), C, k)
      for k, v in (("rpm", -1), ("rpm", "60"), ("rpm", NAN), ("tpm", 0), ("tpm", 1.5), ("burst_requests", -2),
                   ("timeout", -1), ("timeout", NAN), ("timeout", "5"))],
    ("RateLimiter", "limits='60rpm'", lambda: __import__("llm_client_sync.ratelimit", fromlist=["RateLimiter"]
                                                         ).RateLimiter("60rpm"), C, "limits"),
    *[("RateLimiter.acquire", f"{k}={v!r}", (lambda k=k, v=v: limiter().acquire(**{k: v})), C, k)
      for k, v in (("tokens", -1), ("tokens", "5"), ("tokens", NAN), ("timeout", -1), ("timeout", NAN))],
    *[("RedisRateLimiter", label, fn, C, w) for label, fn, w in (
        ("limits=None", lambda: __import__("llm_client_sync.ratelimit", fromlist=["RedisRateLimiter"]
                                           ).RedisRateLimiter(None, client=object()), "limits"),
        ("fallback='x'", lambda: __import__("llm_client_sync.ratelimit", fromlist=["RedisRateLimiter"]
                                            ).RedisRateLimiter(limit(rpm=5), fallback="x"), "fallback"),
        ("fallback_share=nan", lambda: __import__("llm_client_sync.ratelimit", fromlist=["RedisRateLimiter"]
                                                  ).RedisRateLimiter(limit(rpm=5), fallback_share=NAN), "fallback_share"),
        ("url=5", lambda: __import__("llm_client_sync.ratelimit", fromlist=["RedisRateLimiter"]
                                     ).RedisRateLimiter(limit(rpm=5), url=5), "url"),
    )],
    # BatchRunner
    *[("BatchRunner", f"{k}={v!r}", (lambda k=k, v=v: runner(**{k: v})), C, k)
      for k, v in (("provider", None), ("provider", "gpt-5-nano"), ("max_workers", 0), ("max_workers", -1),
                   ("max_workers", "4"), ("max_workers", None), ("max_workers", NAN), ("retries", -1),
                   ("retries", "1"), ("fsync", "sometimes"), ("checkpoint", 123), ("max_in_flight", 0),
                   ("interrupt_grace", -1), ("interrupt_grace", NAN), ("params", "x"))],
    *[("BatchRunner.run", f"items={v!r}", (lambda v=v: runner().run(v)), C, "items") for v in (None, 123)],
    # streaming adapters
    *[("SSEAdapter", f"heartbeat={v!r}", (lambda v=v: sse(heartbeat=v)), C, "heartbeat")
      for v in (-1, 0, NAN, INF, "15")],
    ("SSEAdapter", "event_names={'nope': 'x'}", lambda: sse(event_names={"nope": "x"}), C, "event_names"),
    ("SSEAdapter.transform", "stream=None", lambda: sse().transform(None), C, "stream"),
    ("flask_response", "stream=123", lambda: __import__("llm_client_sync.streaming", fromlist=["flask_response"]
                                                        ).flask_response(123), C, "stream"),
    *[("WebSocketAdapter", f"send={v!r}", (lambda v=v: websocket(v)), C, "send") for v in (None, 123, "ws")],
    ("WebSocketAdapter.consume", "stream=None", lambda: websocket(lambda m: None).consume(None), C, "stream"),
    *[("PusherAdapter", label, fn, C, w) for label, fn, w in (
        ("channel=None", lambda: pusher(None), "channel"),
        ("channel=5", lambda: pusher(5), "channel"),
        ("channel='bad channel!'", lambda: pusher("bad channel!"), "channel"),
        ("max_bytes=-1", lambda: pusher(max_bytes=-1), "max_bytes"),
        ("max_bytes='1k'", lambda: pusher(max_bytes="1k"), "max_bytes"),
        ("max_batch=0", lambda: pusher(max_batch=0), "max_batch"),
        ("flush_interval=-1", lambda: pusher(flush_interval=-1), "flush_interval"),
        ("flush_interval=nan", lambda: pusher(flush_interval=NAN), "flush_interval"),
        ("no client or settings", lambda: __import__("llm_client_sync.streaming", fromlist=["PusherAdapter"]
                                                      ).PusherAdapter("c"), "client"),
    )],
    # aio
    ("AsyncOpenAIProvider", "model=None", lambda: aio(lambda p: asyncio.sleep(0), model=None), C, "model"),
    ("AsyncOpenAIProvider", "provider and kwargs", lambda: __import__("llm_client_sync.aio", fromlist=["x"]
                                                                      ).AsyncOpenAIProvider(model="x", provider=provider()),
     C, "provider"),
    ("AsyncOpenAIProvider.complete", "prompt=None", lambda: aio(lambda p: p.complete(None)), C, "prompt"),
    ("AsyncOpenAIProvider.complete", "temperature=nan",
     lambda: aio(lambda p: p.complete("hi", temperature=NAN), model="gpt-4o-mini"), C, "temperature"),
    ("AsyncOpenAIProvider.embed", "texts=[]", lambda: aio(lambda p: p.embed([])), C, "text"),
    ("AsyncOpenAIProvider.stream", "prompt=[{}]", lambda: aio(lambda p: _drain(p.stream([{}]))), C, "role"),
    ("AsyncOpenAIProvider.stream", "buffer=0", lambda: aio(lambda p: _drain(p.stream("hi", buffer=0))), C, "buffer"),
    ("AsyncAgent", "provider=None", lambda: __import__("llm_client_sync.aio", fromlist=["AsyncAgent"]).AsyncAgent(None),
     C, "provider"),
    # OpenAIClient (legacy)
    ("OpenAIClient", "model=None", lambda: client(model=None), C, "model"),
    ("OpenAIClient", "api_key=5", lambda: client(api_key=5), C, "api_key"),
    *[("OpenAIClient.get_response", f"messages={v!r}", (lambda v=v: client().get_response(v)), C, w)
      for v, w in ((None, "messages"), ([], "messages"), ([{"content": "x"}], "role"), (5, "prompt"))],
    ("OpenAIClient.get_response", "temperature=nan",
     lambda: client(model="gpt-4o-mini").get_response("hi", temperature=NAN), C, "temperature"),
    *[("OpenAIClient.get_embeddings", f"texts={v!r}", (lambda v=v: client().get_embeddings(v)), C, "text")
      for v in (None, [], [5])],
    ("OpenAIClient.get_embeddings", "dimensions=-1", lambda: client().get_embeddings("x", dimensions=-1), C, "dimensions"),
]


@pytest.mark.parametrize("entry, label, call, error, word", CASES,
                         ids=[f"{c[0]}[{c[1]}]" for c in CASES])
def test_bad_input_is_a_typed_error_before_any_request(entry, label, call, error, word, counting_server, tmp_path,
                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)  # a cache_dir that slips through lands here, not in the checkout
    before = counting_server.hits
    with pytest.raises(LLMClientError) as info:
        result = call()
        if hasattr(result, "__next__"):  # a stream that only fails when read
            next(result)
    exc = info.value
    assert isinstance(exc, error), f"{entry}[{label}] raised {type(exc).__name__}: {exc}"
    assert word.lower() in str(exc).lower(), f"{entry}[{label}]: message does not name {word!r}: {exc}"
    assert "connection failed" not in str(exc)
    assert counting_server.hits == before, f"{entry}[{label}] sent {counting_server.hits - before} request(s)"


CLI_CASES = [
    (["chat", "hi", "--provider", "nope"], "provider"),
    (["chat", "hi", "--base-url", "ftp://x"], "base_url"),
    (["tokens", "definitely-missing.txt"], "definitely-missing.txt"),
    (["batch", "definitely-missing.jsonl", "--out", "o.jsonl"], "definitely-missing.jsonl"),
    (["batch", "items.jsonl", "--out", "o.jsonl", "--workers", "0"], "workers"),
    (["batch", "items.jsonl", "--out", "o.jsonl", "--workers", "many"], "workers"),
    (["nope"], "invalid choice"),
]


@pytest.mark.parametrize("argv, word", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_bad_input_exits_2_naming_the_argument_before_any_request(argv, word, counting_server, capsys,
                                                                       monkeypatch, tmp_path):
    from llm_client_sync.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "items.jsonl").write_text('{"prompt": "hi"}\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", URL)
    before = counting_server.hits
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert word.lower() in err.lower() and "Traceback" not in err
    assert counting_server.hits == before


def test_cli_key_with_a_control_character_is_a_configuration_error(counting_server, capsys, monkeypatch):
    from llm_client_sync.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc\x01def-long-enough")
    monkeypatch.setenv("OPENAI_BASE_URL", URL)
    before = counting_server.hits
    assert main(["chat", "hi"]) == 2
    err = capsys.readouterr().err
    assert "OPENAI_API_KEY" in err and "abc" not in err
    assert counting_server.hits == before


def test_tools_that_raise_or_return_non_strings_become_tool_results_not_crashes():
    from llm_client_sync.tools import ToolRegistry

    def boom(a: int) -> str:
        """Raises."""
        raise RuntimeError("kaput")

    def number(a: int) -> int:
        """Returns an int."""
        return a * 2

    def unencodable(a: int) -> object:
        """Returns something JSON cannot hold."""
        return {1j: 2}

    def nodoc(a: int) -> dict:
        return {"a": a}

    registry = ToolRegistry([boom, number, unencodable, nodoc])
    failed = registry.execute("boom", '{"a": 1}')
    assert failed.is_error and failed.error_kind == "exception" and "kaput" in failed.content
    assert registry.execute("number", '{"a": 2}').content == "4"
    bad = registry.execute("unencodable", '{"a": 1}')
    assert bad.is_error and bad.error_kind == "exception"
    # a tool without a docstring is accepted (the API allows a function without description)
    assert registry.execute("nodoc", '{"a": 3}').content == '{"a": 3}'
    assert "description" not in registry.get("nodoc").to_openai()["function"]


def test_the_table_covers_every_public_entry_point():
    entries = {c[0].split(".")[0] for c in CASES}
    assert {"OpenAIProvider", "FallbackProvider", "AnthropicProvider", "GeminiProvider", "Agent", "AgentConfig", "Tool", "ToolRegistry", "Conversation", "build_cache",
            "ResponseCache", "FileCache", "RateLimit", "RateLimiter", "RedisRateLimiter", "BatchRunner",
            "SSEAdapter", "WebSocketAdapter", "PusherAdapter", "flask_response", "AsyncOpenAIProvider",
            "AsyncAgent", "OpenAIClient"} <= entries


@pytest.mark.parametrize("params", [{"metadata": {"a": object()}}, {"logit_bias": {"1": NAN}}, {"extra": b"bytes"}],
                         ids=["object", "nan", "bytes"])
def test_a_body_json_cannot_encode_is_a_configuration_error_never_a_retried_connection_failure(
        params, counting_server):
    before = counting_server.hits
    with pytest.raises(ConfigurationError) as info:
        provider(model="gpt-4o-mini", max_retries=3).complete("hi", **params)
    assert "connection failed" not in str(info.value)
    assert counting_server.hits == before
