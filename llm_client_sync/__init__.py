"""llm_client_sync: a synchronous, dependency-light client for the OpenAI REST API.

    >>> from llm_client_sync import OpenAIProvider
    >>> OpenAIProvider(model="gpt-5-nano").complete("Hi").content  # doctest: +SKIP

Importing loads ``.env`` (never overriding set variables; ``LLM_CLIENT_SYNC_NO_DOTENV=1``
disables it), makes no network call and imports no optional dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._env import load_env as _load_env

_load_env()

from .errors import (  # noqa: E402,F401
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    CacheError,
    ConfigurationError,
    ConflictError,
    ContextWindowExceededError,
    InternalServerError,
    LLMClientError,
    MaxTurnsExceededError,
    MissingDependencyError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitTimeoutError,
    RateLimiterUnavailableError,
    RequestCancelledError,
    ResponseTooLargeError,
    StreamError,
    StructuredOutputError,
    TLSVerificationError,
    ToolError,
    UnprocessableEntityError,
)
from .models import (  # noqa: E402,F401
    GPT5,
    GPT51,
    GPT52,
    GPT5Mini,
    GPT5Nano,
    ModelProfile,
    TextEmbedding3Large,
    TextEmbedding3Small,
    get_profile,
    list_profiles,
    register_profile,
)
from .providers._stream import Stream  # noqa: E402,F401
from .providers.openai import OpenAIProvider  # noqa: E402,F401
from .transport import RetryPolicy, Timeout  # noqa: E402,F401
from .types import (  # noqa: E402,F401
    Choice,
    CompletionResult,
    EmbeddingResult,
    Message,
    StreamEvent,
    StreamEventType,
    ToolCall,
    Usage,
)

# everything else loads on first use (PEP 562), so `import llm_client_sync` stays light
_LAZY = {
    "Agent": ".agent",
    "AgentConfig": ".agent",
    "AgentResult": ".agent",
    "AgentStatus": ".agent",
    "AgentStream": ".agent",
    "AnthropicProvider": ".providers.anthropic",
    "AsyncAgent": ".aio",
    "AsyncOpenAIProvider": ".aio",
    "AsyncStream": ".aio",
    "BaseProvider": ".providers.base",
    "BatchAPIRunner": ".batch",
    "BatchResult": ".batch",
    "BatchRunner": ".batch",
    "BatchStats": ".batch",
    "Budget": ".observe.budget",
    "BufferingAdapter": ".streaming",
    "CacheBackend": ".cache",
    "CacheWarning": ".cache",
    "CallbackAdapter": ".streaming",
    "CircuitBreaker": ".providers.fallback",
    "Conversation": ".conversation",
    "FallbackProvider": ".providers.fallback",
    "FileCache": ".cache",
    "GeminiProvider": ".providers.gemini",
    "Ledger": ".observe.ledger",
    "OpenAIClient": ".client",
    "PgRedisCache": ".cache",
    "Provider": ".providers.base",
    "PusherAdapter": ".streaming",
    "QdrantCache": ".cache",
    "RateLimit": ".ratelimit",
    "RateLimiter": ".ratelimit",
    "RedisRateLimiter": ".ratelimit",
    "Reservation": ".ratelimit",
    "ResponseCache": ".cache",
    "SSEAdapter": ".streaming",
    "TextStream": ".client",
    "Tool": ".tools",
    "ToolRegistry": ".tools",
    "ToolResult": ".tools",
    "TokenizerFallbackWarning": ".tokens",
    "WebSocketAdapter": ".streaming",
    "build_cache": ".cache",
    "cache_key": ".cache",
    "collect_stream": ".streaming",
    "configure_tokenizer": ".tokens",
    "count_messages": ".tokens",
    "count_tokens": ".tokens",
    "django_response": ".streaming",
    "flask_response": ".streaming",
    "instrument": ".observe.otel",
    "is_exact": ".tokens",
    "read_results": ".batch",
    "sync_tool": ".tools",
    "tool": ".tools",
    "uninstrument": ".observe.otel",
    "write_results": ".batch",
}


if TYPE_CHECKING:  # the lazily loaded names, typed as if imported eagerly (no import-time cost)
    from .agent import (
        Agent as Agent,
        AgentConfig as AgentConfig,
        AgentResult as AgentResult,
        AgentStatus as AgentStatus,
        AgentStream as AgentStream,
    )
    from .aio import (
        AsyncAgent as AsyncAgent,
        AsyncOpenAIProvider as AsyncOpenAIProvider,
        AsyncStream as AsyncStream,
    )
    from .batch import (
        BatchAPIRunner as BatchAPIRunner,
        BatchResult as BatchResult,
        BatchRunner as BatchRunner,
        BatchStats as BatchStats,
        read_results as read_results,
        write_results as write_results,
    )
    from .cache import (
        CacheBackend as CacheBackend,
        CacheWarning as CacheWarning,
        FileCache as FileCache,
        PgRedisCache as PgRedisCache,
        QdrantCache as QdrantCache,
        ResponseCache as ResponseCache,
        build_cache as build_cache,
        cache_key as cache_key,
    )
    from .client import OpenAIClient as OpenAIClient, TextStream as TextStream
    from .conversation import Conversation as Conversation
    from .observe.budget import Budget as Budget
    from .observe.ledger import Ledger as Ledger
    from .observe.otel import instrument as instrument, uninstrument as uninstrument
    from .providers.anthropic import AnthropicProvider as AnthropicProvider
    from .providers.base import BaseProvider as BaseProvider, Provider as Provider
    from .providers.fallback import CircuitBreaker as CircuitBreaker, FallbackProvider as FallbackProvider
    from .providers.gemini import GeminiProvider as GeminiProvider
    from .ratelimit import (
        RateLimit as RateLimit,
        RateLimiter as RateLimiter,
        RedisRateLimiter as RedisRateLimiter,
        Reservation as Reservation,
    )
    from .streaming import (
        BufferingAdapter as BufferingAdapter,
        CallbackAdapter as CallbackAdapter,
        PusherAdapter as PusherAdapter,
        SSEAdapter as SSEAdapter,
        WebSocketAdapter as WebSocketAdapter,
        collect_stream as collect_stream,
        django_response as django_response,
        flask_response as flask_response,
    )
    from .tokens import (
        TokenizerFallbackWarning as TokenizerFallbackWarning,
        configure_tokenizer as configure_tokenizer,
        count_messages as count_messages,
        count_tokens as count_tokens,
        is_exact as is_exact,
    )
    from .tools import (
        Tool as Tool,
        ToolRegistry as ToolRegistry,
        ToolResult as ToolResult,
        sync_tool as sync_tool,
        tool as tool,
    )


if not TYPE_CHECKING:  # hidden from type checkers, so a misspelled import is an error there

    def __getattr__(name: str):
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'llm_client_sync' has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


from ._version import __version__  # noqa: E402

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "AgentConfig",
    "AgentResult",
    "AgentStatus",
    "AgentStream",
    "AnthropicProvider",
    "AsyncAgent",
    "AsyncOpenAIProvider",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BaseProvider",
    "BatchAPIRunner",
    "BatchResult",
    "BatchRunner",
    "BatchStats",
    "Budget",
    "BudgetExceededError",
    "BufferingAdapter",
    "CacheBackend",
    "CacheError",
    "CacheWarning",
    "CallbackAdapter",
    "Choice",
    "CircuitBreaker",
    "CompletionResult",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "Conversation",
    "EmbeddingResult",
    "FallbackProvider",
    "FileCache",
    "GPT5",
    "GPT51",
    "GPT52",
    "GPT5Mini",
    "GPT5Nano",
    "GeminiProvider",
    "InternalServerError",
    "LLMClientError",
    "Ledger",
    "MaxTurnsExceededError",
    "Message",
    "MissingDependencyError",
    "ModelProfile",
    "NotFoundError",
    "OpenAIClient",
    "OpenAIProvider",
    "PermissionDeniedError",
    "PgRedisCache",
    "Provider",
    "PusherAdapter",
    "QdrantCache",
    "RateLimit",
    "RateLimitError",
    "RateLimitTimeoutError",
    "RateLimiter",
    "RateLimiterUnavailableError",
    "RedisRateLimiter",
    "RequestCancelledError",
    "Reservation",
    "ResponseCache",
    "ResponseTooLargeError",
    "RetryPolicy",
    "SSEAdapter",
    "Stream",
    "StreamError",
    "StreamEvent",
    "StreamEventType",
    "StructuredOutputError",
    "TLSVerificationError",
    "TextEmbedding3Large",
    "TextEmbedding3Small",
    "TextStream",
    "Timeout",
    "TokenizerFallbackWarning",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "UnprocessableEntityError",
    "Usage",
    "WebSocketAdapter",
    "build_cache",
    "cache_key",
    "collect_stream",
    "configure_tokenizer",
    "count_messages",
    "count_tokens",
    "django_response",
    "flask_response",
    "get_profile",
    "instrument",
    "is_exact",
    "list_profiles",
    "register_profile",
    "sync_tool",
    "tool",
    "uninstrument",
]
