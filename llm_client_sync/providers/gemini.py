"""GeminiProvider: complete, stream and embed over the Gemini API, with requests through our Transport.

Flow and results are BaseProvider's; the wire format is ``_gemini_wire.GeminiProtocol``.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping

from .._checks import check_int, check_texts
from ..errors import LLMClientError
from ..models import ModelProfile, get_profile
from ..types import EmbeddingResult, Usage
from ._gemini_wire import GeminiProtocol
from ._native import CountCache, count_exact, limiter_view
from .base import BaseProvider

__all__ = ["GeminiProvider"]

_EMBED_BATCH = 100  # batchEmbedContents takes at most 100 requests


class GeminiProvider(BaseProvider):
    """Gemini models over ``models/{model}:generateContent`` (streams: ``?alt=sse``).

    The key comes from ``api_key``, ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` and goes in the
    ``x-goog-api-key`` header, never in the URL; ``GEMINI_BASE_URL`` overrides the endpoint.
    Extra params: ``thinking_budget``, ``reasoning_effort`` (Gemini 3: a thinking level),
    ``thinking_config``, ``include_thoughts``, ``generation_config`` and native fields
    (``safetySettings``, ``cachedContent``) as given. Function calls get stable ids; parts with
    ``thoughtSignature`` travel in ``result.to_message()`` and are sent back unchanged. Thread-safe.

        >>> with GeminiProvider("gemini-2.5-flash") as gemini:  # doctest: +SKIP
        ...     print(gemini.complete("Two names for a pet pelican").content)
    """

    name = "gemini"
    api_key_env = "GEMINI_API_KEY"
    base_url_env = "GEMINI_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def __init__(self, model: str | ModelProfile = "gemini-2.5-flash", *, api_key: str | None = None,
                 embedding_model: str | None = None, **kw: Any) -> None:
        if api_key is None:
            api_key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        super().__init__(model, protocol=GeminiProtocol(), api_key=api_key, **kw)
        self._embedding_model = embedding_model
        self._counts = CountCache()

    def _transport_options(self) -> dict[str, Any]:
        return {"auth_header": "x-goog-api-key", "auth_scheme": None}

    def _check_params(self, params: Mapping[str, Any]) -> None:
        return None  # the protocol's build checks what generateContent rejects

    def _acquire(self, body: Mapping[str, Any], profile: ModelProfile | None = None) -> Any:
        # the limiter estimates chat-shaped bodies: give it this body's text and output limit
        return super()._acquire(limiter_view(body), profile)

    def count_tokens(self, prompt: Any = None, **params: Any) -> int:
        """Prompt tokens of this request from ``:countTokens`` (memoised), or the offline estimate
        when the endpoint cannot answer."""
        body = self.build_body(prompt, **params)
        request = self._protocol.count_body(body, self.model)
        return count_exact(self, self._counts, f"/models/{self._bare(self.model)}:countTokens", request,
                           "totalTokens", prompt, params)

    def embed(self, texts: str | Iterable[str], dimensions: int | None = None, *, model: str | None = None,
              task_type: str | None = None, **kw: Any) -> EmbeddingResult:
        """Embed one text or many (``batchEmbedContents``, 100 per request, order kept).

        ``model``: else ``embedding_model``, else the provider's model when it is an embedding
        model, else ``gemini-embedding-001``. ``dimensions`` sets ``outputDimensionality``;
        ``task_type`` e.g. ``RETRIEVAL_DOCUMENT``. Gemini reports no token usage for embeddings.
        """
        items = check_texts(texts)
        check_int(dimensions, "dimensions", allow_none=True)
        profile = get_profile(model or self._embedding_model or
                              (self.profile if self.profile.category == "embedding" else "gemini-embedding-001"))
        name = f"models/{self._bare(profile.api_id)}"
        vectors: list[list[float]] = []
        for start in range(0, len(items), _EMBED_BATCH):
            requests = []
            for text in items[start:start + _EMBED_BATCH]:
                req: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
                if dimensions is not None:
                    req["outputDimensionality"] = dimensions
                if task_type is not None:
                    req["taskType"] = task_type
                requests.append(req)
            body = {"requests": requests}
            reservation = self._acquire({"contents": [r["content"] for r in requests]}, profile)
            try:
                data = self.transport.request("POST", f"/{name}:batchEmbedContents", json=body).json()
                rows = data.get("embeddings") or []
                if len(rows) != len(requests):
                    raise LLMClientError(f"embeddings: asked for {len(requests)} vectors, got {len(rows)}")
                vectors.extend([float(x) for x in row.get("values") or ()] for row in rows)
            except BaseException:
                self._settle(reservation, None)
                raise
            self._settle(reservation, None)
        return EmbeddingResult(tuple(vectors), Usage(), profile.api_id, None)

    @staticmethod
    def _bare(model: str) -> str:
        return model[len("models/"):] if model.startswith("models/") else model
