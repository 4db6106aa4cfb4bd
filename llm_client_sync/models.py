"""Model profiles: one data table of what each model accepts and costs, plus a registry.

Unknown model names resolve to a generic profile (see ``DEFAULT_PROFILE``) so any
OpenAI-compatible server works; ``register_profile`` adds or replaces one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from typing import Any, Iterable

__all__ = [
    "ClaudeHaiku45",
    "ClaudeHaiku55",
    "ClaudeOpus55",
    "ClaudeSonnet45",
    "ClaudeSonnet55",
    "DEFAULT_PROFILE",
    "GPT5",
    "GPT51",
    "GPT52",
    "GPT5Mini",
    "GPT5Nano",
    "Gemini25Flash",
    "Gemini25Pro",
    "Gemini3Pro",
    "GeminiEmbedding001",
    "ModelProfile",
    "PRICES_AS_OF",
    "TextEmbedding3Large",
    "TextEmbedding3Small",
    "get_profile",
    "list_profiles",
    "register_profile",
]


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What the library knows about one model.

    Prices are USD per 1M tokens as of ``prices_as_of`` (else ``PRICES_AS_OF``; None: unknown,
    cost is then None); ``batch_discount`` is the fraction of the price a Batch API call pays.
    Override them with ``llm_client_sync.observe.prices.set_prices`` / ``load_prices``. ``reasoning_efforts`` is
    empty for models that take no ``reasoning_effort``. ``default_rpm``/``default_tpm`` are the
    rate limits used when the user gives none (OpenAI's usage tier 1).
    """

    key: str
    api_id: str
    category: str  # "chat" | "embedding"
    context_window: int
    max_output_tokens: int
    input_price: float | None
    cached_input_price: float | None
    output_price: float | None
    encoding: str = "o200k_base"
    reasoning: bool = False
    reasoning_efforts: tuple[str, ...] = ()
    default_rpm: int = 500
    default_tpm: int = 200_000
    embedding_dimensions: int | None = None
    cache_write_price: float | None = None  # prompt-cache writes (Anthropic: 5-minute TTL); None: input price
    prices_as_of: str | None = None  # the date the prices were read from the vendor's pricing page
    batch_discount: float = 0.5  # the fraction of the price a Batch API call pays

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
             cache_write_tokens: int = 0, *, batch: bool = False) -> float | None:
        """USD cost of one call; the one place cost is computed.

        ``prompt_tokens`` includes cache reads (``cached_tokens``) and cache writes
        (``cache_write_tokens``); each part is billed at its own price. Reasoning tokens are part
        of ``completion_tokens``. ``batch=True`` applies ``batch_discount`` (Batch API).
        """
        if self.input_price is None or self.output_price is None:
            return None
        cached = min(cached_tokens, prompt_tokens)
        written = min(cache_write_tokens, prompt_tokens - cached)
        cached_price = self.cached_input_price if self.cached_input_price is not None else self.input_price
        write_price = self.cache_write_price if self.cache_write_price is not None else self.input_price
        total = (prompt_tokens - cached - written) * self.input_price + cached * cached_price
        total += written * write_price
        total += completion_tokens * self.output_price
        if batch:
            total *= self.batch_discount
        return round(total / 1_000_000, 10)

    def usage_cost(self, usage: Any, *, batch: bool = False) -> float | None:
        """``cost`` of a ``Usage`` (all its token kinds)."""
        return self.cost(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                         usage.cache_write_tokens, batch=batch)


PRICES_AS_OF = "2026-08-21"
"""The date the prices of the profiles without their own ``prices_as_of`` were read (OpenAI's page)."""

_GPT5_EFFORTS = ("minimal", "low", "medium", "high")
_TABLE: tuple[ModelProfile, ...] = (
    # key, api id, category, context, max out, in, cached in, out, encoding, reasoning, efforts
    ModelProfile("gpt-5", "gpt-5", "chat", 400_000, 128_000, 1.25, 0.125, 10.0,
                 reasoning=True, reasoning_efforts=_GPT5_EFFORTS, default_tpm=500_000),
    ModelProfile("gpt-5-mini", "gpt-5-mini", "chat", 400_000, 128_000, 0.25, 0.025, 2.0,
                 reasoning=True, reasoning_efforts=_GPT5_EFFORTS),
    ModelProfile("gpt-5-nano", "gpt-5-nano", "chat", 400_000, 128_000, 0.05, 0.005, 0.40,
                 reasoning=True, reasoning_efforts=_GPT5_EFFORTS),
    ModelProfile("gpt-5.1", "gpt-5.1", "chat", 400_000, 128_000, 1.25, 0.125, 10.0,
                 reasoning=True, reasoning_efforts=("none", "low", "medium", "high"), default_tpm=500_000),
    ModelProfile("gpt-5.2", "gpt-5.2", "chat", 400_000, 128_000, 1.75, 0.175, 14.0,
                 reasoning=True, reasoning_efforts=("none", "low", "medium", "high", "xhigh"),
                 default_tpm=500_000),
    ModelProfile("text-embedding-3-large", "text-embedding-3-large", "embedding", 8_191, 0, 0.13, None, 0.0,
                 encoding="cl100k_base", default_rpm=3_000, default_tpm=1_000_000, embedding_dimensions=3072),
    ModelProfile("text-embedding-3-small", "text-embedding-3-small", "embedding", 8_191, 0, 0.02, None, 0.0,
                 encoding="cl100k_base", default_rpm=3_000, default_tpm=1_000_000, embedding_dimensions=1536),
)


def _claude(key: str, context: int, out: int, price_in: float, cache_read: float, cache_write: float,
            price_out: float, **kw: object) -> ModelProfile:
    return ModelProfile(key, key, "chat", context, out, price_in, cache_read, price_out,
                        cache_write_price=cache_write, prices_as_of=_CLAUDE_PRICES, default_rpm=50,
                        default_tpm=40_000, **kw)  # type: ignore[arg-type]


def _gemini(key: str, context: int, out: int, price_in: float, cache_read: float, price_out: float,
            **kw: object) -> ModelProfile:
    return ModelProfile(key, key, "chat", context, out, price_in, cache_read, price_out,
                        prices_as_of=_GEMINI_PRICES, **{"default_rpm": 150, "default_tpm": 1_000_000, **kw})  # type: ignore[arg-type]


# Anthropic: platform.claude.com pricing (5m cache write, cache hit); Haiku 5.5 at its <=100k-prompt band.
# Gemini: ai.google.dev pricing, paid tier, prompts <=200k tokens (cache read = context-cache hit price).
_CLAUDE_PRICES = "2026-10-24"
# Claude 4.6 and later think adaptively, steered by an effort level (older ones take a token budget)
_ADAPTIVE = ("low", "medium", "high")
_OPUS_EFFORTS = ("low", "medium", "high", "max")
_GEMINI_PRICES = "2026-11-01"
_NATIVE_TABLE: tuple[ModelProfile, ...] = (
    #       key                  context    max out  in     read   write   out
    _claude("claude-opus-5-5", 1_000_000, 128_000, 4.0, 0.20, 5.0, 20.0, reasoning_efforts=_OPUS_EFFORTS),
    _claude("claude-sonnet-5-5", 1_000_000, 128_000, 2.0, 0.10, 2.5, 10.0, reasoning_efforts=_ADAPTIVE),
    _claude("claude-haiku-5-5", 1_000_000, 128_000, 0.10, 0.01, 0.125, 0.50, reasoning_efforts=_ADAPTIVE),
    _claude("claude-opus-5", 1_000_000, 128_000, 5.0, 0.50, 6.25, 25.0, reasoning_efforts=_OPUS_EFFORTS),
    _claude("claude-sonnet-5", 1_000_000, 128_000, 2.0, 0.20, 2.5, 10.0, reasoning_efforts=_ADAPTIVE),
    _claude("claude-opus-4-6", 200_000, 128_000, 5.0, 0.50, 6.25, 25.0, reasoning_efforts=_OPUS_EFFORTS),
    _claude("claude-sonnet-4-5", 200_000, 64_000, 3.0, 0.30, 3.75, 15.0),
    _claude("claude-haiku-4-5", 200_000, 64_000, 1.0, 0.10, 1.25, 5.0),
    #       key                       context    max out  in    read   out
    _gemini("gemini-3-pro-preview", 1_048_576, 65_536, 2.0, 0.20, 12.0),
    _gemini("gemini-3-flash-preview", 1_048_576, 65_536, 0.50, 0.05, 3.0),
    _gemini("gemini-2.5-pro", 1_048_576, 65_536, 1.25, 0.125, 10.0),
    _gemini("gemini-2.5-flash", 1_048_576, 65_536, 0.30, 0.03, 2.50, default_rpm=1_000),
    _gemini("gemini-2.5-flash-lite", 1_048_576, 65_536, 0.10, 0.01, 0.40, default_rpm=4_000),
    ModelProfile("gemini-embedding-001", "gemini-embedding-001", "embedding", 2_048, 0, 0.15, None, 0.0,
                 default_rpm=3_000, default_tpm=1_000_000, embedding_dimensions=3072, prices_as_of=_GEMINI_PRICES),
)
# dated Anthropic snapshot ids resolve to their alias's profile
_SNAPSHOTS = {"claude-sonnet-4-5-20250929": "claude-sonnet-4-5", "claude-haiku-4-5-20251001": "claude-haiku-4-5"}

DEFAULT_PROFILE = ModelProfile(
    key="default", api_id="default", category="chat", context_window=128_000, max_output_tokens=16_384,
    input_price=None, cached_input_price=None, output_price=None, encoding="o200k_base",
)
"""Used for names not in the registry: 128k context, 16k output, o200k_base, no reasoning, no prices."""

_lock = threading.Lock()
_registry: dict[str, ModelProfile] = {p.key: p for p in _TABLE + _NATIVE_TABLE}
_registry.update({snap: replace(_registry[alias], key=snap, api_id=snap) for snap, alias in _SNAPSHOTS.items()})
_DATED = re.compile(r"^(?P<base>.+?)-\d{4}-\d{2}-\d{2}$")

GPT5 = _registry["gpt-5"]
GPT5Mini = _registry["gpt-5-mini"]
GPT5Nano = _registry["gpt-5-nano"]
GPT51 = _registry["gpt-5.1"]
GPT52 = _registry["gpt-5.2"]
TextEmbedding3Large = _registry["text-embedding-3-large"]
TextEmbedding3Small = _registry["text-embedding-3-small"]
ClaudeHaiku45 = _registry["claude-haiku-4-5"]
ClaudeSonnet45 = _registry["claude-sonnet-4-5"]
ClaudeOpus55 = _registry["claude-opus-5-5"]
ClaudeSonnet55 = _registry["claude-sonnet-5-5"]
ClaudeHaiku55 = _registry["claude-haiku-5-5"]
Gemini25Flash = _registry["gemini-2.5-flash"]
Gemini25Pro = _registry["gemini-2.5-pro"]
Gemini3Pro = _registry["gemini-3-pro-preview"]
GeminiEmbedding001 = _registry["gemini-embedding-001"]


def register_profile(profile: ModelProfile) -> ModelProfile:
    """Add or replace a profile (thread-safe); returns it."""
    if not isinstance(profile, ModelProfile):
        raise TypeError("register_profile() takes a ModelProfile")
    with _lock:
        _registry[profile.key] = profile
        if profile.api_id != profile.key:
            _registry.setdefault(profile.api_id, profile)
    return profile


def get_profile(model: "str | ModelProfile") -> ModelProfile:
    """Resolve a model name (key, API id, or dated snapshot like ``gpt-5-nano-2025-08-07``).

    Unknown names get ``DEFAULT_PROFILE`` with their own name as key and API id.
    """
    if isinstance(model, ModelProfile):
        return model
    if not isinstance(model, str) or not model.strip():
        from .errors import ConfigurationError

        raise ConfigurationError(f"model must be a non-empty string or ModelProfile, got {model!r}")
    found = _registry.get(model)
    if found is None:
        m = _DATED.match(model)
        base = _registry.get(m.group("base")) if m else None
        if base is not None:
            return replace(base, api_id=model)
        return replace(DEFAULT_PROFILE, key=model, api_id=model,
                       category="embedding" if "embed" in model else "chat")
    return found


def list_profiles() -> Iterable[ModelProfile]:
    """Registered profiles, sorted by key."""
    with _lock:
        return sorted(_registry.values(), key=lambda p: p.key)
