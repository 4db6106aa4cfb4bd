"""Providers: the OpenAI REST API (Chat Completions and Responses)."""

from .openai import OpenAIProvider

__all__ = ["OpenAIProvider"]
