"""Cost of the observe layer on one ``complete`` call (no network: an in-memory transport).

    PYTHONPATH=. python benchmarks/bench_observe.py

Prints microseconds per call: the method without its observe wrapper, with the wrapper and
nothing subscribed (the fast path), with one no-op subscriber, and with a Ledger attached;
then the fast path alone in nanoseconds.
"""

from __future__ import annotations

import json
import time

from llm_client_sync import OpenAIProvider
from llm_client_sync.observe import subscribe
from llm_client_sync.observe.ledger import Ledger
from llm_client_sync.transport import TransportResponse

BODY = json.dumps({"id": "c1", "object": "chat.completion", "model": "gpt-5-nano",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}).encode()


class _Transport:
    base_url = "http://127.0.0.1:9/v1"
    observers: list = []

    def request(self, *a, **k):
        return TransportResponse(200, {}, BODY, None)

    def close(self) -> None:
        pass


def _per_call(fn, n: int = 20000, rounds: int = 7) -> float:
    for _ in range(500):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def main() -> None:
    p = OpenAIProvider("gpt-5-nano", api_key="k", transport=_Transport())
    bare = OpenAIProvider.complete.__wrapped__
    rows = [("without the wrapper", _per_call(lambda: bare(p, "Hi"))),
            ("wrapper, nothing subscribed", _per_call(lambda: p.complete("Hi")))]
    unsubscribe = subscribe(lambda e: None)
    rows.append(("one no-op subscriber", _per_call(lambda: p.complete("Hi"))))
    unsubscribe()
    with Ledger():
        rows.append(("a Ledger attached", _per_call(lambda: p.complete("Hi"), n=5000)))
    base = rows[0][1]
    for name, us in rows:
        print(f"{name:30s} {us:8.2f} us/call  ({us - base:+.2f})")
    print(f"the wrapper alone, nothing subscribed: {_fast_path_ns():.0f} ns/call")


def _fast_path_ns() -> float:
    """The decorator's fast path in isolation (a whole call is too noisy on a busy machine)."""
    import timeit

    from llm_client_sync.observe import hooks

    class _P:
        model = "m"

        def bare(self, prompt: str, **kw: object) -> str:
            return prompt

        wrapped = hooks.observed("chat")(bare)

    p = _P()
    bare = min(timeit.repeat(lambda: p.bare("Hi", temperature=1), number=200_000, repeat=7))
    wrapped = min(timeit.repeat(lambda: p.wrapped("Hi", temperature=1), number=200_000, repeat=7))
    return (wrapped - bare) / 200_000 * 1e9


if __name__ == "__main__":
    main()
