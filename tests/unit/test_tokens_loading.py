"""Encoding loading: offline caches, a bounded fetch, and the approximate fallback (no internet)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
import warnings

import pytest

from support import require_service, shared_dir

from llm_client_sync.tokens import (
    TokenizerFallbackWarning,
    configure_tokenizer,
    count_messages,
    count_tokens,
    get_tokenizer,
    is_exact,
)
from llm_client_sync.tokens import _encodings

ENC_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(shared_dir() / "tiktoken")
O200K = _encodings._SPECS["o200k_base"]


def _o200k_bytes() -> bytes:
    path = os.path.join(ENC_DIR, _encodings._cache_key(O200K))
    if not os.path.exists(path):
        require_service(f"o200k_base not cached in {ENC_DIR}")
    with open(path, "rb") as fh:
        return fh.read()


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every cache location empty; tiktoken's temp cache moved into tmp_path."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.delenv("LLM_CLIENT_SYNC_TIKTOKEN_DIR", raising=False)
    monkeypatch.delenv("LLM_CLIENT_SYNC_TIKTOKEN_BASE_URL", raising=False)
    monkeypatch.setenv("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "0")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    _encodings.reset()
    yield empty
    _encodings.reset()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with-block ends: connections are refused


def test_empty_cache_and_refused_network_fall_back_with_one_warning(offline):
    configure_tokenizer(fetch_timeout=2.0, base_url=f"http://127.0.0.1:{_closed_port()}/encodings/")
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = count_tokens("hello world, how are you today?")
        for _ in range(20):
            count_tokens("more text")
            count_messages([{"role": "user", "content": "hi"}])
        assert not is_exact()
    assert time.monotonic() - started < 2.0  # refused at once, no waiting out the bound
    fallbacks = [w for w in caught if issubclass(w.category, TokenizerFallbackWarning)]
    assert len(fallbacks) == 1
    assert "o200k_base" in str(fallbacks[0].message)
    assert first > 0
    assert get_tokenizer().key == "o200k_base:approx"


def test_hanging_fetch_is_abandoned_after_the_bound(offline, monkeypatch):
    release = threading.Event()
    entered = threading.Event()

    def black_hole(url, timeout=None):
        entered.set()
        release.wait(30)  # a server that accepts and never answers
        raise OSError("released")

    monkeypatch.setattr("urllib.request.urlopen", black_hole)
    configure_tokenizer(fetch_timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.warns(TokenizerFallbackWarning):
            assert not is_exact("gpt-5-nano")
        elapsed = time.monotonic() - started
        assert entered.is_set()
        assert 0.25 <= elapsed < 3.0
    finally:
        release.set()


def test_successful_fetch_is_verified_and_saved_in_the_cache_dir(offline, monkeypatch, tmp_path):
    data = _o200k_bytes()
    urls = []

    def serve(url, timeout=None):
        urls.append(url)
        return io.BytesIO(data)

    monkeypatch.setattr("urllib.request.urlopen", serve)
    user_dir = tmp_path / "user"
    configure_tokenizer(cache_dir=user_dir, fetch_timeout=10, base_url="http://127.0.0.1:9/mirror/")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TokenizerFallbackWarning)
        assert is_exact()
        assert count_tokens("hello world") == 2
    assert urls == ["http://127.0.0.1:9/mirror/o200k_base.tiktoken"]
    saved = user_dir / _encodings._cache_key(O200K)
    assert saved.read_bytes() == data  # tiktoken's own cache name, so tiktoken finds it too


def test_fetched_file_with_wrong_hash_is_rejected(offline, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda url, timeout=None: io.BytesIO(b"not an encoding"))
    configure_tokenizer(fetch_timeout=5)
    with pytest.warns(TokenizerFallbackWarning):
        assert not is_exact()
    assert os.listdir(offline) == []


def test_user_dir_with_plain_file_name_is_used(offline, tmp_path):
    data = _o200k_bytes()
    user_dir = tmp_path / "encodings"
    user_dir.mkdir()
    (user_dir / "o200k_base.tiktoken").write_bytes(data)
    configure_tokenizer(cache_dir=str(user_dir))
    assert is_exact()
    assert count_tokens("hello world") == 2


def test_env_dir_is_searched(offline, monkeypatch, tmp_path):
    data = _o200k_bytes()
    env_dir = tmp_path / "from-env"
    env_dir.mkdir()
    (env_dir / _encodings._cache_key(O200K)).write_bytes(data)
    monkeypatch.setenv("LLM_CLIENT_SYNC_TIKTOKEN_DIR", str(env_dir))
    _encodings.reset()
    assert is_exact()


def test_tiktoken_temp_cache_is_searched(offline, tmp_path):
    data = _o200k_bytes()
    gym = tmp_path / "tmp" / "data-gym-cache"
    gym.mkdir()
    (gym / _encodings._cache_key(O200K)).write_bytes(data)
    os.environ.pop("TIKTOKEN_CACHE_DIR")  # restored by monkeypatch
    _encodings.reset()
    assert is_exact()


def test_corrupt_cached_file_is_ignored(offline):
    (offline / _encodings._cache_key(O200K)).write_bytes(b"garbage")
    with pytest.warns(TokenizerFallbackWarning):
        assert not is_exact()


def test_configure_after_fallback_retries(offline, tmp_path):
    with pytest.warns(TokenizerFallbackWarning):
        assert not is_exact()
    good = tmp_path / "good"
    good.mkdir()
    (good / "o200k_base.tiktoken").write_bytes(_o200k_bytes())
    configure_tokenizer(cache_dir=good)
    assert is_exact()


def test_negative_fetch_timeout_is_a_configuration_error():
    from llm_client_sync.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        configure_tokenizer(fetch_timeout=-1)


def test_cache_key_matches_tiktoken():
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    assert _encodings._cache_key(O200K) == hashlib.sha1(url.encode()).hexdigest()
