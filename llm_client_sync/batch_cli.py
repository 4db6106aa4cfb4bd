"""Deprecated: moved to ``llm_client_sync.batch`` (this path works for one more release)."""

from __future__ import annotations

from ._warn import warn_user
from .batch.cli import *  # noqa: F401,F403
from .batch.cli import __all__  # noqa: F401

warn_user("llm_client_sync.batch_cli is deprecated; import from llm_client_sync.batch "
          "(or llm_client_sync)", DeprecationWarning)

if __name__ == "__main__":  # pragma: no cover - ``python -m llm_client_sync.batch_cli`` still works
    raise SystemExit(run_batch_cli())  # noqa: F405
