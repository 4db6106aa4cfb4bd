"""The one place tests find ``../shared`` and decide whether a missing service skips or fails.

``LLM_CLIENT_SYNC_SHARED`` names the shared/ directory; otherwise it is ``../shared`` beside the
checkout. A missing fixture directory or service is a skip locally and a failure when
``LLM_CLIENT_SYNC_REQUIRE_SERVICES=1`` (as in ``.ci/run``).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared/ directory (it may not exist: see ``shared_path``)."""
    env = os.environ.get("LLM_CLIENT_SYNC_SHARED")
    return Path(env).resolve() if env else (REPO.parent / "shared").resolve()


def require_services() -> bool:
    return os.environ.get("LLM_CLIENT_SYNC_REQUIRE_SERVICES") == "1"


def require_service(reason: str, *, module: bool = False) -> None:
    """Skip the current test (the whole module when ``module``, at import time), or fail it when
    services are required."""
    if require_services():
        pytest.fail(f"required service or fixture missing: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def shared_path(*parts: str, required: bool = True) -> Path:
    """A path under shared/; when it is missing and ``required``, skip (or fail under CI)."""
    path = shared_dir().joinpath(*parts)
    if required and not path.exists():
        require_service(f"{path} not found (set LLM_CLIENT_SYNC_SHARED or put shared/ beside the checkout)")
    return path


def shared_path_or_none(*parts: str) -> Path | None:
    """For collection-time use (parametrize): the path, or None when it is missing."""
    path = shared_dir().joinpath(*parts)
    return path if path.exists() else None


@contextlib.contextmanager
def serving(server: Any) -> Iterator[Any]:
    """Run a ``socketserver`` server (e.g. an ``http.server`` test double) on a daemon thread for
    the block; shut it down, close its socket and join the thread afterwards."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class TrackedStream:
    """Wraps a stream for adapter tests: records when (and whether) an adapter closed it."""

    def __init__(self, stream) -> None:
        import threading

        self.stream = stream
        self.closed = threading.Event()
        self.closed_at: float | None = None

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.stream)

    def close(self) -> None:
        import time

        if self.closed_at is None:
            self.closed_at = time.monotonic()
        self.closed.set()
        self.stream.close()
