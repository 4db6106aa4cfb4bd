"""Stream an answer token by token, then the same with the stream adapters.

    python examples/provider_streaming.py "Write a haiku about rivers"

With OPENAI_API_KEY unset it runs against the library's local mock server (no network).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.streaming import BufferingAdapter, CallbackAdapter, collect_stream
from llm_client_sync.types import StreamEventType


@contextlib.contextmanager
def make_provider() -> Iterator[Any]:
    if os.environ.get("OPENAI_API_KEY"):
        provider = OpenAIProvider(model=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))
        with contextlib.closing(provider):
            yield provider
        return
    from llm_client_sync.testing import MockOpenAIServer

    with MockOpenAIServer() as server:
        server.add_text("Cold river at dawn, / stones remember every word / the water forgot.")
        with contextlib.closing(OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)) as p:
            yield p


def main(argv: list[str]) -> None:
    prompt = " ".join(argv) or "Write a haiku about rivers."
    with make_provider() as provider:
        # 1. The stream itself: an iterator of events and a context manager.
        with provider.stream(prompt) as stream:
            for event in stream:
                if event.type is StreamEventType.TOKEN:
                    print(event.data, end="", flush=True)
        result = stream.result()
        print(f"\n[{result.finish_reason}; {result.usage.total_tokens} tokens]")

        # 2. Callbacks instead of a loop; consume() returns the CompletionResult.
        pieces: list[str] = []
        result = CallbackAdapter(on_token=pieces.append).consume(provider.stream("Say hello"))
        print(f"callbacks got {len(pieces)} tokens: {''.join(pieces)!r}")

        # 3. Pass events through while keeping the text so far.
        buffer = BufferingAdapter()
        for _ in buffer.wrap(provider.stream("Count to three")):
            pass
        print(f"buffered: {buffer.content!r}")

        # 4. Just the result.
        print(f"collected: {collect_stream(provider.stream('One more')).content!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
