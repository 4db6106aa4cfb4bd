"""Warnings that point at the user's line: the stack level is the first frame outside this package."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn_user"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the nearest caller outside llm_client_sync (Python 3.12's
    ``skip_file_prefixes``, for every supported version)."""
    level = 1
    frame = sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith((_PACKAGE_DIR, "<frozen importlib")):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and not frame.f_code.co_filename.startswith("<frozen importlib"):
            level += 1  # warnings skips importlib's frames when counting (an import-time warning)
    warnings.warn(message, category, stacklevel=level)
