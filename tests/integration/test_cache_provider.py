"""The cache behind OpenAIProvider, against the local server: hits skip the request; errors,
partial and abandoned streams are never stored; streams and complete() share entries."""

from __future__ import annotations

import threading
import warnings

import pytest

from llm_client_sync.cache import CacheBackend, CacheWarning
from llm_client_sync.errors import APIStatusError, StreamError

# the provider (issue 2) is written in parallel; these tests run as soon as it exists
OpenAIProvider = pytest.importorskip("llm_client_sync.providers.openai").OpenAIProvider
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.types import StreamEventType

SECRET = "sk-test-SECRET-4242"
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


@pytest.fixture
def server():
    with MockOpenAIServer() as server:
        yield server


@pytest.fixture
def provider(server, tmp_path):
    with OpenAIProvider(model="gpt-5-nano", api_key=SECRET, base_url=server.base_url,
                        cache_backend="fs", cache_dir=tmp_path) as provider:
        yield provider


def calls(server, path: str = "/chat/completions") -> int:
    return sum(1 for r in server.requests if r.path.endswith(path))


def test_identical_complete_is_served_from_the_cache(server, provider) -> None:
    server.add_text("Paris")
    first = provider.complete("Capital of France?")
    second = provider.complete("Capital of France?")
    assert (first.text, first.cached) == ("Paris", False)
    assert (second.text, second.cached) == ("Paris", True)
    assert second.usage == first.usage and second.model == first.model
    assert calls(server) == 1
    assert provider.cache.stats["hits"] == 1 and provider.cache.stats["writes"] == 1


def test_a_changed_parameter_or_collection_goes_to_the_api(server, provider) -> None:
    provider.complete("Capital of France?")
    provider.complete("Capital of France?", max_completion_tokens=50)
    provider.complete("Capital of France?", cache_collection="other")
    provider.complete("Capital of France?", reasoning_effort="low")
    assert calls(server) == 4
    provider.complete("Capital of France?", cache_collection="other")
    assert calls(server) == 4


def test_tool_calls_round_trip_through_the_cache(server, provider) -> None:
    server.add_tool_calls([("get_weather", {"city": "Tokyo"})])
    first = provider.complete("Weather in Tokyo?", tools=[TOOL])
    second = provider.complete("Weather in Tokyo?", tools=[TOOL])
    assert second.cached and calls(server) == 1
    assert [(t.id, t.name, dict(t.arguments)) for t in second.tool_calls] == \
        [(t.id, t.name, dict(t.arguments)) for t in first.tool_calls] == [(first.tool_calls[0].id, "get_weather",
                                                                          {"city": "Tokyo"})]


def test_an_error_is_never_cached(server, provider) -> None:
    server.add_error(400, message="bad request")
    with pytest.raises(APIStatusError):
        provider.complete("Hello")
    server.add_text("fine")
    assert provider.complete("Hello").text == "fine"
    assert provider.complete("Hello").cached
    assert calls(server) == 2


def test_a_stream_cut_midway_is_never_cached(server, provider) -> None:
    server.add_text("one two three four five six", drop_after=3)
    with pytest.raises(StreamError):
        with provider.stream("Count") as stream:
            for _ in stream:
                pass
    server.add_text("one two three four five six")
    assert not provider.complete("Count").cached
    assert calls(server) == 2


def test_a_stream_abandoned_early_is_never_cached(server, provider) -> None:
    server.add_text("one two three four five six")
    with provider.stream("Count") as stream:
        next(iter(stream))
    result = provider.complete("Count")
    assert not result.cached and calls(server) == 2


def test_a_finished_stream_is_stored_and_shared_with_complete(server, provider) -> None:
    server.add_text("streamed answer")
    with provider.stream("Say it") as stream:
        text = "".join(e.data for e in stream if e.type is StreamEventType.TOKEN)
    assert text == "streamed answer"
    again = provider.complete("Say it")
    assert again.cached and again.text == "streamed answer" and calls(server) == 1


def test_a_stream_is_replayed_from_the_cache(server, provider) -> None:
    server.add_text("cached words here")
    provider.complete("Replay")
    with provider.stream("Replay") as stream:
        events = list(stream)
    tokens = "".join(e.data for e in events if e.type is StreamEventType.TOKEN)
    assert tokens == "cached words here"
    assert events[-1].type is StreamEventType.DONE and stream.result().cached
    assert calls(server) == 1


def test_embeddings_are_cached(server, provider) -> None:
    first = provider.embed(["alpha", "beta"])
    second = provider.embed(["alpha", "beta"])
    assert list(second.vectors) == list(first.vectors) and calls(server, "/embeddings") == 1
    provider.embed(["alpha", "beta"], dimensions=4)
    assert calls(server, "/embeddings") == 2


def test_the_api_key_is_never_in_cache_files(server, provider, tmp_path) -> None:
    provider.complete("Hello")
    provider.embed(["x"])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert SECRET not in str(path) and SECRET not in path.read_text(encoding="utf-8")


def test_a_dead_backend_never_breaks_a_call(server) -> None:
    class Dead(CacheBackend):
        def get(self, key, collection):
            raise ConnectionError("cache down")

        set = delete = get

    with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, cache_backend=Dead()) as p:
        with pytest.warns(CacheWarning, match="cache down"):
            assert p.complete("Hello").text
            assert p.complete("Hello").text
    assert calls(server) == 2


def test_16_threads_asking_the_same_question(server, provider) -> None:
    server.add_text("shared")
    barrier = threading.Barrier(16)
    texts: list = []

    def ask() -> None:
        barrier.wait(10)
        texts.append(provider.complete("Same question").text)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(texts) == 16 and calls(server) <= 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert provider.complete("Same question").cached
    assert provider.cache.stats["errors"] == 0
