"""Optional dependencies: import one when its feature is first used, or say which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["import_extra"]


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """``import module``, or raise MissingDependencyError naming ``pip install 'llm-client-sync[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the {module.split('.')[0]!r} package: pip install 'llm-client-sync[{extra}]'"
        ) from exc
