"""ResponseCache around fake backends: never raises, bounded waits, one warning per outage."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from llm_client_sync.cache import CacheBackend, CacheWarning, ResponseCache
from llm_client_sync.errors import CacheError, ConfigurationError

VALUE = {"content": "hello", "usage": {"prompt_tokens": 1}}


class MemoryBackend(CacheBackend):
    """A dict; ``needs_deadline`` False like a local store."""

    needs_deadline = False

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict] = {}
        self.calls = 0
        self.lock = threading.Lock()

    def get(self, key, collection):
        with self.lock:
            self.calls += 1
            return self.data.get((collection, key))

    def set(self, key, value, collection, ttl=None):
        with self.lock:
            self.calls += 1
            self.data[(collection, key)] = value

    def delete(self, key, collection):
        with self.lock:
            self.data.pop((collection, key), None)


class BrokenBackend(MemoryBackend):
    needs_deadline = True

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    def get(self, key, collection):
        if self.broken:
            self.calls += 1
            raise ConnectionRefusedError("connection to redis://user:s3cret@127.0.0.1:1 refused")
        return super().get(key, collection)

    def set(self, key, value, collection, ttl=None):
        if self.broken:
            self.calls += 1
            raise ConnectionRefusedError("refused")
        return super().set(key, value, collection, ttl)


class HangingBackend(MemoryBackend):
    needs_deadline = True

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def get(self, key, collection):
        self.release.wait(30)
        return None


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_counters() -> None:
    cache = ResponseCache(MemoryBackend())
    key = cache.key("/v1/chat/completions", {"model": "m"})
    assert cache.get(key, "c") is None
    cache.put(key, VALUE, "c")
    assert cache.get(key, "c") == VALUE
    assert cache.get(key, "other") is None
    assert cache.stats == {"hits": 1, "misses": 2, "errors": 0, "writes": 1, "rejected": 0, "semantic_hits": 0}


def test_backend_failure_is_a_miss_with_one_redacted_warning_then_backs_off() -> None:
    backend, clock = BrokenBackend(), FakeClock()
    cache = ResponseCache(backend, retry_after=10.0, clock=clock)
    with pytest.warns(CacheWarning) as record:
        assert cache.get("k", "c") is None
        cache.put("k", VALUE, "c")
        assert cache.get("k", "c") is None
    assert len(record) == 1
    message = str(record[0].message)
    assert "s3cret" not in message and "ConnectionRefusedError" in message and "10 s" in message
    assert backend.calls == 1  # the circuit is open: no more calls during retry_after
    clock.now += 10.0
    backend.broken = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.put("k", VALUE, "c")
        assert cache.get("k", "c") == VALUE
    assert cache.stats["errors"] == 1 and cache.stats["hits"] == 1


def test_a_new_outage_after_recovery_warns_again() -> None:
    backend, clock = BrokenBackend(), FakeClock()
    cache = ResponseCache(backend, retry_after=1.0, clock=clock)
    with pytest.warns(CacheWarning):
        cache.get("k", "c")
    clock.now += 1
    backend.broken = False
    cache.get("k", "c")
    backend.broken = True
    clock.now += 1
    with pytest.warns(CacheWarning, match="failed on get"):
        cache.get("k", "c")


def test_hanging_backend_costs_at_most_the_timeout() -> None:
    backend = HangingBackend()
    cache = ResponseCache(backend, timeout=0.2)
    try:
        start = time.monotonic()
        with pytest.warns(CacheWarning, match="cache_timeout=0.2"):
            assert cache.get("k", "c") is None
        assert time.monotonic() - start < 0.2 + 0.5
        start = time.monotonic()
        assert cache.get("k", "c") is None  # circuit open: immediate
        assert time.monotonic() - start < 0.05
    finally:
        backend.release.set()
        cache.close()


def test_cache_error_from_a_backend_is_about_one_entry_and_keeps_the_circuit_closed() -> None:
    class Picky(MemoryBackend):
        def set(self, key, value, collection, ttl=None):
            if key == "bad":
                raise CacheError("cannot store this one")
            super().set(key, value, collection, ttl)

    cache = ResponseCache(Picky())
    with pytest.warns(CacheWarning, match="cannot store this one"):
        cache.put("bad", VALUE, "c")
    cache.put("good", VALUE, "c")
    assert cache.get("good", "c") == VALUE
    assert cache.stats["errors"] == 1


def test_tampered_and_foreign_entries_are_rejected_with_a_warning() -> None:
    backend = MemoryBackend()
    cache = ResponseCache(backend)
    cache.put("k", VALUE, "c")
    backend.data[("c", "k")]["value"]["content"] = "evil"
    backend.data[("c", "f")] = {"content": "a plain foreign dict"}
    with pytest.warns(CacheWarning, match="rejected"):
        assert cache.get("k", "c") is None
    with pytest.warns(CacheWarning, match="rejected"):
        assert cache.get("f", "c") is None
    assert cache.stats["rejected"] == 2 and cache.stats["hits"] == 0


def test_entry_moved_to_another_key_is_rejected() -> None:
    backend = MemoryBackend()
    cache = ResponseCache(backend)
    cache.put("k1", VALUE, "c")
    backend.data[("c", "k2")] = backend.data[("c", "k1")]
    with pytest.warns(CacheWarning, match="another key"):
        assert cache.get("k2", "c") is None


def test_namespaces_share_a_backend_without_sharing_entries() -> None:
    backend = MemoryBackend()
    a, b = ResponseCache(backend, namespace="a"), ResponseCache(backend, namespace="b")
    body = {"model": "m", "messages": []}
    assert a.key("/e", body) != b.key("/e", body)
    a.put(a.key("/e", body), VALUE, "c")
    assert b.get(b.key("/e", body), "c") is None
    # even a key copied across tenants is refused by the namespace echo
    with pytest.warns(CacheWarning):
        assert b.get(a.key("/e", body), "c") is None


def test_ttl_uses_the_wall_clock() -> None:
    wall = FakeClock()
    cache = ResponseCache(MemoryBackend(), ttl=5.0, wall_clock=wall)
    cache.put("k", VALUE, "c")
    wall.now += 4.9
    assert cache.get("k", "c") == VALUE
    wall.now += 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # expiry is a quiet miss
        assert cache.get("k", "c") is None


def test_unserialisable_value_and_bad_collection_warn_and_do_not_store() -> None:
    backend = MemoryBackend()
    cache = ResponseCache(backend)
    with pytest.warns(CacheWarning, match="not cached"):
        cache.put("k", {"content": object()}, "c")
    with pytest.warns(CacheWarning, match="collection"):
        cache.put("k", VALUE, "")
    with pytest.warns(CacheWarning, match="collection"):
        assert cache.get("k", None) is None  # type: ignore[arg-type]
    assert backend.data == {}


def test_counters_are_exact_under_16_threads() -> None:
    cache = ResponseCache(MemoryBackend())
    cache.put("hit", VALUE, "c")
    barrier = threading.Barrier(16)

    def work(i: int) -> None:
        barrier.wait(5)
        for _ in range(50):
            cache.get("hit", "c")
            cache.get(f"miss-{i}", "c")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert cache.stats["hits"] == 800 and cache.stats["misses"] == 800


def test_close_closes_owned_backend_only_and_later_calls_are_misses() -> None:
    closed = []

    class Closing(MemoryBackend):
        def close(self):
            closed.append(self)

    owned, borrowed = Closing(), Closing()
    ResponseCache(owned).close()
    cache = ResponseCache(borrowed, owns_backend=False)
    cache.close()
    cache.close()
    assert closed == [owned]
    assert cache.get("k", "c") is None
    cache.put("k", VALUE, "c")
    assert borrowed.data == {}


class VectorBackend(MemoryBackend):
    """Exact dict plus brute-force cosine search, to test the semantic flow without Qdrant."""

    def __init__(self) -> None:
        super().__init__()
        self.vectors: dict[tuple[str, str], tuple[list[float], str]] = {}

    def set_vector(self, key, collection, vector, scope, ttl=None):
        self.vectors[(collection, key)] = (list(vector), scope)

    def nearest(self, vector, collection, scope, threshold):
        def cos(a, b):
            dot = sum(x * y for x, y in zip(a, b))
            return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))

        scored = [(cos(v, vector), k) for (c, k), (v, s) in self.vectors.items() if c == collection and s == scope]
        best = max(scored, default=None)
        return best[1] if best and best[0] >= threshold else None


def _embed(text: str) -> list[float]:
    # "tokyo" questions point one way, everything else another
    return [1.0, 0.05 * len(text) % 0.1] if "tokyo" in text.lower() else [0.0, 1.0]


def _chat(text: str, **extra) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def test_semantic_hit_needs_similar_prompt_same_params_and_collection() -> None:
    embeds: list[str] = []
    cache = ResponseCache(VectorBackend(), semantic=True, similarity_threshold=0.99,
                          embed_fn=lambda t: embeds.append(t) or _embed(t))
    first = _chat("Weather in Tokyo?")
    key = cache.key("/v1/chat/completions", first)
    assert cache.get(key, "c", body=first) is None
    cache.put(key, VALUE, "c", body=first)
    assert len(embeds) == 1  # the vector from the miss is reused for the put
    similar = _chat("weather in tokyo")
    assert cache.get(cache.key("/v1/chat/completions", similar), "c", body=similar) == VALUE
    assert cache.stats["semantic_hits"] == 1
    for body, collection in ((_chat("Weather in Paris?"), "c"), (_chat("weather in tokyo", temperature=1), "c"),
                             (similar, "other")):
        assert cache.get(cache.key("/v1/chat/completions", body), collection, body=body) is None
    other_ns = ResponseCache(cache.backend, namespace="x", semantic=True, similarity_threshold=0.99, embed_fn=_embed)
    assert other_ns.get(other_ns.key("/v1/chat/completions", similar), "c", body=similar) is None


def test_semantic_embedding_failure_falls_back_to_exact_with_one_warning() -> None:
    def boom(text):
        raise RuntimeError("embeddings down")

    cache = ResponseCache(VectorBackend(), semantic=True, embed_fn=boom)
    body = _chat("hi")
    with pytest.warns(CacheWarning, match="embedding") as record:
        assert cache.get("k", "c", body=body) is None
        cache.put("k", VALUE, "c", body=body)
        assert cache.get("k", "c", body=body) == VALUE
    assert len(record) == 1


def test_semantic_needs_a_vector_backend_and_embed_fn() -> None:
    with pytest.raises(ConfigurationError):
        ResponseCache(MemoryBackend(), semantic=True, embed_fn=_embed)
    with pytest.raises(ConfigurationError):
        ResponseCache(VectorBackend(), semantic=True)


def test_a_call_hung_forever_does_not_block_interpreter_exit() -> None:
    import subprocess
    import sys

    code = (
        "import threading, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "from llm_client_sync.cache import CacheBackend, ResponseCache\n"
        "class Frozen(CacheBackend):\n"
        "    def get(self, key, collection):\n"
        "        threading.Event().wait()\n"
        "cache = ResponseCache(Frozen(), timeout=0.1)\n"
        "print(cache.get('k', 'c'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         env={"LLM_CLIENT_SYNC_NO_DOTENV": "1"})
    assert (out.returncode, out.stdout.strip()) == (0, "None"), out.stderr
