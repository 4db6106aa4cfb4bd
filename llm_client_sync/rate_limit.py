"""Deprecated: moved to ``llm_client_sync.ratelimit`` (this path works for one more release)."""

from __future__ import annotations

from ._warn import warn_user
from .ratelimit import *  # noqa: F401,F403
from .ratelimit import __all__  # noqa: F401
from .ratelimit.cost import _max_completion, _prompt_estimate  # noqa: F401
from .ratelimit.limiter import _Budget, _int_header, _lower  # noqa: F401

warn_user("llm_client_sync.rate_limit is deprecated; import from llm_client_sync.ratelimit "
          "(or llm_client_sync)", DeprecationWarning)
