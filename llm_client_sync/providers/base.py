"""The Provider protocol, and BaseProvider: what every HTTP provider shares.

Any object with the members of ``Provider`` is a provider (``isinstance(x, Provider)`` checks it at
run time): the Agent, Conversation budgets, caches, the batch runner, the adapters and aio use
nothing else. ``OpenAIProvider``, ``AnthropicProvider``, ``GeminiProvider`` subclass
``BaseProvider``; ``FallbackProvider`` implements the protocol over other providers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Protocol, runtime_checkable

from .._checks import check_completion_params, check_headers, check_int, check_mapping, check_number, check_str
from .._redact import check_api_key
from ..errors import ConfigurationError
from ..models import ModelProfile, get_profile
from ..observe import budget as _budget
from ..observe import hooks as _hooks
from ..transport import RetryPolicy, Timeout, Transport
from ._body import decode_json
from ._params import check_reasoning_params, coerce_messages, coerce_tools, response_format_spec, with_parsed
from ._stream import Stream, replay_events

if TYPE_CHECKING:
    from typing import Sequence, TypedDict, Union

    from typing_extensions import Unpack

    from .._sse import ServerSentEvent
    from ..conversation import Conversation
    from ..types import CompletionResult, EmbeddingResult, StreamEvent, Usage

    from ..cache import CacheBackend, ResponseCache
    from ..observe.budget import Budget
    from ..observe.hooks import Subscriber
    from ..ratelimit import RateLimit, RateLimiter, RedisRateLimiter

    Prompt = Union[str, Sequence[Mapping[str, object]], Conversation]
    #: ``cache=``: a backend name ("fs", "pg_redis", "qdrant"), a backend, a ResponseCache, or
    #: ``{"backend": ..., option: value}``
    CacheSpec = Union[str, CacheBackend, ResponseCache, Mapping[str, object], None]
    #: ``rate_limit=``: a RateLimit, a shared limiter, "default" (the profile's limits), or its fields
    RateLimitSpec = Union[RateLimit, RateLimiter, RedisRateLimiter, str, Mapping[str, object], None]

    class RequestParams(TypedDict, total=False):
        """The request fields ``complete``/``stream`` document, for type checkers (a misspelled or
        mistyped one is an error there). Any other field goes in ``extra_body`` (merged into the
        request as given); untyped code may still pass it as a keyword."""

        messages: Prompt
        system: str
        temperature: float
        top_p: float
        max_completion_tokens: int
        max_tokens: int
        max_output_tokens: int
        tools: Sequence[object]
        tool_choice: str | Mapping[str, object]
        parallel_tool_calls: bool
        response_format: object
        reasoning_effort: str
        reasoning: Mapping[str, object]
        thinking: Mapping[str, object]
        seed: int
        stop: str | Sequence[str]
        n: int
        user: str
        metadata: Mapping[str, str]
        instructions: str
        store: bool
        previous_response_id: str
        extra_body: Mapping[str, object]
        cache_response: bool | None
        cache_collection: str
        timeout: Timeout | float | None
        retry: RetryPolicy | None
        context: Mapping[str, object]  # observe tags of this call only (never sent)
        budget: Budget  # an observe.Budget checked for this call only (never sent)

__all__ = ["Accumulator", "BaseProvider", "Provider", "ResultStream", "WireProtocol"]


@runtime_checkable
class ResultStream(Protocol):
    """What ``Provider.stream`` returns: an iterator of StreamEvents and a context manager."""

    def __iter__(self) -> Iterator["StreamEvent"]: ...

    def __next__(self) -> "StreamEvent": ...

    def __enter__(self) -> "ResultStream": ...

    def __exit__(self, *exc: Any) -> None: ...

    def close(self) -> None: ...

    def result(self) -> "CompletionResult": ...


@runtime_checkable
class Provider(Protocol):
    """A model behind one wire protocol. Thread-safe: one provider may be shared by many threads."""

    model: str
    profile: "ModelProfile"

    def complete(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> "CompletionResult": ...

    def stream(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> ResultStream: ...

    def embed(self, texts: str | Iterable[str], dimensions: int | None = None) -> "EmbeddingResult": ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> None: ...


class Accumulator(Protocol):
    """Pure: fed the SSE events of one stream, returns StreamEvents; ``result()`` assembles."""

    finished: bool

    def feed(self, sse: "ServerSentEvent") -> list["StreamEvent"]: ...

    def result(self) -> "CompletionResult": ...


class WireProtocol(Protocol):
    """Pure: how one API's bodies and answers look (``ChatProtocol``, ``ResponsesProtocol``, ...)."""

    name: str

    def build(self, profile: ModelProfile, messages: list[dict[str, Any]],
              params: dict[str, Any]) -> dict[str, Any]: ...

    def path(self, model: str, stream: bool) -> str: ...

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def parse(self, data: Mapping[str, Any], profile: ModelProfile, request_id: str | None) -> "CompletionResult": ...

    def accumulator(self, profile: ModelProfile, request_id: str | None) -> Accumulator: ...


class BaseProvider:
    """One model behind one wire protocol: params, cache, limiter, transport, cost, close.

    Flow of ``complete``/``stream``: ``_prepare`` (defaults + params -> messages -> body, pure)
    -> ``_cached_completion`` (hit: done) -> limiter acquire -> transport (``path(model, stream)``)
    -> ``protocol.parse`` or the accumulator -> ``build_result`` (cost) -> settle -> cache put.
    Results carry ``provider=<name>``.

    How a new provider plugs in (see ``OpenAIProvider`` for a full one):

    1. Write a wire-protocol object (pure, no sockets): ``build(profile, messages, params) ->
       body``, ``path(model, stream) -> str``, ``stream_body(body)``, ``parse(data, profile,
       request_id) -> CompletionResult`` (through ``_chat.build_result``, which computes the cost),
       ``accumulator(profile, request_id)`` with ``.feed(sse) -> [StreamEvent]``, ``.finished``
       and ``.result()``.
    2. Subclass ``BaseProvider``: set ``name`` (``"anthropic"``), ``api_key_env``,
       ``base_url_env`` and ``default_base_url``; override ``_transport_options()`` for where the
       key goes (``{"auth_header": "x-api-key", "auth_scheme": None}``) and ``_default_headers()``
       for fixed headers (``{"anthropic-version": "2023-06-01"}``); in ``__init__`` call
       ``super().__init__(model, protocol=YourProtocol(), ...)`` with the common arguments.
    3. ``embed`` raises ConfigurationError unless the subclass overrides it.

    Thread-safe: one provider may be shared by many threads; streams belong to one thread each.

    Args (common to every provider):
        model: a name or a ModelProfile.
        protocol: the wire-protocol object.
        api_key / base_url: default from ``api_key_env`` / ``base_url_env`` / ``default_base_url``.
        timeout: seconds or a Timeout; per call ``complete(..., timeout=)`` overrides it.
        max_retries / retry: the retry budget (a RetryPolicy, or its dict); both given and
            disagreeing is a ConfigurationError.
        headers: extra headers on every request.
        default_params: merged under every call's params.
        transport: a ready Transport (or any object with its interface, e.g. an in-memory one
            in a test); then base_url, api_key, timeout, retry and pool_maxsize are its own.
        cache: None, a backend name (``"fs"``...), a CacheBackend instance, a ResponseCache, or
            a mapping ``{"backend": "fs", "cache_dir": ..., "cache_ttl": ...}``.
        rate_limit: None, ``"default"``, a RateLimit (or its dict) or a shared RateLimiter.
        proxies, verify, ca_bundle: as Transport takes them.
        context: tags (user, tenant, ...) on every ``observe`` event of this provider; a call
            takes ``context=`` too. hooks: callables hearing only this provider's events.
        budget: an ``observe.Budget`` checked before every call (a call takes ``budget=`` too).
    """

    name = "base"
    api_key_env: str | None = None
    base_url_env: str | None = None
    default_base_url = ""

    def __init__(self, model: str | ModelProfile, *, protocol: WireProtocol, api_key: str | None = None,
                 base_url: str | None = None, timeout: Timeout | float | None = None,
                 max_retries: int | None = None, retry: "RetryPolicy | Mapping[str, object] | None" = None,
                 headers: Mapping[str, str] | None = None, default_params: "Mapping[str, object] | None" = None,
                 pool_maxsize: int = 100, transport: "Transport | None" = None, cache: "CacheSpec" = None,
                 rate_limit: "RateLimitSpec" = None, embed_fn: "Callable[[str], list[float]] | None" = None,
                 clock: "Callable[[], float] | None" = None, sleep: "Callable[[float], None] | None" = None,
                 proxies: Mapping[str, str] | None = None, verify: bool | None = None,
                 ca_bundle: str | None = None, context: "Mapping[str, object] | None" = None,
                 hooks: "Iterable[Subscriber] | None" = None, budget: "Budget | None" = None) -> None:
        self.profile = get_profile(model)
        self.observe_context = dict(context or {})
        self.observe_hooks = _hooks.register_owner_hooks(self, hooks)
        self.budget = budget
        self.model = self.profile.api_id
        self._protocol = protocol
        _check_options(base_url=base_url, timeout=timeout, default_params=default_params,
                       pool_maxsize=pool_maxsize, headers=headers)
        policy = _retry_policy(max_retries, retry)
        key = check_api_key(api_key) if api_key is not None else (
            check_api_key(os.environ.get(self.api_key_env), name=self.api_key_env) if self.api_key_env else None)
        self._key_id = hashlib.sha256((key or "").encode()).hexdigest()[:8]
        self._has_key = bool(key)
        self.headers = dict(headers or {})
        if transport is not None:
            self.transport = transport
            self.base_url = str(getattr(transport, "base_url", base_url or "")).rstrip("/")
        else:
            env_url = os.environ.get(self.base_url_env) if self.base_url_env else None
            self.base_url = (base_url or env_url or self.default_base_url).rstrip("/")
            kw: dict[str, Any] = dict(self._transport_options())
            if clock is not None:
                kw["clock"] = clock
            if sleep is not None:
                kw["sleep"] = sleep
            kw.update({k: v for k, v in {"proxies": proxies, "verify": verify, "ca_bundle": ca_bundle}.items()
                       if v is not None})
            self.transport = Transport(self.base_url, key, headers={**self._default_headers(), **self.headers},
                                       timeout=Timeout.coerce(timeout), retry=policy, pool_maxsize=pool_maxsize,
                                       **kw)
        self.default_params = dict(default_params or {})
        self._config: dict[str, Any] = {
            "model": self.profile.key if get_profile(self.profile.key) is self.profile else self.model,
            "base_url": self.base_url, "max_retries": policy.max_retries, "retry": dataclasses.asdict(policy),
            "pool_maxsize": pool_maxsize, "default_params": self.default_params,
            "headers": {k: v for k, v in self.headers.items() if not _credential_header(k)},
            "timeout": dataclasses.asdict(Timeout.coerce(timeout))}
        self._config.update({k: v for k, v in {"verify": verify, "ca_bundle": ca_bundle}.items() if v is not None})
        self.cache = _build_cache(cache, embed_fn, self._config)
        self._owns_cache = self.cache is not None and self.cache is not cache  # a given ResponseCache is shared
        self.limiter = self._build_limiter(rate_limit)
        retry_observers = getattr(self.transport, "retry_observers", None)
        if retry_observers is not None and _hooks.note_retry not in retry_observers:
            retry_observers.append(_hooks.note_retry)

    # -- hooks for subclasses --------------------------------------------------------------
    def _transport_options(self) -> dict[str, Any]:
        """Extra Transport arguments, e.g. ``{"auth_header": "x-api-key", "auth_scheme": None}``."""
        return {}

    def _default_headers(self) -> dict[str, str]:
        """Headers every request of this provider sends (user ``headers=`` win over them)."""
        return {}

    def _check_params(self, params: Mapping[str, Any]) -> None:
        """Reject, before any request, what the model would reject (OpenAI's rules by default)."""
        check_reasoning_params(self.profile, params)

    # -- lifecycle ---------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})"

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool (and the cache backend's connections)."""
        self.transport.close()
        if self.cache is not None and self._owns_cache:
            self.cache.close()

    def to_config(self) -> dict[str, Any]:
        """A JSON-able, picklable configuration without the API key; ``from_config`` rebuilds the
        provider (the key then comes from that process's environment). Headers that carry
        credentials (``Authorization``, ``api-key``, ``*token*``, ...) and proxies are left out too."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> Any:
        return cls(**{**config, **overrides})

    # -- completions -----------------------------------------------------------------------
    def build_body(self, prompt: Any, **params: Any) -> dict[str, Any]:
        """The exact JSON body ``complete`` would send (pure; raises ConfigurationError)."""
        return self._prepare(prompt, params)[0]

    def _prepare(self, prompt: Any, params: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        """(request body, structured-output target or None) for ``prompt`` and ``params``."""
        if "messages" in params:  # the async original's keyword form: complete(messages=[...])
            if prompt is not None:
                raise ConfigurationError("give the prompt positionally or as messages=, not both")
            prompt = params.pop("messages")
        if prompt is None:
            raise ConfigurationError("complete()/stream() need a prompt: a str, a list of message dicts "
                                     "(also as messages=[...]) or a Conversation")
        extra = params.pop("extra_body", None)
        if extra is not None:  # fields the typed keywords do not name, sent as given
            params.update(check_mapping(extra, "extra_body"))
        params = {**self.default_params, **params}
        check_completion_params(params)
        system = params.pop("system", None)
        messages = coerce_messages(prompt, system, self.profile)
        self._check_params(params)
        if "tools" in params:
            params["tools"] = coerce_tools(params["tools"])
        spec, target = response_format_spec(params.pop("response_format", None))
        if spec is not None:
            params["response_format"] = spec
        return self._protocol.build(self.profile, messages, params), target

    @_hooks.observed("chat")
    def complete(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> "CompletionResult":
        """One model call. ``prompt``: a str, a list of message dicts, or a Conversation.

        Params: tools, tool_choice, parallel_tool_calls, temperature, max_completion_tokens,
        reasoning_effort, response_format (dict or dataclass; see ``result.parsed``), seed, stop,
        n, user, metadata, system, and any extra field, passed through as given. ``timeout``
        (seconds or a Timeout) and ``retry`` (a RetryPolicy) replace the provider's for this call.
        """
        cache_response, cache_collection, timeout, retry = _call_options(params)
        body, target = self._prepare(prompt, params)
        key, hit = self._cached_completion(body, cache_response, cache_collection)
        if hit is not None:
            return _with_parsed(hit, target)
        reservation = self._acquire(body)
        try:
            resp = self.transport.request("POST", self._protocol.path(self.model, False), json=body,
                                          **_per_call(timeout, retry), **self._retry_charge(reservation))
            label = getattr(self._protocol, "label", None) or f"{self._protocol.name} response"
            data = decode_json(resp.content, label, resp.request_id)
            result = self._stamp(self._protocol.parse(data, self.profile, resp.request_id))
        except BaseException:
            self._settle(reservation, None)
            raise
        self._settle(reservation, result.usage)
        if key is not None:
            self.cache.put(key, result.to_dict(), cache_collection, body)
        return _with_parsed(result, target)

    @_hooks.observed("chat")
    def stream(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> Stream:
        """Like ``complete`` but returns a Stream of StreamEvents (iterate it, or ``.result()``)."""
        cache_response, cache_collection, timeout, retry = _call_options(params)
        body, target = self._prepare(prompt, params)
        key, hit = self._cached_completion(body, cache_response, cache_collection)
        if hit is not None:
            return Stream(None, None, events=replay_events(_with_parsed(hit, target)))  # type: ignore[arg-type]
        wire = self._protocol.stream_body(body)
        path = self._protocol.path(self.model, True)
        reservation = self._acquire(body)
        settled: list[bool] = []
        per_call = _per_call(timeout, retry)

        def on_done(result: "CompletionResult") -> None:
            settled.append(True)
            self._settle(reservation, result.usage)
            if key is not None:
                self.cache.put(key, result.to_dict(), cache_collection, body)

        def on_fail() -> None:
            if not settled:
                settled.append(True)
                self._settle(reservation, None)

        charge = self._retry_charge(reservation)
        opened: list[bool] = []

        def open_() -> Any:
            if opened and charge:
                charge["before_retry"]()  # a re-opened stream is a new request to the API
            opened.append(True)
            return self.transport.open_stream(path, json=wire, **per_call, **charge)

        try:
            stream = Stream(open_,
                            lambda rid: self._protocol.accumulator(self.profile, rid),
                            max_reopen=(retry or self.transport.retry).max_retries, on_done=on_done, on_fail=on_fail,
                            finalize=lambda r: _with_parsed(self._stamp(r), target),
                            parse_body=lambda data, rid: self._protocol.parse(data, self.profile, rid))
        except BaseException:
            on_fail()
            raise
        return stream

    def embed(self, texts: str | Iterable[str], dimensions: int | None = None, **kw: Any) -> "EmbeddingResult":
        raise ConfigurationError(f"{type(self).__name__} has no embeddings API; use a provider that has one "
                                 "(OpenAIProvider) for embed()")

    def request(self, method: str, path: str, **kw: Any) -> Any:
        """An authenticated call to any endpoint with the same retries and error translation;
        returns a TransportResponse (``.json()``, ``.content``). Its body cap is
        ``FILE_BODY_BYTES`` (2 GiB: Batch API result files exceed the 64 MiB of API answers)."""
        from ..transport import FILE_BODY_BYTES, body_limit

        with body_limit(FILE_BODY_BYTES):
            return self.transport.request(method, path, **kw)

    def _stamp(self, result: "CompletionResult") -> "CompletionResult":
        return result if result.provider == self.name else dataclasses.replace(result, provider=self.name)

    def _cached_completion(self, body: dict[str, Any], cache_response: bool | None,
                           collection: str) -> tuple[str | None, "CompletionResult | None"]:
        """(cache key or None when not caching, the cached result or None)."""
        if self.cache is None or cache_response is False:
            return None, None
        from ..types import CompletionResult

        key = self.cache.key(self.base_url + self._protocol.path(self.model, False), body)
        return key, self._cache_lookup(key, collection, body, CompletionResult.from_dict)

    def _cache_lookup(self, key: str, collection: str, body: Mapping[str, Any], from_dict: Any) -> Any:
        """The cached result under ``key`` (``from_dict(entry, cached=True)``) or None; an entry
        of another shape is a miss (and gets overwritten)."""
        entry = self.cache.get(key, collection, body)
        found = None
        if entry is not None:
            try:
                found = from_dict(entry, cached=True)
            except (KeyError, TypeError, ValueError):
                pass
        if _hooks.active:
            _hooks.emit(_hooks.EventType.CACHE_MISS if found is None else _hooks.EventType.CACHE_HIT)
        return found

    # -- rate limiting ---------------------------------------------------------------------
    def _build_limiter(self, rate_limit: Any) -> Any:
        if rate_limit is None or rate_limit is False:
            return None
        from ..ratelimit import RateLimit, build_limiter

        if isinstance(rate_limit, Mapping):
            try:
                rate_limit = RateLimit(**rate_limit)
            except TypeError as exc:
                raise ConfigurationError(f"rate_limit: {exc}; a RateLimit takes rpm, tpm, burst_requests, "
                                         "burst_tokens, timeout, learn") from exc
        limiter = build_limiter(rate_limit, self.profile, self._key_id)
        if limiter is not None:
            observers = getattr(self.transport, "observers", None)
            if observers is not None:
                observers.append(limiter.observe)
            if isinstance(rate_limit, RateLimit):
                self._config["rate_limit"] = dataclasses.asdict(rate_limit)
            elif isinstance(rate_limit, str):
                self._config["rate_limit"] = rate_limit
        return limiter

    def _acquire(self, body: Mapping[str, Any], profile: ModelProfile | None = None) -> Any:
        """(limiter reservation, budget hold): budgets first, so a refused call waits for nothing."""
        hold = _budget.reserve(body, profile or self.profile, self.budget)
        if self.limiter is None:
            return None, hold
        from ..ratelimit import request_cost

        try:
            start = time.monotonic()
            reservation = self.limiter.acquire(request_cost(body, profile or self.profile))
        except BaseException:
            _budget.settle(hold, None)
            raise
        if _hooks.active:
            _hooks.emit(_hooks.EventType.LIMITER_WAIT, duration=time.monotonic() - start)
        return reservation, hold

    def _retry_charge(self, reservation: Any) -> dict[str, Any]:
        """The transport's before-retry hook (as keyword arguments): a re-sent request is charged
        to the limiter like the first one, since the API counts it too."""
        held = reservation[0]  # (limiter reservation, budget hold) from _acquire
        charge = getattr(self.limiter, "charge_retry", None)
        if held is None or charge is None:
            return {}
        return {"before_retry": lambda: charge(held)}

    def _settle(self, reservation: Any, usage: "Usage | None") -> None:
        reservation, hold = reservation
        if hold is not None:
            _budget.settle(hold, usage)
        if reservation is not None and self.limiter is not None:
            self.limiter.settle(reservation, usage.total_tokens if usage is not None else 0)


_CREDENTIAL_WORDS = ("authorization", "api-key", "api_key", "apikey", "token", "secret", "cookie", "password")


def _credential_header(name: str) -> bool:
    lname = name.lower()
    return any(w in lname for w in _CREDENTIAL_WORDS)


def _call_options(params: Any) -> tuple[bool | None, str, Any, RetryPolicy | None]:
    """Pop the per-call options (not request fields) from ``params``."""
    return (params.pop("cache_response", None), params.pop("cache_collection", "default"),
            params.pop("timeout", None), params.pop("retry", None))


def _per_call(timeout: Any, retry: RetryPolicy | None) -> dict[str, Any]:
    """Transport keyword arguments for a per-call timeout and retry policy (none when not given)."""
    kw: dict[str, Any] = {}
    if timeout is not None:
        kw["timeout"] = Timeout.coerce(timeout)
    if retry is not None:
        kw["retry"] = retry
    return kw


def _check_options(*, base_url: Any, timeout: Any, default_params: Any, pool_maxsize: Any, headers: Any) -> None:
    """The constructor arguments every provider shares: types and ranges, before anything is built."""
    check_str(base_url, "base_url", allow_none=True)
    check_int(pool_maxsize, "pool_maxsize")
    check_mapping(default_params, "default_params")
    check_headers(headers)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        check_number(timeout, "timeout")


def _retry_policy(max_retries: int | None, retry: Any) -> RetryPolicy:
    if max_retries is not None and (isinstance(max_retries, bool) or not isinstance(max_retries, int)
                                    or max_retries < 0):
        raise ConfigurationError("max_retries must be a non-negative integer")
    if retry is None:
        return RetryPolicy(max_retries=2 if max_retries is None else max_retries)
    if isinstance(retry, Mapping):
        retry = RetryPolicy(**retry)
    if not isinstance(retry, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy or its dict, got {type(retry).__name__}")
    if max_retries is not None and max_retries != retry.max_retries:
        raise ConfigurationError(f"max_retries={max_retries} disagrees with retry=RetryPolicy(max_retries="
                                 f"{retry.max_retries}); pass one of them")
    return retry


def _build_cache(cache: Any, embed_fn: Any, config: dict[str, Any]) -> Any:
    """The provider's ResponseCache (or None) from ``cache=`` (see BaseProvider)."""
    if cache is None or cache is False:
        return None
    from ..cache import ResponseCache, build_cache

    if isinstance(cache, ResponseCache):
        return cache
    if isinstance(cache, Mapping):
        options = dict(cache)
        backend = options.pop("backend", None)
        if backend is None:
            raise ConfigurationError("cache={...} needs a 'backend' entry ('fs', 'pg_redis', 'qdrant')")
    else:
        backend, options = cache, {}
    built = build_cache(backend, options=options, embed_fn=embed_fn)
    if isinstance(backend, str):
        config["cache"] = {"backend": backend, **{k: v for k, v in options.items()
                                                   if k not in ("qdrant_api_key", "signing_key", "pg_dsn",
                                                                "redis_url")}}
    return built


def _with_parsed(result: "CompletionResult", target: Any) -> "CompletionResult":
    return with_parsed(result, target)
