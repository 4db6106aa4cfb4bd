"""Providers: the Provider protocol, BaseProvider, the OpenAI REST API (Chat Completions and
Responses), and FallbackProvider chains."""

from .base import BaseProvider, Provider
from .openai import OpenAIProvider

__all__ = ["BaseProvider", "FallbackProvider", "OpenAIProvider", "Provider"]


def __getattr__(name: str):  # FallbackProvider loads on first use
    if name == "FallbackProvider":
        from .fallback import FallbackProvider

        return FallbackProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
