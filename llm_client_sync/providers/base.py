"""The Provider protocol: what the Agent, Conversation, caches, batch runner, adapters and aio use.

Any object with these members is a provider (``isinstance(x, Provider)`` checks it at run time).
``OpenAIProvider``, ``AnthropicProvider``, ``GeminiProvider`` and ``FallbackProvider`` implement it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..models import ModelProfile
    from ..types import CompletionResult, EmbeddingResult, StreamEvent

__all__ = ["Provider", "ResultStream"]


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

    def complete(self, prompt: Any = None, **params: Any) -> "CompletionResult": ...

    def stream(self, prompt: Any = None, **params: Any) -> ResultStream: ...

    def embed(self, texts: str | Iterable[str], dimensions: int | None = None, **kw: Any) -> "EmbeddingResult": ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> None: ...
