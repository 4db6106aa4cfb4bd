"""Running one turn's tool calls on worker threads, with a per-call timeout and a parallelism cap.

Each call runs on its own daemon thread. A thread cannot be killed, so a call that passes the
timeout is *abandoned*: the model gets an error result at once, the thread runs on until the
function returns by itself, and its late result is dropped. It stops counting against
``max_parallel`` when abandoned, and being a daemon it never blocks interpreter exit. Tools
that can hang should carry their own timeouts (HTTP timeouts, ``subprocess`` timeouts).
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections import deque
from typing import Callable, Iterator, Sequence

from ..tools.registry import ToolResult
from ..types import ToolCall

__all__ = ["run_tool_calls"]

Execute = Callable[[ToolCall], ToolResult]


def _error(call: ToolCall, content: str, kind: str, duration: float = 0.0) -> ToolResult:
    return ToolResult(call.id, call.name, content, True, duration, kind)


def run_tool_calls(calls: Sequence[ToolCall], execute: Execute, *, max_parallel: int, timeout: float | None,
                   cancelled: threading.Event, clock: Callable[[], float] = time.monotonic,
                   ) -> Iterator[tuple[int, ToolResult]]:
    """Yield ``(index, result)`` for every call, in the order they finish.

    Calls not yet started when ``cancelled`` is set get a "cancelled" result; calls already
    running are awaited (up to their timeout).
    """
    done: queue.Queue[tuple[int, ToolResult]] = queue.Queue()
    pending = deque(range(len(calls)))
    running: dict[int, float] = {}  # index -> deadline (inf when there is no timeout)
    started: dict[int, float] = {}

    def worker(i: int) -> None:
        try:
            result = execute(calls[i])
        except BaseException as exc:  # execute() catches tool errors; this is a last resort
            result = _error(calls[i], f"Error: {calls[i].name} failed: {type(exc).__name__}: {exc}", "exception")
        done.put((i, result))

    while pending or running:
        while pending and len(running) < max_parallel:
            i = pending.popleft()
            if cancelled.is_set():
                yield i, _error(calls[i], "Not run: the run was cancelled before this tool started.", "cancelled")
                continue
            now = clock()
            started[i] = now
            running[i] = now + timeout if timeout is not None else float("inf")
            # each tool thread runs in a copy of the caller's context (tracing spans, observe scopes)
            threading.Thread(target=contextvars.copy_context().run, args=(worker, i),
                             name=f"llm-client-sync-tool-{calls[i].name}", daemon=True).start()
        if not running:
            continue
        wait = min(running.values()) - clock()
        try:
            i, result = done.get(timeout=None if wait == float("inf") else max(0.0, wait))
        except queue.Empty:
            now = clock()
            for i, deadline in list(running.items()):
                if deadline <= now:
                    del running[i]
                    yield i, _error(calls[i], f"Error: {calls[i].name} did not finish within {timeout:g} seconds "
                                              "and was abandoned; its result will not be used.", "timeout",
                                    now - started[i])
            continue
        if i in running:  # otherwise a late result of an abandoned call: dropped
            del running[i]
            yield i, result
