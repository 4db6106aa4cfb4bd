"""A strict rate limit for the local server: L requests and T tokens per sliding window, 429 beyond.

It counts a request when it arrives, with the tokens its answer uses (``usage.total_tokens``,
or for a stream the prompt's characters / 4 plus ``max_completion_tokens``); a request it
refuses is not counted. Faults (``fail_every``) are counted before they fail, as a server error
after admission is.

    >>> limit = SlidingWindowLimit(server, requests=40, tokens=4_000, window=2.0)  # doctest: +SKIP
    >>> limit.rejected, limit.admitted                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import Any, Callable

from ._server import error_response

__all__ = ["SlidingWindowLimit", "admission_tokens"]


def admission_tokens(body: Any) -> int:
    """Tokens the API charges when a chat request arrives: prompt characters / 4 + max completion."""
    if not isinstance(body, dict):
        return 1
    prompt = max(1, len(json.dumps(body.get("messages") or body.get("input") or "")) // 4)
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or body.get("max_output_tokens") or 0
    return prompt + (cap if isinstance(cap, int) else 0)


class SlidingWindowLimit:
    """Wraps a route of a ``MockOpenAIServer`` (chat by default) with a sliding-window limit.

    Args:
        requests / tokens: the limits per window (None: unlimited).
        window: seconds.
        fail_every: answer every n-th admitted request with a 500 (counted, like the API does).
    Thread-safe; ``admitted_at`` keeps every admission time (server clock) for throughput checks.
    """

    def __init__(self, server: Any, *, requests: int | None = None, tokens: int | None = None,
                 window: float = 60.0, path: str = "/v1/chat/completions", fail_every: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests, self.tokens, self.window = requests, tokens, window
        self.fail_every = fail_every
        self._clock = clock
        self._lock = threading.Lock()
        self._log: deque[tuple[float, int]] = deque()  # (admitted at, tokens), oldest first
        self._spent = 0
        self.admitted = 0
        self.rejected = 0
        self.failed = 0
        self.admitted_at: list[float] = []
        self._inner = _current_handler(server, path)
        server.route("POST", path, self._handle)

    def _handle(self, req: Any) -> Any:
        answer = self._inner(req)
        usage = answer.body.get("usage") if isinstance(getattr(answer, "body", None), dict) else None
        cost = usage.get("total_tokens") if isinstance(usage, dict) else None
        cost = cost if isinstance(cost, int) else admission_tokens(req.json)
        with self._lock:
            now = self._clock()
            while self._log and self._log[0][0] <= now - self.window:
                self._spent -= self._log.popleft()[1]
            over_requests = self.requests is not None and len(self._log) + 1 > self.requests
            over_tokens = self.tokens is not None and self._spent + cost > self.tokens
            if over_requests or over_tokens:
                self.rejected += 1
                wait = self._log[0][0] + self.window - now if self._log else self.window
                kind = "requests" if over_requests else "tokens"
                return error_response(429, f"Rate limit reached for {kind} (sliding {self.window}s window)",
                                      type=kind, code="rate_limit_exceeded",
                                      headers={"retry-after-ms": str(max(int(wait * 1000), 1))})
            self._log.append((now, cost))
            self._spent += cost
            self.admitted += 1
            self.admitted_at.append(now)
            fail = self.fail_every and self.admitted % self.fail_every == 0
            if fail:
                self.failed += 1
        if fail:
            return error_response(500, "The server had an error (injected after admission)", type="server_error")
        return answer

    def max_in_window(self) -> int:
        """The most admissions any window held (<= ``requests`` when the limit held)."""
        times = sorted(self.admitted_at)
        best = start = 0
        for end, t in enumerate(times):
            while times[start] <= t - self.window:
                start += 1
            best = max(best, end - start + 1)
        return best


def _current_handler(server: Any, path: str) -> Callable[[Any], Any]:
    with server.lock:
        routes = list(server._routes)
    for method, pattern, handler in routes:
        if method == "POST" and pattern.match(path):
            return handler
    raise LookupError(f"no POST route for {path}")
