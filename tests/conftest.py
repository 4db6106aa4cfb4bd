"""Fixtures shared by every test layer: where ../shared is, and the tiktoken cache inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support import shared_dir, shared_path

# Offline encodings for every test, unless the caller chose a cache already.
_enc = shared_dir() / "tiktoken"
if _enc.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_enc))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared/ directory; skips (fails under LLM_CLIENT_SYNC_REQUIRE_SERVICES=1) when missing."""
    return shared_path()


@pytest.fixture(scope="session")
def openai_wire() -> Path:
    return shared_path("openai-wire")


@pytest.fixture(scope="session")
def provider_wire() -> Path:
    return shared_path("provider-wire")
