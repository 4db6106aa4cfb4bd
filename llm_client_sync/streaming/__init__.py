"""Stream adapters: put any iterator of StreamEvents (a provider's or an agent's stream) on a web
page (SSE for Flask and Django), a websocket, a Pusher channel, callbacks or a buffer."""

from .callbacks import BufferingAdapter, CallbackAdapter, EventBuffer, collect_stream
from .pusher import DEFAULT_PUSHER_EVENTS, PusherAdapter, TokenCoalescer
from .sse import SSE_HEADERS, SSEAdapter, django_response, flask_response, format_sse
from .websocket import WebSocketAdapter

__all__ = [
    "BufferingAdapter",
    "CallbackAdapter",
    "DEFAULT_PUSHER_EVENTS",
    "EventBuffer",
    "PusherAdapter",
    "SSEAdapter",
    "SSE_HEADERS",
    "TokenCoalescer",
    "WebSocketAdapter",
    "collect_stream",
    "django_response",
    "flask_response",
    "format_sse",
]
