"""Warnings point at the user's line; loading one tiktoken encoding never blocks another."""

from __future__ import annotations

import threading
import warnings

import llm_client_sync
from llm_client_sync.tokens import _encodings


def test_warning_classes_named_in_the_readme_are_importable_from_the_top_level():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    import re

    named = set(re.findall(r"`(\w+Warning)`", readme))
    assert {"CacheWarning", "TokenizerFallbackWarning"} <= named
    for name in named:
        cls = getattr(llm_client_sync, name)
        assert issubclass(cls, Warning) and name in llm_client_sync.__all__


def test_cache_warning_points_at_the_callers_line(tmp_path):
    from llm_client_sync.cache import ResponseCache, build_cache

    cache = build_cache("fs", options={"cache_dir": str(tmp_path)})
    assert isinstance(cache, ResponseCache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.get("k" * 64, "", {})  # an empty collection name: not cached, one warning
    assert caught, "expected a CacheWarning"
    assert caught[0].filename == __file__, caught[0].filename


def test_tokenizer_fallback_warning_points_at_the_callers_line(monkeypatch):
    from llm_client_sync.tokens import count_tokens

    _encodings.reset()
    monkeypatch.setattr(_encodings, "_load", lambda name, cfg: None)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            count_tokens("hello world", "gpt-5-nano")
        mine = [w for w in caught if issubclass(w.category, llm_client_sync.TokenizerFallbackWarning)]
        assert mine and mine[0].filename == __file__, [w.filename for w in caught]
    finally:
        _encodings.reset()


def test_a_slow_encoding_does_not_block_another(monkeypatch):
    _encodings.reset()
    release = threading.Event()
    started = threading.Event()
    real = _encodings._load

    def load(name, cfg):
        if name == "o200k_base":
            started.set()
            release.wait(10)  # a slow fetch of this one encoding
            return None
        return real(name, cfg)

    monkeypatch.setattr(_encodings, "_load", load)
    _encodings._warned.add("o200k_base")  # its warning is not what this test is about
    slow = threading.Thread(target=_encodings.load_encoding, args=("o200k_base",), daemon=True)
    slow.start()
    try:
        assert started.wait(5)
        other = threading.Thread(target=_encodings.load_encoding, args=("cl100k_base",), daemon=True)
        other.start()
        other.join(5)
        assert not other.is_alive(), "loading cl100k_base waited for the o200k_base fetch"
        assert "cl100k_base" in _encodings._encodings and slow.is_alive()
    finally:
        release.set()
        slow.join(10)
        _encodings.reset()


def test_reconfiguring_during_a_load_does_not_keep_the_stale_result(monkeypatch):
    _encodings.reset()
    calls = []

    def load(name, cfg):
        calls.append(cfg)
        if len(calls) == 1:
            _encodings.reset()  # configuration changes while this load runs
        return f"enc-{len(calls)}"

    monkeypatch.setattr(_encodings, "_load", load)
    try:
        assert _encodings.load_encoding("o200k_base") == "enc-2" and len(calls) == 2
    finally:
        _encodings.reset()
