"""Tool definitions we send are valid per the official OpenAPI spec (FunctionObject, ChatCompletionTool,
Responses FunctionTool) and their ``parameters`` are valid JSON Schema."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Literal, Optional, TypedDict

import pytest

from support import require_service, shared_dir

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

from llm_client_sync.tools import ToolRegistry, tool  # noqa: E402

SPEC = shared_dir() / "openai-wire" / "openapi" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    if not SPEC.exists():
        require_service(f"official OpenAPI spec not found at {SPEC}")
    with SPEC.open() as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _validator(spec, name):
    # OpenAPI 3.1 component schemas are JSON Schema 2020-12; refs resolve inside the document
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


class Unit(enum.Enum):
    METRIC = "metric"
    IMPERIAL = "imperial"


@dataclasses.dataclass
class Location:
    """Where to look.

    Args:
        city: City name.
        country: ISO country code.
    """

    city: str
    country: str = "JP"


class Window(TypedDict, total=False):
    days: int
    hourly: bool


@tool
def get_weather(location: Location, unit: Unit = Unit.METRIC, window: Optional[Window] = None) -> str:
    """Current weather and forecast.

    Args:
        location: Where.
        unit: Temperature unit.
        window: Forecast window.
    """
    return "sunny"


@tool(strict=True)
def search_web(query: Annotated[str, "What to search for"], max_results: int = 5,
               safe: Literal["off", "moderate", "strict"] = "moderate", sites: list[str] | None = None) -> list[str]:
    """Search the web."""
    return []


@tool
def no_params() -> str:
    """Takes nothing."""
    return "ok"


@tool(name="pair-tool")
def pairs(points: list[tuple[float, float]], labels: dict[str, int] | None = None) -> str:
    return "ok"


TOOLS = [get_weather, search_web, no_params, pairs]


@pytest.mark.parametrize("t", TOOLS, ids=lambda t: t.name)
def test_chat_tool_entry_matches_chatcompletiontool_and_functionobject(spec, t):
    entry = t.to_openai()
    _validator(spec, "ChatCompletionTool").validate(entry)
    _validator(spec, "FunctionObject").validate(entry["function"])
    _validator(spec, "FunctionParameters").validate(entry["function"]["parameters"])


@pytest.mark.parametrize("t", TOOLS, ids=lambda t: t.name)
def test_responses_tool_entry_matches_functiontool(spec, t):
    _validator(spec, "FunctionTool").validate(t.to_responses())


@pytest.mark.parametrize("t", TOOLS, ids=lambda t: t.name)
def test_parameters_are_valid_json_schema(t):
    jsonschema.Draft202012Validator.check_schema(t.parameters)


def test_spec_validation_can_fail(spec):
    # guards against a validator that accepts anything (e.g. a ref that resolved to {})
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec, "FunctionObject").validate({"description": "no name"})
    with pytest.raises(jsonschema.ValidationError):
        _validator(spec, "ChatCompletionTool").validate({"type": "function"})


def test_name_rule_of_the_spec_is_enforced_at_decoration(spec):
    from llm_client_sync.errors import ToolError

    rule = spec["components"]["schemas"]["FunctionObject"]["properties"]["name"]["description"]
    assert "a-z, A-Z, 0-9" in rule and "maximum length of 64" in rule
    for bad in ("with space", "dot.name", "x" * 65, ""):
        with pytest.raises(ToolError):
            tool(name=bad)(lambda: None)
    tool(name="A-z_09-" + "x" * 57)(lambda: None)


def test_strict_tool_meets_structured_outputs_rules():
    # strict mode: every object closed and every property required, at every depth
    def walk(schema):
        if schema.get("type") == "object" or (isinstance(schema.get("type"), list) and "object" in schema["type"]):
            if "properties" in schema:
                assert schema["additionalProperties"] is False
                assert sorted(schema["required"]) == sorted(schema["properties"])
                for sub in schema["properties"].values():
                    walk(sub)
        for sub in schema.get("anyOf", ()):
            walk(sub)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"])

    walk(search_web.parameters)
    assert search_web.to_openai()["function"]["strict"] is True


def test_arguments_valid_for_our_schema_are_valid_for_jsonschema_and_vice_versa():
    # our validator and the reference implementation agree on a spread of argument objects
    registry = ToolRegistry(TOOLS)
    samples = [
        {"location": {"city": "Tokyo"}},
        {"location": {"city": "Tokyo", "country": "JP"}, "unit": "imperial"},
        {"location": {"city": "Tokyo"}, "window": {"days": 3}},
        {"location": {"city": "Tokyo"}, "window": None},
        {"location": {"city": 3}},
        {"location": {}},
        {"location": {"city": "Tokyo"}, "unit": "kelvin"},
        {"location": {"city": "Tokyo"}, "window": {"days": "3"}},
        {"location": {"city": "Tokyo"}, "extra": 1},
        {"location": {"city": "Tokyo", "zip": "100"}},
        {},
    ]
    ref = jsonschema.Draft202012Validator(get_weather.parameters)
    for args in samples:
        ours = registry.execute("get_weather", args)
        assert ours.is_error == (not ref.is_valid(args)), (args, ours.content)
