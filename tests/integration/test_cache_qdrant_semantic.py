"""Qdrant local mode: exact entries plus semantic lookups scoped by collection, namespace and params."""

from __future__ import annotations

import math
import re

import pytest

from llm_client_sync.cache import ResponseCache, build_cache

WORDS = ["weather", "tokyo", "paris", "rain", "sunny", "capital", "france", "japan", "today", "what"]


def embed(text: str) -> list[float]:
    """Bag-of-words over a tiny vocabulary: deterministic, and similar prompts point alike."""
    tokens = re.findall(r"[a-z]+", text.lower())
    vec = [float(tokens.count(w)) for w in WORDS] + [0.01]
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec]


def chat(text: str, **extra) -> dict:
    return {"model": "gpt-5-nano", "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def cache(tmp_path):
    cache = build_cache("qdrant", options={"qdrant_path": str(tmp_path / "q"), "semantic": True,
                                           "similarity_threshold": 0.95}, embed_fn=embed)
    yield cache
    cache.close()


def _put(cache: ResponseCache, body: dict, content: str, collection: str = "c") -> None:
    key = cache.key("/v1/chat/completions", body)
    assert cache.get(key, collection, body=body) is None
    cache.put(key, {"content": content}, collection, body=body)


def _get(cache: ResponseCache, body: dict, collection: str = "c"):
    return cache.get(cache.key("/v1/chat/completions", body), collection, body=body)


def test_similar_prompt_hits_and_different_prompt_misses(cache) -> None:
    _put(cache, chat("What is the weather in Tokyo today?"), "sunny in tokyo")
    assert _get(cache, chat("what is the weather in tokyo today")) == {"content": "sunny in tokyo"}
    assert _get(cache, chat("What is the weather in Paris today?")) is None
    assert cache.stats["semantic_hits"] == 1


def test_semantic_hits_never_cross_params_collections_or_namespaces(cache, tmp_path) -> None:
    _put(cache, chat("weather tokyo"), "A")
    assert _get(cache, chat("Weather Tokyo", temperature=1)) is None
    assert _get(cache, chat("Weather Tokyo", model="gpt-5")) is None
    assert _get(cache, chat("Weather Tokyo"), collection="other") is None
    other = ResponseCache(cache.backend, namespace="tenant-b", semantic=True, similarity_threshold=0.95,
                          embed_fn=embed, owns_backend=False)
    assert _get(other, chat("Weather Tokyo")) is None
    assert _get(cache, chat("Weather Tokyo")) == {"content": "A"}


def test_non_text_prompts_use_exact_keys_only(cache) -> None:
    image = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "weather tokyo"}, {"type": "image_url", "image_url": {"url": "data:,"}}]}]}
    _put(cache, image, "image answer")
    assert _get(cache, chat("weather tokyo", model="m")) is None
    assert _get(cache, image) == {"content": "image answer"}


def test_point_ids_are_deterministic_so_rewrites_replace(cache) -> None:
    body = chat("weather tokyo")
    key = cache.key("/v1/chat/completions", body)
    for content in ("one", "two"):
        cache.put(key, {"content": content}, "c", body=body)
    client = cache.backend._client
    names = [c.name for c in client.get_collections().collections]
    assert sorted(names) == ["llm_cache_n_c", "llm_cache_n_c__vec11"]
    assert client.count("llm_cache_n_c").count == 1 and client.count("llm_cache_n_c__vec11").count == 1
    assert _get(cache, body) == {"content": "two"}


def test_entries_survive_reopening_the_local_path(tmp_path) -> None:
    opts = {"qdrant_path": str(tmp_path / "q")}
    first = build_cache("qdrant", options=opts)
    key = first.key("/v1/chat/completions", chat("hi"))
    first.put(key, {"content": "kept"}, "c")
    first.close()
    second = build_cache("qdrant", options=opts)
    try:
        assert second.get(key, "c") == {"content": "kept"}
    finally:
        second.close()


class _Planted:
    """Unpickling this runs a function: what an attacker would plant in a local store."""

    def __reduce__(self):
        import os

        return (os.system, ("echo planted > /dev/null",))


def _store_files(root):
    return sorted(root.rglob("storage.sqlite"))


def test_a_planted_pickle_in_the_local_store_never_runs_and_is_a_cache_error(tmp_path, monkeypatch) -> None:
    import os
    import pickle
    import sqlite3

    from llm_client_sync.errors import CacheError
    from llm_client_sync.providers.openai import OpenAIProvider

    opts = {"qdrant_path": str(tmp_path / "q")}
    first = build_cache("qdrant", options=opts)
    first.put(first.key("/v1/chat/completions", chat("hi")), {"content": "kept"}, "c")
    first.close()
    [store] = _store_files(tmp_path / "q")
    with sqlite3.connect(store) as con:
        con.execute("UPDATE points SET point = ?", (pickle.dumps(_Planted()),))
    ran = []
    import sys

    # the pickle names os.system by its real module (posix on Linux): watch it there
    monkeypatch.setattr(sys.modules[os.system.__module__], "system", lambda cmd: ran.append(cmd) or 0)
    with pytest.raises(CacheError, match="corrupt"):
        OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url="http://127.0.0.1:9/v1",
                       cache_backend="qdrant", qdrant_path=str(tmp_path / "q"))
    assert ran == []


def test_a_garbage_local_store_is_a_cache_error(tmp_path) -> None:
    from llm_client_sync.errors import CacheError

    opts = {"qdrant_path": str(tmp_path / "q")}
    first = build_cache("qdrant", options=opts)
    first.put(first.key("/v1/chat/completions", chat("hi")), {"content": "kept"}, "c")
    first.close()
    [store] = _store_files(tmp_path / "q")
    store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CacheError):
        build_cache("qdrant", options=opts)
