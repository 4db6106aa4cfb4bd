"""llm_client_sync: a synchronous, dependency-light client for the OpenAI REST API.

    >>> from llm_client_sync import OpenAIProvider
    >>> OpenAIProvider(model="gpt-5-nano").complete("Hi").content  # doctest: +SKIP

Importing loads ``.env`` (never overriding set variables; ``LLM_CLIENT_SYNC_NO_DOTENV=1``
disables it), makes no network call and imports no optional dependency.
"""

from __future__ import annotations

from ._env import load_env as _load_env

_load_env()

from .aio import AsyncAgent, AsyncOpenAIProvider, AsyncStream  # noqa: E402
from .agent import Agent, AgentConfig, AgentResult, AgentStatus, AgentStream  # noqa: E402
from .batch import BatchResult, BatchRunner, BatchStats, read_results, write_results  # noqa: E402
from .cache import CacheBackend, FileCache, PgRedisCache, QdrantCache, ResponseCache, build_cache, cache_key  # noqa: E402
from .client import OpenAIClient, TextStream  # noqa: E402
from .conversation import Conversation  # noqa: E402
from .errors import (  # noqa: E402
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CacheError,
    ConfigurationError,
    ConflictError,
    ContextWindowExceededError,
    InternalServerError,
    LLMClientError,
    MaxTurnsExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimitTimeoutError,
    StreamError,
    ToolError,
    UnprocessableEntityError,
)
from .models import (  # noqa: E402
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
from .providers._stream import Stream  # noqa: E402
from .providers.openai import OpenAIProvider  # noqa: E402
from .rate_limit import RateLimit, RateLimiter, Reservation  # noqa: E402
from .rate_limit_redis import RedisRateLimiter  # noqa: E402
from .streaming import (  # noqa: E402
    BufferingAdapter,
    CallbackAdapter,
    PusherAdapter,
    SSEAdapter,
    WebSocketAdapter,
    collect_stream,
    django_response,
    flask_response,
)
from .tokens import configure_tokenizer, count_messages, count_tokens, is_exact  # noqa: E402
from .tools import Tool, ToolRegistry, ToolResult, sync_tool, tool  # noqa: E402
from .transport import RetryPolicy, Timeout  # noqa: E402
from .types import (  # noqa: E402
    Choice,
    CompletionResult,
    EmbeddingResult,
    StreamEvent,
    StreamEventType,
    ToolCall,
    Usage,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Agent",
    "AgentConfig",
    "AgentResult",
    "AgentStatus",
    "AgentStream",
    "AsyncAgent",
    "AsyncOpenAIProvider",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "BatchResult",
    "BatchRunner",
    "BatchStats",
    "BufferingAdapter",
    "CacheBackend",
    "CacheError",
    "CallbackAdapter",
    "Choice",
    "CompletionResult",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "Conversation",
    "EmbeddingResult",
    "FileCache",
    "GPT5",
    "GPT51",
    "GPT52",
    "GPT5Mini",
    "GPT5Nano",
    "InternalServerError",
    "LLMClientError",
    "MaxTurnsExceededError",
    "ModelProfile",
    "NotFoundError",
    "OpenAIClient",
    "OpenAIProvider",
    "PermissionDeniedError",
    "PgRedisCache",
    "PusherAdapter",
    "QdrantCache",
    "RateLimit",
    "RateLimitError",
    "RateLimitTimeoutError",
    "RateLimiter",
    "RedisRateLimiter",
    "Reservation",
    "ResponseCache",
    "RetryPolicy",
    "SSEAdapter",
    "Stream",
    "StreamError",
    "StreamEvent",
    "StreamEventType",
    "TextEmbedding3Large",
    "TextEmbedding3Small",
    "TextStream",
    "Timeout",
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
    "is_exact",
    "list_profiles",
    "register_profile",
    "sync_tool",
    "tool",
]
