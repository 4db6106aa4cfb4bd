"""llm_client_sync: a synchronous, dependency-light client for the OpenAI REST API.

    >>> from llm_client_sync import OpenAIProvider
    >>> OpenAIProvider(model="gpt-5-nano").complete("Hi").content  # doctest: +SKIP
"""

from __future__ import annotations

from ._env import load_env as _load_env

_load_env()

from .errors import *  # noqa: E402,F401,F403
from .errors import __all__ as _errors_all  # noqa: E402
from .models import *  # noqa: E402,F401,F403
from .models import __all__ as _models_all  # noqa: E402
from .types import *  # noqa: E402,F401,F403
from .types import __all__ as _types_all  # noqa: E402

__version__ = "0.1.0"

__all__ = sorted(set(_errors_all) | set(_models_all) | set(_types_all))
