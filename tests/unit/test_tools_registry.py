"""ToolRegistry.execute: validation before user code, error results, output encoding and caps."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from llm_client_sync.errors import ToolError
from llm_client_sync.tools import DEFAULT_MAX_OUTPUT_CHARS, Tool, ToolRegistry, ToolResult, tool
from llm_client_sync.types import ToolCall

calls: list[dict] = []


@tool
def get_weather(city: str, days: int = 1) -> dict:
    """Weather forecast for a city."""
    calls.append({"city": city, "days": days})
    return {"city": city, "days": days, "temp_c": 22}


@tool
def boom(reason: str) -> str:
    raise RuntimeError(f"exploded: {reason}")


@pytest.fixture(autouse=True)
def _clear_calls():
    calls.clear()


@pytest.fixture
def registry():
    return ToolRegistry([get_weather, boom])


def test_registry_lists_tools_and_builds_tools_param(registry):
    assert registry.names() == ["get_weather", "boom"]
    assert "get_weather" in registry and len(registry) == 2
    assert registry.get("get_weather") is get_weather and registry.get("nope") is None
    assert [t["function"]["name"] for t in registry.to_openai()] == ["get_weather", "boom"]
    assert registry.to_responses()[0]["name"] == "get_weather"


def test_register_plain_function_wraps_it():
    def ping() -> str:
        """Ping."""
        return "pong"

    registry = ToolRegistry()
    t = registry.register(ping)
    assert isinstance(t, Tool) and registry.execute("ping").content == "pong"


def test_duplicate_name_raises_unless_replace(registry):
    with pytest.raises(ToolError, match="already registered"):
        registry.register(get_weather)
    registry.register(get_weather, name="weather2")
    registry.register(get_weather, replace=True)
    assert registry.names() == ["get_weather", "boom", "weather2"]
    registry.unregister("weather2")
    assert "weather2" not in registry


def test_execute_json_string_and_dict_alike(registry):
    a = registry.execute("get_weather", '{"city": "Tokyo"}', tool_call_id="call_1")
    b = registry.execute("get_weather", {"city": "Tokyo"})
    assert a.content == b.content == '{"city": "Tokyo", "days": 1, "temp_c": 22}'
    assert (a.tool_call_id, a.name, a.is_error, a.error_kind) == ("call_1", "get_weather", False, None)
    assert a.duration >= 0
    assert a.to_message() == {"role": "tool", "tool_call_id": "call_1", "content": a.content}


@pytest.mark.parametrize("arguments, fragment", [
    ('{"city": "Tokyo"', "not valid JSON"),
    ("[1, 2]", "must be a JSON object, got list"),
    ('"Tokyo"', "must be a JSON object, got str"),
    ("{}", "city: required property is missing"),
    ('{"city": "Tokyo", "country": "JP"}', "country: unexpected property"),
    ('{"city": 42}', "city: expected string, got integer 42"),
    ('{"city": "Tokyo", "days": "two"}', "days: expected integer, got string"),
    ('{"city": "Tokyo", "days": true}', "days: expected integer, got boolean"),
    ('{"city": "Tokyo", "days": 1.5}', "days: expected integer, got number"),
])
def test_bad_arguments_never_reach_user_code(registry, arguments, fragment):
    res = registry.execute("get_weather", arguments)
    assert res.is_error and res.error_kind == "invalid_arguments"
    assert fragment in res.content
    assert '"required":["city"]' in res.content  # the schema is shown so the model can fix it
    assert calls == []


def test_integral_float_is_accepted_for_an_integer(registry):
    res = registry.execute("get_weather", '{"city": "Tokyo", "days": 2.0}')
    assert not res.is_error and calls == [{"city": "Tokyo", "days": 2}]


def test_unknown_tool_is_an_error_result_listing_tools(registry):
    res = registry.execute("get_wether", "{}")
    assert res.is_error and res.error_kind == "unknown_tool"
    assert "unknown tool 'get_wether'" in res.content and "get_weather, boom" in res.content


def test_exception_in_tool_becomes_error_result(registry):
    res = registry.execute("boom", {"reason": "on purpose"})
    assert res.is_error and res.error_kind == "exception"
    assert res.content == "Error: boom raised RuntimeError: exploded: on purpose"


def test_empty_argument_string_means_no_arguments():
    @tool
    def now() -> str:
        return "noon"

    assert ToolRegistry([now]).execute("now", "").content == "noon"


@dataclasses.dataclass
class Report:
    title: str
    tags: tuple[str, ...]


def test_non_string_results_are_json_encoded():
    @tool
    def make(kind: str) -> object:
        return {"none": None, "num": 3, "list": [1, "é"], "dc": Report("t", ("a",)), "set": {1}}[kind]

    registry = ToolRegistry([make])
    assert registry.execute("make", {"kind": "none"}).content == "null"
    assert registry.execute("make", {"kind": "num"}).content == "3"
    assert registry.execute("make", {"kind": "list"}).content == '[1, "é"]'
    assert json.loads(registry.execute("make", {"kind": "dc"}).content) == {"title": "t", "tags": ["a"]}
    assert registry.execute("make", {"kind": "set"}).content == "[1]"


def test_long_output_is_cut_with_a_marker():
    @tool
    def big(n: int) -> str:
        return "x" * n

    registry = ToolRegistry([big], max_output_chars=100)
    res = registry.execute("big", {"n": 250})
    assert res.content.startswith("x" * 100) and not res.content.startswith("x" * 101)
    assert res.content.endswith("[output truncated: 150 more characters]")
    assert registry.execute("big", {"n": 100}).content == "x" * 100
    assert registry.execute("big", {"n": 250}, max_output_chars=None).content == "x" * 250
    assert ToolRegistry().max_output_chars == DEFAULT_MAX_OUTPUT_CHARS == 32_000


def test_execute_call_reports_the_providers_json_error():
    registry = ToolRegistry([get_weather])
    bad = ToolCall.from_raw("call_9", "get_weather", '{"city": "Tok')
    res = registry.execute_call(bad)
    assert res.tool_call_id == "call_9" and res.error_kind == "invalid_arguments"
    assert "not valid JSON" in res.content and calls == []
    good = registry.execute_call(ToolCall.from_raw("call_10", "get_weather", '{"city": "Oslo"}'))
    assert not good.is_error and calls == [{"city": "Oslo", "days": 1}]


def test_tool_result_is_frozen():
    res = ToolResult("id", "n", "c")
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.content = "other"  # type: ignore[misc]


def test_registry_executes_from_many_threads_while_registering():
    registry = ToolRegistry([get_weather])
    errors: list[ToolResult] = []
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        for j in range(50):
            res = registry.execute("get_weather", {"city": f"c{i}-{j}"})
            if res.is_error:
                errors.append(res)
            if i == 0:
                registry.register(Tool(lambda: "x", name=f"extra_{j}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(calls) == 400 and len(registry) == 51
