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
    from dotenv import find_dotenv, load_dotenv

    # usecwd: python-dotenv otherwise searches from *this* file's folder, not the user's project
    path = find_dotenv(usecwd=True)
    return bool(path) and load_dotenv(path, override=False)
