"""Loads ``.env`` once on import (never overriding variables already set)."""

from __future__ import annotations

import os

_loaded = False


def load_env() -> bool:
    """Load the nearest ``.env`` from the working directory upward; returns whether one was read.

    Skipped when ``LLM_CLIENT_SYNC_NO_DOTENV=1``. Existing environment variables always win.
    """
    global _loaded
    if _loaded or os.environ.get("LLM_CLIENT_SYNC_NO_DOTENV", "").strip() in ("1", "true", "yes"):
        return False
    _loaded = True
    path = _find_dotenv()
    if path is None:
        return False  # the common case costs no python-dotenv import
    from dotenv import load_dotenv

    return load_dotenv(path, override=False)


def _find_dotenv() -> str | None:
    """The nearest ``.env`` from the working directory upward (python-dotenv's own search would
    start from this file's folder, not the user's project)."""
    try:
        here = os.getcwd()
    except OSError:
        return None
    for _ in range(64):  # bounded: no filesystem is that deep
        candidate = os.path.join(here, ".env")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent
    return None
