"""Conversation.get_messages on a 10,000-message history truncated to a 128k-token window.

    TIKTOKEN_CACHE_DIR=../shared/tiktoken python benchmarks/bench_conversation.py [--messages 10000]

Rows: the first call (every message encoded once), a repeated call (nothing changed), a call after
one new message (the agent loop: new plan, cached counts), per strategy. Target: repeated < 50 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from llm_client_sync.conversation import Conversation
from llm_client_sync.tokens import count_messages, is_exact

WORDS = ("the weather in Tokyo is sunny with light wind from the east and the forecast says rain "
         "later today so bring an umbrella when you go to the station at noon").split()


def build(n_messages: int, strategy: str, seed: int = 7) -> Conversation:
    """A realistic mix: user questions, answers, and tool rounds with two parallel calls."""
    rng = random.Random(seed)
    conv = Conversation("You are a helpful assistant. Answer briefly.", max_tokens=128_000,
                        truncation_strategy=strategy, reserve_tokens=16_000)
    calls = 0
    while len(conv) < n_messages:
        conv.add_user(" ".join(rng.choices(WORDS, k=rng.randint(5, 60))))
        if rng.random() < 0.4:
            ids = [f"call_{calls}", f"call_{calls + 1}"]
            calls += 2
            conv.add_assistant(tool_calls=[{"id": i, "type": "function", "function": {
                "name": "search", "arguments": '{"q": "%s"}' % " ".join(rng.choices(WORDS, k=4))}} for i in ids])
            for i in ids:
                conv.add_tool_result(i, " ".join(rng.choices(WORDS, k=rng.randint(20, 200))))
        conv.add_assistant(" ".join(rng.choices(WORDS, k=rng.randint(10, 120))))
    return conv


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    count_messages([{"role": "user", "content": "warm up"}])  # load the encoding outside the timings
    print(f"exact tiktoken counts: {is_exact()}; {args.messages} messages; window 128k, reserve 16k")
    print(f"{'strategy':<12} {'history tok':>11} {'sent msgs':>9} {'sent tok':>8} "
          f"{'first ms':>9} {'repeat p50':>10} {'repeat max':>10} {'+1 msg p50':>10}")
    for strategy in ("sliding", "drop_oldest", "drop_middle"):
        conv = build(args.messages, strategy)
        start = time.perf_counter()
        out = conv.get_messages()
        first = (time.perf_counter() - start) * 1000
        repeat = timed(conv.get_messages, args.repeat)

        def add_then_get() -> None:
            conv.add_user("one more question about the weather")
            conv.get_messages()

        appended = timed(add_then_get, args.repeat)
        print(f"{strategy:<12} {conv.count_tokens():>11,} {len(out):>9} {count_messages(out):>8,} "
              f"{first:>9.1f} {statistics.median(repeat):>10.2f} {max(repeat):>10.2f} "
              f"{statistics.median(appended):>10.2f}")


if __name__ == "__main__":
    main()
