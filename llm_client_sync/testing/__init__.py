"""A local OpenAI-compatible (and Anthropic / Gemini) HTTP server for tests, demos and benchmarks (real sockets, loopback).

Nothing in the library imports this package. Extensions add endpoints with
``register_default_route`` (every new server) or ``server.route`` (one server).
"""

from . import _batches as _batches  # noqa: F401  (registers /v1/files and /v1/batches)
from . import _responses as _responses  # noqa: F401  (registers /v1/responses)
from ._anthropic import MockAnthropicServer
from ._gemini import MockGeminiServer
from ._openai import MockOpenAIServer, default_reply, fake_embedding, fill_schema, pick_tool_calls, special_reply
from ._replies import ErrorReply, RawReply, Reply, StreamShape, TextReply, ToolCallReply
from ._server import (
    BytesResponse,
    JSONResponse,
    RecordedRequest,
    Request,
    SSEResponse,
    ServerCore,
    StreamRecord,
    error_response,
    register_default_route,
)

__all__ = [
    "BytesResponse",
    "ErrorReply",
    "JSONResponse",
    "MockAnthropicServer",
    "MockGeminiServer",
    "MockOpenAIServer",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "Request",
    "SSEResponse",
    "ServerCore",
    "StreamRecord",
    "StreamShape",
    "TextReply",
    "ToolCallReply",
    "default_reply",
    "error_response",
    "fake_embedding",
    "fill_schema",
    "pick_tool_calls",
    "register_default_route",
    "special_reply",
]
