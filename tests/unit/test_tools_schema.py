"""@tool: JSON schema from type hints, docstrings, decoration-time errors, calling behaviour."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

try:
    from typing import NotRequired
except ImportError:  # Python 3.10
    from typing_extensions import NotRequired

import pytest

from llm_client_sync.errors import ToolError
from llm_client_sync.tools import Tool, ToolRegistry, sync_tool, tool
from llm_client_sync.tools._docstring import parse_docstring
from llm_client_sync.tools._schema import type_to_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass
class Point:
    """A point on the map.

    Attributes:
        x: Horizontal position.
        y: Vertical position.
    """

    x: float
    y: float = 0.0


class Filters(TypedDict):
    country: str
    max_results: NotRequired[int]


@pytest.mark.parametrize("hint, expected", [
    (str, {"type": "string"}),
    (int, {"type": "integer"}),
    (float, {"type": "number"}),
    (bool, {"type": "boolean"}),
    (None, {"type": "null"}),
    (Any, {}),
    (Optional[int], {"type": ["integer", "null"]}),
    (int | None, {"type": ["integer", "null"]}),
    (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
    (list[str], {"type": "array", "items": {"type": "string"}}),
    (list, {"type": "array"}),
    (set[int], {"type": "array", "uniqueItems": True, "items": {"type": "integer"}}),
    (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
    (tuple[int, str], {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}],
                       "minItems": 2, "maxItems": 2}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (dict, {"type": "object"}),
    (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
    (Literal[1, "a"], {"enum": [1, "a"]}),
    (Optional[Literal["a", "b"]], {"type": ["string", "null"], "enum": ["a", "b", None]}),
    (Color, {"type": "string", "enum": ["red", "blue"]}),
    (Level, {"type": "integer", "enum": [1, 2]}),
    (dt.date, {"type": "string", "format": "date"}),
    (Annotated[str, "The city"], {"type": "string", "description": "The city"}),
])
def test_type_hint_maps_to_json_schema(hint, expected):
    assert type_to_schema(hint) == expected


def test_dataclass_parameter_becomes_closed_object_with_field_docs():
    assert type_to_schema(Point) == {
        "type": "object",
        "description": "A point on the map.",
        "properties": {"x": {"type": "number", "description": "Horizontal position."},
                       "y": {"type": "number", "description": "Vertical position."}},
        "required": ["x"],
        "additionalProperties": False,
    }


def test_typeddict_required_keys_follow_total_and_notrequired():
    schema = type_to_schema(Filters)
    assert schema["properties"] == {"country": {"type": "string"}, "max_results": {"type": "integer"}}
    assert schema["required"] == ["country"]
    assert schema["additionalProperties"] is False


def test_nested_containers_of_dataclasses():
    schema = type_to_schema(list[Point])
    assert schema["type"] == "array" and schema["items"]["properties"]["x"] == {
        "type": "number", "description": "Horizontal position."}


@dataclasses.dataclass
class Node:
    value: int
    children: list["Node"]


def test_recursive_type_is_rejected_clearly():
    with pytest.raises(ToolError, match="recursive"):
        type_to_schema(Node)


@pytest.mark.parametrize("hint", [dict[int, str], complex, bytes, object])
def test_types_json_cannot_carry_are_rejected(hint):
    with pytest.raises(ToolError):
        type_to_schema(hint)


def test_defaults_make_parameters_optional():
    @tool
    def search(query: str, limit: int = 5, lang: str | None = None) -> list[str]:
        return []

    params = search.parameters
    assert params["required"] == ["query"]
    assert params["additionalProperties"] is False
    assert params["properties"]["lang"] == {"type": ["string", "null"]}


def test_var_args_rejected_at_decoration_time():
    with pytest.raises(ToolError, match=r"\*args"):
        @tool
        def f(*args: int) -> None: ...
    with pytest.raises(ToolError, match=r"\*\*kwargs"):
        @tool
        def g(city: str, **kwargs: Any) -> None: ...


def test_unsupported_parameter_type_names_tool_and_parameter():
    with pytest.raises(ToolError, match=r"tool 'h', parameter 'when'"):
        @tool
        def h(when: complex) -> None: ...


def test_bad_tool_name_rejected():
    with pytest.raises(ToolError, match="1-64"):
        tool(name="has space")(lambda: None)
    with pytest.raises(ToolError):
        Tool(lambda: None, name="x" * 65)


def test_decorated_function_stays_callable_and_keeps_metadata():
    @tool
    def add(a: int, b: int = 2) -> int:
        """Add two numbers."""
        return a + b

    assert add(1) == 3 and add(a=1, b=5) == 6
    assert add.__name__ == "add" and add.__doc__ == "Add two numbers."
    assert add.description == "Add two numbers."
    assert isinstance(add, Tool)


def test_decorator_options_name_description_strict():
    @tool(name="lookup", description="Look it up.", strict=True)
    def f(q: str, limit: int = 3) -> str:
        """Ignored summary."""
        return q

    entry = f.to_openai()
    assert entry == {"type": "function", "function": {
        "name": "lookup", "description": "Look it up.", "strict": True,
        "parameters": {"type": "object", "additionalProperties": False, "required": ["q", "limit"],
                       "properties": {"q": {"type": "string"}, "limit": {"type": ["integer", "null"]}}}}}


def test_strict_null_means_use_the_default():
    @tool(strict=True)
    def f(q: str, limit: int = 3) -> str:
        return f"{q}:{limit}"

    assert ToolRegistry([f]).execute("f", {"q": "x", "limit": None}).content == "x:3"


def test_strict_rejects_free_form_dicts():
    with pytest.raises(ToolError, match="strict"):
        @tool(strict=True)
        def f(extra: dict[str, str]) -> None: ...


def test_sync_tool_is_an_alias():
    assert sync_tool is tool

    @sync_tool
    def ping() -> str:
        return "pong"

    assert isinstance(ping, Tool) and ping.parameters["properties"] == {}


def test_async_tool_stays_a_coroutine_when_called_and_runs_to_completion_when_invoked():
    @tool
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return f"body of {url}"

    assert fetch.is_async
    coro = fetch("a")
    assert asyncio.iscoroutine(coro)
    assert asyncio.run(coro) == "body of a"
    assert fetch.invoke({"url": "b"}) == "body of b"


def test_async_tool_runs_even_inside_a_running_event_loop():
    # Jupyter calls sync code from inside a running loop; asyncio.run would refuse there.
    @tool
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return url.upper()

    async def main():
        return ToolRegistry([fetch]).execute("fetch", {"url": "x"})

    result = asyncio.run(main())
    assert (result.content, result.is_error) == ("X", False)


def test_tool_on_a_method_binds_self_and_hides_it_from_the_schema():
    class Shop:
        def __init__(self):
            self.stock = {"apple": 3}

        @tool
        def count(self, item: str) -> int:
            """How many of an item are in stock."""
            return self.stock.get(item, 0)

    assert "self" not in Shop.count.parameters["properties"]
    shop = Shop()
    assert shop.count("apple") == 3
    assert ToolRegistry([shop.count]).execute("count", {"item": "apple"}).content == "3"


def test_arguments_convert_to_annotated_types():
    seen = {}

    @tool
    def f(color: Color, where: Point, pair: tuple[int, str], when: dt.date, tags: set[str],
          level: Level = Level.LOW, ratio: float = 1.0) -> str:
        seen.update(locals())
        return "ok"

    res = ToolRegistry([f]).execute("f", '{"color": "blue", "where": {"x": 1}, "pair": [1, "a"], '
                                          '"when": "2026-01-02", "tags": ["a", "b"], "level": 2, "ratio": 2}')
    assert not res.is_error, res.content
    assert seen["color"] is Color.BLUE
    assert seen["where"] == Point(1, 0.0)
    assert seen["pair"] == (1, "a")
    assert seen["when"] == dt.date(2026, 1, 2)
    assert seen["tags"] == {"a", "b"}
    assert seen["level"] is Level.HIGH
    assert isinstance(seen["ratio"], float)


def test_union_argument_converts_with_the_matching_member():
    seen = []

    @tool
    def f(target: Union[Point, str]) -> str:
        seen.append(target)
        return "ok"

    registry = ToolRegistry([f])
    registry.execute("f", {"target": {"x": 2, "y": 3}})
    registry.execute("f", {"target": "home"})
    assert seen == [Point(2, 3), "home"]


# -- docstrings ----------------------------------------------------------------------------

GOOGLE = '''Get the weather for a city.

    Continues the summary? No: a second paragraph.

    Args:
        city (str): The city name,
            e.g. "Tokyo".
        units: Either "metric"
            or "imperial".

    Returns:
        A description.
    '''

NUMPY = '''Get the weather for a city.

    Parameters
    ----------
    city : str
        The city name,
        e.g. "Tokyo".
    units : {"metric", "imperial"}, optional
        Either "metric" or "imperial".

    Returns
    -------
    str
    '''

REST = '''Get the weather
    for a city.

    :param city: The city name,
        e.g. "Tokyo".
    :param str units: Either "metric" or "imperial".
    :type city: str
    :returns: A description.
    '''


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, REST], ids=["google", "numpy", "rest"])
def test_docstring_styles_give_summary_and_parameter_descriptions(doc):
    parsed = parse_docstring(doc)
    assert parsed.summary == "Get the weather for a city."
    assert parsed.params["city"] == 'The city name, e.g. "Tokyo".'
    assert parsed.params["units"].startswith('Either "metric"') and parsed.params["units"].endswith('"imperial".')


@pytest.mark.parametrize("doc", [GOOGLE, NUMPY, REST], ids=["google", "numpy", "rest"])
def test_docstring_descriptions_land_in_the_schema(doc):
    def get_weather(city: str, units: str = "metric") -> str:
        return city

    get_weather.__doc__ = doc
    t = tool(get_weather)
    assert t.description == "Get the weather for a city."
    assert t.parameters["properties"]["city"]["description"] == 'The city name, e.g. "Tokyo".'


def test_docstring_without_sections_and_empty_docstring():
    assert parse_docstring("Just one line.").summary == "Just one line."
    assert parse_docstring(None).summary == "" and parse_docstring("").params == {}
    assert parse_docstring("Args:\n    x: the x").summary == ""


def test_annotated_description_wins_over_docstring():
    @tool
    def f(city: Annotated[str, "From Annotated"]) -> str:
        """Summary.

        Args:
            city: From the docstring.
        """
        return city

    assert f.parameters["properties"]["city"]["description"] == "From Annotated"


def test_string_annotations_may_name_classes_local_to_the_caller():
    @dataclasses.dataclass
    class Box:
        width: int

    @tool
    def measure(box: Box) -> int:
        return box.width

    assert measure.parameters["properties"]["box"]["properties"] == {"width": {"type": "integer"}}
    assert ToolRegistry([measure]).execute("measure", {"box": {"width": 4}}).content == "4"
