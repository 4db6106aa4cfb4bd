"""Deprecated: moved to ``llm_client_sync.batch`` (this path works for one more release)."""

from __future__ import annotations

from ._warn import warn_user
from .batch.checkpoint import *  # noqa: F401,F403
from .batch.checkpoint import __all__  # noqa: F401

warn_user("llm_client_sync.batch_checkpoint is deprecated; import from llm_client_sync.batch "
          "(or llm_client_sync)", DeprecationWarning)

NONE = PENDING  # noqa: F405  (the old name of the "no record" state)
