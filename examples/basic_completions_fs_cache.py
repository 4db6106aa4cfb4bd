"""Cache completions on disk: the second identical call is answered from the cache, no request.

    python examples/basic_completions_fs_cache.py

With no OPENAI_API_KEY it starts the library's local OpenAI-compatible server (with 300 ms of
latency, so the difference shows); with a key it calls the real API. Entries are JSON files under
./cache/<collection>/ab/<key>.json (set CACHE_DIR to put them elsewhere).
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack

from llm_client_sync.providers.openai import OpenAIProvider


def main() -> None:
    with ExitStack() as stack:
        api_key, base_url = os.environ.get("OPENAI_API_KEY"), None
        if not api_key:
            from llm_client_sync.testing import MockOpenAIServer

            server = stack.enter_context(MockOpenAIServer(latency=0.3))
            api_key, base_url = "test", server.base_url
            print(f"no OPENAI_API_KEY: using the local server at {server.base_url}")
        provider = stack.enter_context(OpenAIProvider(
            model="gpt-5-nano", api_key=api_key, base_url=base_url,
            cache_backend="fs", cache_dir=os.environ.get("CACHE_DIR", "./cache")))

        question = "Name the three primary colours, comma separated."
        for attempt in (1, 2):
            start = time.perf_counter()
            result = provider.complete(question, cache_collection="examples")
            elapsed = (time.perf_counter() - start) * 1000
            print(f"call {attempt}: {elapsed:7.1f} ms  cached={result.cached}  {result.text!r}")

        # a different parameter is a different key: this one goes to the API again
        result = provider.complete(question, cache_collection="examples", max_completion_tokens=50)
        print(f"call 3 (max_completion_tokens=50): cached={result.cached}")
        print("cache stats:", provider.cache.stats)


if __name__ == "__main__":
    main()
