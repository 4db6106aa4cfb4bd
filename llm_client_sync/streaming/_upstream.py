"""The upstream stream's lifetime: closing it early, and reading it on a helper thread so an
adapter can wait with a timeout (heartbeats) while the model is silent."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Iterable, Iterator

__all__ = ["ClosingIterator", "Pump", "close_upstream"]

log = logging.getLogger("llm_client_sync.streaming")

END = object()
ERROR = object()


def close_upstream(upstream: Any) -> None:
    """Call ``upstream.close()`` if it has one; never raises (it runs on cleanup paths)."""
    close = getattr(upstream, "close", None)
    if close is None:
        return
    try:
        close()
    except ValueError:
        # "generator already executing": a plain generator running on the pump thread cannot be
        # closed from here; the pump closes it itself once it yields.
        pass
    except Exception:  # a failing close must not hide the error that made us stop
        log.debug("closing the upstream stream failed", exc_info=True)


class ClosingIterator:
    """An iterator over ``gen`` whose ``close()`` also closes ``upstream``.

    A generator that never started ignores ``close()`` (its ``finally`` never runs), so a WSGI
    server closing a response before the first write would otherwise leak the upstream socket.
    """

    __slots__ = ("_gen", "_upstream")

    def __init__(self, gen: Iterator[Any], upstream: Any) -> None:
        self._gen = gen
        self._upstream = upstream

    def __iter__(self) -> "ClosingIterator":
        return self

    def __next__(self) -> Any:
        return next(self._gen)

    def close(self) -> None:
        try:
            self._gen.close()
        finally:
            close_upstream(self._upstream)


class Pump:
    """Reads ``upstream`` on a daemon thread into a queue; ``get(timeout)`` returns
    ``(item, None)``, ``(END, None)`` or ``(ERROR, exc)`` and raises ``queue.Empty`` on timeout.

    ``stop()`` closes the upstream (its ``close()`` unblocks a reader stuck on the socket) and
    joins the thread, so the thread never outlives the adapter that started it.
    """

    def __init__(self, upstream: Iterable[Any]) -> None:
        self._upstream = upstream
        self._queue: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-stream-pump", daemon=True)

    def start(self) -> "Pump":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for item in self._upstream:
                if self._stopping.is_set():
                    return
                self._queue.put((item, None))
            self._queue.put((END, None))
        except BaseException as exc:  # handed to the consumer thread, which decides
            self._queue.put((ERROR, exc))
        finally:
            if self._stopping.is_set():
                close_upstream(self._upstream)

    def get(self, timeout: float | None) -> tuple[Any, Any]:
        return self._queue.get(timeout=timeout)

    def stop(self, join_timeout: float = 2.0) -> None:
        self._stopping.set()
        close_upstream(self._upstream)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(join_timeout)
            if self._thread.is_alive():
                log.warning("the upstream stream did not stop within %.1fs of close()", join_timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
