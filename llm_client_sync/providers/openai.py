"""OpenAIProvider: complete, stream and embed over the OpenAI REST API (or any compatible server).

Flow: build the body (pure) -> cache -> rate limiter -> transport -> parse (pure) -> settle/cache.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .._checks import check_int, check_str, check_texts
from ..errors import ConfigurationError
from ..models import ModelProfile, get_profile
from ..observe import hooks as _hooks
from ..transport import RetryPolicy, Timeout
from ..types import EmbeddingResult, Usage
from ._body import decode_json, parse_embeddings
from ._chat import ChatProtocol
from .base import BaseProvider

if TYPE_CHECKING:
    from ..observe.budget import Budget
    from ..observe.hooks import Subscriber
    from ..transport import Transport
    from .base import CacheSpec, RateLimitSpec

__all__ = ["OpenAIProvider"]

_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_EMBED_MAX_INPUTS = 2048
_EMBED_MAX_CHARS = 300_000 * 3  # ~300k tokens per request, estimated at 3 chars a token


def _protocol(api: str) -> Any:
    if api == "chat":
        return ChatProtocol()
    if api == "responses":
        from ._responses import ResponsesProtocol

        return ResponsesProtocol()
    raise ConfigurationError(f"api must be 'chat' or 'responses', got {api!r}")


class OpenAIProvider(BaseProvider):
    """A synchronous client for one model over the OpenAI REST API (or any compatible server).

    Thread-safe: one provider may be shared by many threads (64 and more); it holds one
    connection pool sized by ``pool_maxsize``. Streams it returns belong to one thread each.

    Args:
        model: a name (``"gpt-5-nano"``, any name an OpenAI-compatible server knows) or a ModelProfile.
        api_key: defaults to ``OPENAI_API_KEY``; never logged or shown in reprs.
        base_url: defaults to ``OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        timeout: seconds or a Timeout(connect, read, stream_idle, total).
        max_retries: retries of connection errors, 408/409/429/5xx (never 400/401/403/404/422);
            or ``retry=RetryPolicy(...)`` (both, disagreeing, is a ConfigurationError).
        api: ``"chat"`` (Chat Completions, default) or ``"responses"``.
        cache: None, ``"fs"``, ``"pg_redis"``, ``"qdrant"``, a CacheBackend or ResponseCache
            instance, or a mapping ``{"backend": "fs", "cache_dir": ...}``. The flat spellings
            ``cache_backend=``, ``cache_dir=``, ``pg_dsn=``, ``redis_url=``, ``qdrant_url=``...
            are accepted too.
        rate_limit: None, a RateLimit, a shared RateLimiter, or ``"default"`` (profile limits).
        transport: a ready Transport (a test may hand in an in-memory one).

        >>> OpenAIProvider(model="gpt-5-nano").complete("Hi").content  # doctest: +SKIP
    """

    name = "openai"
    api_key_env = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url = _DEFAULT_BASE_URL

    def __init__(self, model: str | ModelProfile = "gpt-5-nano", api_key: str | None = None,
                 base_url: str | None = None, organization: str | None = None, project: str | None = None,
                 timeout: Timeout | float | None = None, max_retries: int | None = None, *, api: str = "chat",
                 default_params: "Mapping[str, object] | None" = None, pool_maxsize: int = 100,
                 embedding_model: str | ModelProfile | None = None, headers: Mapping[str, str] | None = None,
                 retry: "RetryPolicy | Mapping[str, object] | None" = None, transport: "Transport | None" = None,
                 cache: "CacheSpec" = None, cache_backend: "CacheSpec" = None, cache_dir: str | None = None,
                 pg_dsn: str | None = None,
                 redis_url: str | None = None, qdrant_url: str | None = None, qdrant_api_key: str | None = None,
                 qdrant_path: str | None = None, cache_ttl: float | None = None,
                 cache_namespace: str | None = None, cache_timeout: float | None = None,
                 cache_options: "Mapping[str, object] | None" = None, rate_limit: "RateLimitSpec" = None,
                 clock: "Callable[[], float] | None" = None, sleep: "Callable[[float], None] | None" = None, proxies: Mapping[str, str] | None = None,
                 verify: bool | None = None, ca_bundle: str | None = None,
                 context: "Mapping[str, object] | None" = None, hooks: "Iterable[Subscriber] | None" = None,
                 budget: "Budget | None" = None) -> None:
        self.api = api
        check_str(organization, "organization", allow_none=True)
        check_str(project, "project", allow_none=True)
        if embedding_model is not None and not isinstance(embedding_model, (str, ModelProfile)):
            raise ConfigurationError(f"embedding_model must be a model name or a ModelProfile, got "
                                     f"{type(embedding_model).__name__}")
        flat = {k: v for k, v in {"cache_dir": cache_dir, "pg_dsn": pg_dsn, "redis_url": redis_url,
                                  "qdrant_url": qdrant_url, "qdrant_api_key": qdrant_api_key,
                                  "qdrant_path": qdrant_path, "cache_ttl": cache_ttl,
                                  "cache_namespace": cache_namespace, "cache_timeout": cache_timeout}.items()
                if v is not None}
        flat.update(cache_options or {})
        if cache_backend is not None:
            if cache is not None:
                raise ConfigurationError("pass cache= or cache_backend=, not both")
            cache = cache_backend
        if flat and cache is not None:  # the flat spellings refine the value (cache_dir alone stays off)
            cache = {**flat, **cache} if isinstance(cache, Mapping) else {"backend": cache, **flat}
        self._organization = organization or os.environ.get("OPENAI_ORG_ID")
        self._project = project or os.environ.get("OPENAI_PROJECT_ID")
        self._embedding_model = embedding_model
        super().__init__(model, protocol=_protocol(api), api_key=api_key, base_url=base_url, timeout=timeout,
                         max_retries=max_retries, retry=retry, headers=headers, default_params=default_params,
                         pool_maxsize=pool_maxsize, transport=transport, cache=cache, rate_limit=rate_limit,
                         embed_fn=self._embed_one, clock=clock, sleep=sleep, proxies=proxies, verify=verify,
                         ca_bundle=ca_bundle, context=context, hooks=hooks, budget=budget)
        emb = embedding_model
        if isinstance(emb, ModelProfile):
            emb = emb.key if get_profile(emb.key) is emb else emb.api_id
        self._config.update(organization=organization, project=project, api=api, embedding_model=emb)

    def _default_headers(self) -> dict[str, str]:
        extra = {}
        if self._organization:
            extra["OpenAI-Organization"] = self._organization
        if self._project:
            extra["OpenAI-Project"] = self._project
        return extra

    def __repr__(self) -> str:
        return f"OpenAIProvider(model={self.model!r}, base_url={self.base_url!r}, api={self.api!r})"

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
        items = check_texts(texts)
        check_int(dimensions, "dimensions", allow_none=True)
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
            hit = self._cache_lookup(key, collection, body, EmbeddingResult.from_dict)
            if hit is not None:
                return hit
        reservation = self._acquire(body, profile)
        try:
            resp = self.transport.request("POST", "/embeddings", json=body, **self._retry_charge(reservation))
            data = decode_json(resp.content, "embeddings response", resp.request_id)
            result = EmbeddingResult(*parse_embeddings(data, len(body["input"]), resp.request_id))
        except BaseException:
            self._settle(reservation, None)
            raise
        self._settle(reservation, result.usage)
        if use_cache and key is not None:
            self.cache.put(key, result.to_dict(), collection, body)
        return result

    def _embed_one(self, text: str) -> list[float]:
        return list(self.embed(text, cache_response=False).vectors[0])


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

