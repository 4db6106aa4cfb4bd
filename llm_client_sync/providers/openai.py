"""OpenAIProvider: complete, stream and embed over the OpenAI REST API (or any compatible server).

Flow: build the body (pure) -> cache -> rate limiter -> transport -> parse (pure) -> settle/cache.
"""

from __future__ import annotations

import array
import dataclasses
import base64
import hashlib
import os
import sys
import time
from typing import Any, Iterable, Mapping

from ..errors import ConfigurationError, LLMClientError
from ..models import ModelProfile, get_profile
from ..observe import hooks as _hooks
from ..observe import budget as _budget
from ..transport import RetryPolicy, Timeout, Transport
from ..types import CompletionResult, EmbeddingResult, Usage
from ._chat import ChatProtocol
from ._params import check_reasoning_params, coerce_messages, coerce_tools, parse_structured, response_format_spec
from ._stream import Stream, replay_events

__all__ = ["OpenAIProvider"]

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_EMBED_MAX_INPUTS = 2048
_EMBED_MAX_CHARS = 300_000 * 3  # ~300k tokens per request, estimated at 3 chars a token


def _protocol(api: str) -> Any:
    if api == "chat":
        return ChatProtocol()
    if api == "responses":
        try:
            from ._responses import ResponsesProtocol
        except ImportError as exc:
            raise ConfigurationError("api='responses' is not available in this build") from exc
        return ResponsesProtocol()
    raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}")


class OpenAIProvider:
    """A synchronous client for one model.

    Thread-safe: one provider may be shared by many threads (64 and more); it holds one
    connection pool sized by ``pool_maxsize``. Streams it returns belong to one thread each.

    Args:
        model: a name (``"gpt-5-nano"``, any name an OpenAI-compatible server knows) or a ModelProfile.
        api_key: defaults to ``OPENAI_API_KEY``; never logged or shown in reprs.
        base_url: defaults to ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        timeout: seconds or a Timeout(connect, read, stream_idle, total).
        max_retries: retries of connection errors, 408/409/429/5xx (never 400/401/403/404/422).
        api: ``"chat"`` (Chat Completions, default) or ``"responses"``.
        cache_backend: None, ``"fs"``, ``"pg_redis"``, ``"qdrant"`` or a CacheBackend instance.
        rate_limit: None, a RateLimit, a shared RateLimiter, or ``"default"`` (profile limits).
        context: tags (user, tenant, ...) on every event of this provider (``observe``); a call
            takes ``context=`` too. hooks: callables hearing only this provider's events.
        budget: an ``observe.Budget`` checked before every call.

        >>> OpenAIProvider(model="gpt-5-nano").complete("Hi").content  # doctest: +SKIP
    """

    def __init__(self, model: str | ModelProfile = "gpt-5-nano", api_key: str | None = None,
                 base_url: str | None = None, organization: str | None = None, project: str | None = None,
                 timeout: Timeout | float | None = None, max_retries: int = 2, *, api: str = "chat",
                 default_params: Mapping[str, Any] | None = None, pool_maxsize: int = 100,
                 embedding_model: str | ModelProfile | None = None, headers: Mapping[str, str] | None = None,
                 retry: RetryPolicy | None = None,
                 cache_backend: Any = None, cache_dir: str | None = None, pg_dsn: str | None = None,
                 redis_url: str | None = None, qdrant_url: str | None = None, qdrant_api_key: str | None = None,
                 qdrant_path: str | None = None, cache_ttl: float | None = None,
                 cache_namespace: str | None = None, cache_timeout: float = 1.0,
                 cache_options: Mapping[str, Any] | None = None, rate_limit: Any = None,
                 clock: Any = None, sleep: Any = None, context: Mapping[str, Any] | None = None,
                 hooks: Iterable[Any] | None = None, budget: Any = None) -> None:
        self.profile = get_profile(model)
        self.observe_context = dict(context or {})
        self.observe_hooks = _hooks.register_owner_hooks(self, hooks)
        self.budget = budget
        self.model = self.profile.api_id
        self.api = api
        self._protocol = _protocol(api)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError("max_retries must be a non-negative integer")
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL).rstrip("/")
        extra = dict(headers or {})
        if organization or os.environ.get("OPENAI_ORG_ID"):
            extra["OpenAI-Organization"] = organization or os.environ["OPENAI_ORG_ID"]
        if project or os.environ.get("OPENAI_PROJECT_ID"):
            extra["OpenAI-Project"] = project or os.environ["OPENAI_PROJECT_ID"]
        policy = retry or RetryPolicy(max_retries=max_retries)
        kw: dict[str, Any] = {}
        if clock is not None:
            kw["clock"] = clock
        if sleep is not None:
            kw["sleep"] = sleep
        self.transport = Transport(self.base_url, key, headers=extra, timeout=timeout, retry=policy,
                                   pool_maxsize=pool_maxsize, **kw)
        self._key_id = hashlib.sha256((key or "").encode()).hexdigest()[:8]
        self._has_key = bool(key)
        self.default_params = dict(default_params or {})
        self._embedding_model = embedding_model
        self._config = {"model": self.profile.key if get_profile(self.profile.key) is self.profile else self.model,
                        "base_url": self.base_url, "organization": organization, "project": project,
                        "max_retries": max_retries, "api": api, "pool_maxsize": pool_maxsize,
                        "default_params": self.default_params,
                        "timeout": dataclasses.asdict(Timeout.coerce(timeout))}
        self.cache = None
        if cache_backend is not None:
            from ..cache import build_cache

            options = {k: v for k, v in {"cache_dir": cache_dir, "pg_dsn": pg_dsn, "redis_url": redis_url,
                                          "qdrant_url": qdrant_url, "qdrant_api_key": qdrant_api_key,
                                          "qdrant_path": qdrant_path, "cache_ttl": cache_ttl,
                                          "cache_namespace": cache_namespace,
                                          "cache_timeout": cache_timeout}.items() if v is not None}
            options.update(cache_options or {})
            self.cache = build_cache(cache_backend, options=options, embed_fn=self._embed_one)
            if isinstance(cache_backend, str):
                self._config.update(cache_backend=cache_backend, cache_dir=cache_dir)
        self.limiter = None
        if rate_limit is not None:
            from ..rate_limit import RateLimit, build_limiter

            if isinstance(rate_limit, Mapping):
                rate_limit = RateLimit(**rate_limit)
            self.limiter = build_limiter(rate_limit, self.profile, self._key_id)
            if self.limiter is not None:
                self.transport.observers.append(self.limiter.observe)
                if isinstance(rate_limit, RateLimit):
                    self._config["rate_limit"] = dataclasses.asdict(rate_limit)
                elif isinstance(rate_limit, str):
                    self._config["rate_limit"] = rate_limit

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r})"

    def __enter__(self) -> "OpenAIProvider":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (and the cache backend's connections)."""
        self.transport.close()
        if self.cache is not None:
            self.cache.close()

    # -- configuration for other processes ---------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """A JSON-able, picklable configuration without secrets; ``from_config`` rebuilds the provider (the
        API key then comes from that process's environment)."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> "OpenAIProvider":
        return cls(**{**config, **overrides})

    # -- completions -----------------------------------------------------------------------
    def build_body(self, prompt: Any, **params: Any) -> dict[str, Any]:
        """The exact JSON body ``complete`` would send (pure; raises ConfigurationError)."""
        return self._prepare(prompt, params)[0]

    def _prepare(self, prompt: Any, params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        params = {**self.default_params, **params}
        system = params.pop("system", None)
        messages = coerce_messages(prompt, system, self.profile)
        check_reasoning_params(self.profile, params)
        if "tools" in params:
            params["tools"] = coerce_tools(params["tools"])
        spec, target = response_format_spec(params.pop("response_format", None))
        if spec is not None:
            params["response_format"] = spec
        return self._protocol.build(self.profile, messages, params), target

    @_hooks.observed("chat")
    def complete(self, prompt: Any, *, cache_response: bool | None = None, cache_collection: str = "default",
                 **params: Any) -> CompletionResult:
        """One model call. ``prompt``: a str, a list of message dicts, or a Conversation.

        Params: tools, tool_choice, parallel_tool_calls, temperature, max_completion_tokens,
        reasoning_effort, response_format (dict or dataclass; see ``result.parsed``), seed, stop,
        n, user, metadata, system, and any extra field, passed through as given.
        """
        body, target = self._prepare(prompt, params)
        key, hit = self._cached_completion(body, cache_response, cache_collection)
        if hit is not None:
            return _with_parsed(hit, target)
        use_cache = key is not None
        reservation = self._acquire(body)
        try:
            resp = self.transport.request("POST", self._protocol.endpoint, json=body)
            try:
                data = resp.json()
            except ValueError as exc:
                raise LLMClientError(f"the server answered with a body that is not JSON: {resp.text[:200]!r}") from exc
            result = self._protocol.parse(data, self.profile, resp.request_id)
        except BaseException:
            self._settle(reservation, None)
            raise
        self._settle(reservation, result.usage)
        if use_cache and key is not None:
            self.cache.put(key, result.to_dict(), cache_collection, body)
        return _with_parsed(result, target)

    @_hooks.observed("chat")
    def stream(self, prompt: Any, *, cache_response: bool | None = None, cache_collection: str = "default",
               **params: Any) -> Stream:
        """Like ``complete`` but returns a Stream of StreamEvents (iterate it, or ``.result()``)."""
        body, target = self._prepare(prompt, params)
        key, hit = self._cached_completion(body, cache_response, cache_collection)
        if hit is not None:
            return Stream(None, None, events=replay_events(_with_parsed(hit, target)))  # type: ignore[arg-type]
        use_cache = key is not None
        wire = self._protocol.stream_body(body)
        reservation = self._acquire(body)
        settled = []

        def on_done(result: CompletionResult) -> None:
            settled.append(True)
            self._settle(reservation, result.usage)
            if use_cache and key is not None:
                self.cache.put(key, result.to_dict(), cache_collection, body)

        def on_fail() -> None:
            if not settled:
                settled.append(True)
                self._settle(reservation, None)

        try:
            stream = Stream(lambda: self.transport.open_stream(self._protocol.endpoint, json=wire),
                            lambda rid: self._protocol.accumulator(self.profile, rid),
                            max_reopen=self.transport.retry.max_retries, on_done=on_done, on_fail=on_fail,
                            finalize=(lambda r: _with_parsed(r, target)) if target is not None else None)
        except BaseException:
            on_fail()
            raise
        return stream

    def _cached_completion(self, body: dict[str, Any], cache_response: bool | None,
                           collection: str) -> tuple[str | None, CompletionResult | None]:
        """(cache key or None when not caching, the cached result or None)."""
        if self.cache is None or cache_response is False:
            return None, None
        key = self.cache.key(self.base_url + self._protocol.endpoint, body)
        hit = self.cache.get(key, collection, body)
        if hit is not None:
            try:
                found = CompletionResult.from_dict(hit, cached=True)
                if _hooks.active:
                    _hooks.emit(_hooks.EventType.CACHE_HIT)
                return key, found
            except (KeyError, TypeError, ValueError):
                pass  # an entry of another shape: treated as a miss and overwritten
        if _hooks.active:
            _hooks.emit(_hooks.EventType.CACHE_MISS)
        return key, None

    # -- embeddings ------------------------------------------------------------------------
    def _embedding_profile(self, model: str | ModelProfile | None = None) -> ModelProfile:
        return get_profile(model or self._embedding_model or
                           (self.profile if self.profile.category == "embedding" else "text-embedding-3-small"))

    @_hooks.observed("embeddings", model_of=lambda self, kw: self._embedding_profile(kw.get("model")).api_id)
    def embed(self, texts: str | Iterable[str], dimensions: int | None = None, *, model: str | None = None,
              cache_response: bool | None = None, cache_collection: str = "embeddings") -> EmbeddingResult:
        """Embed one text or many; large inputs are split into several requests, order kept.

        The model is ``model``, else ``embedding_model``, else the provider's model when it is an
        embedding model, else ``text-embedding-3-small``. Vectors come as base64 on the wire and
        are decoded without numpy (float lists from servers that ignore encoding_format work too).
        """
        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            raise ConfigurationError("embed() needs at least one text")
        for i, t in enumerate(items):
            if not isinstance(t, str) or not t:
                raise ConfigurationError(f"texts[{i}] must be a non-empty string")
        profile = self._embedding_profile(model)
        vectors: list[list[float]] = []
        usage = Usage()
        all_cached = True
        for batch in _embed_batches(items):
            body: dict[str, Any] = {"model": profile.api_id, "input": batch, "encoding_format": "base64"}
            if dimensions is not None:
                body["dimensions"] = dimensions
            res = self._embed_request(body, profile, cache_response, cache_collection)
            vectors.extend(res.vectors)
            usage = usage + res.usage
            all_cached = all_cached and res.cached
        return EmbeddingResult(tuple(vectors), usage, profile.api_id,
                               profile.cost(usage.prompt_tokens, 0), cached=all_cached)

    def _embed_request(self, body: dict[str, Any], profile: ModelProfile, cache_response: bool | None,
                       collection: str) -> EmbeddingResult:
        use_cache = self.cache is not None and cache_response is not False
        key = None
        if use_cache:
            key = self.cache.key(self.base_url + "/embeddings", body)
            hit = self.cache.get(key, collection, body)
            if hit is not None:
                try:
                    found = EmbeddingResult.from_dict(hit, cached=True)
                    if _hooks.active:
                        _hooks.emit(_hooks.EventType.CACHE_HIT)
                    return found
                except (KeyError, TypeError, ValueError):
                    pass
            if _hooks.active:
                _hooks.emit(_hooks.EventType.CACHE_MISS)
        reservation = self._acquire(body, profile)
        try:
            data = self.transport.request("POST", "/embeddings", json=body).json()
            rows = sorted(data.get("data") or [], key=lambda d: d.get("index", 0))
            if len(rows) != len(body["input"]):
                raise LLMClientError(f"embeddings: asked for {len(body['input'])} vectors, got {len(rows)}")
            result = EmbeddingResult(tuple(_decode_vector(r.get("embedding")) for r in rows),
                                     Usage.from_api(data.get("usage")), data.get("model"))
        except BaseException:
            self._settle(reservation, None)
            raise
        self._settle(reservation, result.usage)
        if use_cache and key is not None:
            self.cache.put(key, result.to_dict(), collection, body)
        return result

    def _embed_one(self, text: str) -> list[float]:
        return list(self.embed(text, cache_response=False).vectors[0])

    # -- raw access ------------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> Any:
        """An authenticated call to any endpoint (files, batches, models) with the same retries
        and error translation; returns a TransportResponse (``.json()``, ``.content``)."""
        return self.transport.request(method, path, **kw)

    # -- rate limiting ---------------------------------------------------------------------
    def _acquire(self, body: Mapping[str, Any], profile: ModelProfile | None = None) -> Any:
        """(limiter reservation, budget hold): the budgets first, so a refused call waits for nothing."""
        hold = _budget.reserve(body, profile or self.profile, self.budget)
        if self.limiter is None:
            return None, hold
        from ..rate_limit import request_cost

        try:
            start = time.monotonic()
            reservation = self.limiter.acquire(request_cost(body, profile or self.profile))
        except BaseException:
            _budget.settle(hold, None)
            raise
        if _hooks.active:
            _hooks.emit(_hooks.EventType.LIMITER_WAIT, duration=time.monotonic() - start)
        return reservation, hold

    def _settle(self, reservation: Any, usage: Usage | None) -> None:
        reservation, hold = reservation
        _budget.settle(hold, usage)
        if reservation is not None and self.limiter is not None:
            self.limiter.settle(reservation, usage.total_tokens if usage is not None else 0)


def _with_parsed(result: CompletionResult, target: Any) -> CompletionResult:
    if target is None:
        return result
    import dataclasses

    return dataclasses.replace(result, parsed=parse_structured(result.content, target))


def _embed_batches(items: list[str]) -> Iterable[list[str]]:
    batch: list[str] = []
    size = 0
    for t in items:
        if batch and (len(batch) >= _EMBED_MAX_INPUTS or size + len(t) > _EMBED_MAX_CHARS):
            yield batch
            batch, size = [], 0
        batch.append(t)
        size += len(t)
    if batch:
        yield batch


def _decode_vector(value: Any) -> list[float]:
    if isinstance(value, str):
        arr = array.array("f")
        arr.frombytes(base64.b64decode(value))
        if sys.byteorder == "big":
            arr.byteswap()  # the API sends little-endian float32
        return arr.tolist()
    if isinstance(value, list):
        return [float(x) for x in value]
    raise LLMClientError(f"embedding has an unexpected type: {type(value).__name__}")
