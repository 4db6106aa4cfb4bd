"""User-supplied tool schemas are enforced in full before the function runs (or refused at creation)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_client_sync.errors import ToolError
from llm_client_sync.tools import Tool, ToolRegistry
from llm_client_sync.tools._validate import MAX_DEPTH, check_schema, validate
from llm_client_sync.types import ToolCall


def test_false_schema_rejects_every_value_and_true_accepts_every_value():
    for value in (None, 0, "", {}, [], {"a": 1}):
        assert validate(value, False), value
        assert validate(value, True) == []
        assert validate(value, {}) == []
    assert validate({"x": 1}, {"type": "object", "properties": {"x": False}})


PERSON = {
    "$defs": {
        "Address": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
                    "required": ["zip"], "additionalProperties": False},
        "Node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}}},
    },
    "type": "object",
    "properties": {"address": {"$ref": "#/$defs/Address"}, "chain": {"$ref": "#/$defs/Node"}},
}


@pytest.mark.parametrize("value, ok", [
    ({"address": {"zip": "12345"}}, True),
    ({"address": {"zip": "1234"}}, False),
    ({"address": {"zip": "12345", "x": 1}}, False),
    ({"address": {}}, False),
    ({"chain": {"next": {"next": None}}}, True),
    ({"chain": {"next": {"next": 5}}}, False),
])
def test_local_refs_into_defs_are_resolved(value, ok):
    assert (validate(value, PERSON) == []) is ok


@pytest.mark.parametrize("schema, good, bad", [
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, [2.5], [3, "x"]),  # 3 matches both
    ({"not": {"type": "string"}}, [1, None], ["s"]),
    ({"type": "number", "multipleOf": 0.1}, [0.3, 1, 2.2], [0.35]),
    ({"type": "integer", "multipleOf": 3}, [9, 0], [10]),
    ({"type": "object", "minProperties": 1, "maxProperties": 2}, [{"a": 1}, {"a": 1, "b": 2}],
     [{}, {"a": 1, "b": 2, "c": 3}]),
    ({"if": {"properties": {"kind": {"const": "a"}}}, "then": {"required": ["a"]}, "else": {"required": ["b"]}},
     [{"kind": "a", "a": 1}, {"kind": "z", "b": 1}], [{"kind": "a", "b": 1}, {"kind": "z", "a": 1}]),
    ({"const": {"x": [1, 2]}}, [{"x": [1, 2]}], [{"x": [1, 3]}, {"x": [True, 2]}]),
    ({"type": "object", "dependentRequired": {"card": ["cvv"]}}, [{"card": 1, "cvv": 2}, {}], [{"card": 1}]),
    ({"type": "object", "patternProperties": {"^n_": {"type": "integer"}}, "additionalProperties": False},
     [{"n_a": 1}], [{"n_a": "x"}, {"other": 1}]),
    ({"type": "object", "propertyNames": {"maxLength": 3}}, [{"abc": 1}], [{"abcd": 1}]),
    ({"type": "array", "contains": {"type": "string"}, "maxContains": 1}, [[1, "a"]], [[1, 2], ["a", "b"]]),
])
def test_keywords_are_enforced(schema, good, bad):
    check_schema(schema)
    for value in good:
        assert validate(value, schema) == [], (schema, value)
    for value in bad:
        assert validate(value, schema), (schema, value)


@pytest.mark.parametrize("schema, what", [
    ({"type": "object", "unevaluatedProperties": False}, "unevaluatedProperties"),
    ({"$ref": "https://example.com/schema.json"}, "only local references"),
    ({"$ref": "#/$defs/Missing"}, "does not resolve"),
    ({"type": "strng"}, "unknown type"),
    ({"type": "string", "pattern": "("}, "does not compile"),
    ({"type": "number", "multipleOf": 0}, "multipleOf"),
    ({"properties": {"a": {"$dynamicRef": "#x"}}}, "$dynamicRef"),
])
def test_a_schema_using_an_unenforced_keyword_is_refused_when_the_tool_is_created(schema, what):
    def f(a: int = 0) -> str:
        """F."""
        return "ran"

    with pytest.raises(ToolError, match="f") as info:
        Tool(f, parameters=schema)
    assert what in str(info.value)


def test_a_value_failing_a_user_schema_never_reaches_the_function():
    calls = []

    def pick(choice: Any) -> str:
        """Pick one."""
        calls.append(choice)
        return "ok"

    schema = {"type": "object", "properties": {"choice": {"oneOf": [{"type": "integer"}, {"type": "number"}],
                                                          "not": {"const": 13}}},
              "required": ["choice"]}
    registry = ToolRegistry([Tool(pick, parameters=schema)])
    for bad in ('{"choice": 3}', '{"choice": "x"}', '{"choice": 13.0}', "{}"):
        result = registry.execute("pick", bad)
        assert result.is_error and result.error_kind == "invalid_arguments", bad
    assert calls == []
    assert registry.execute("pick", '{"choice": 2.5}').content == "ok"
    assert calls == [2.5]


def test_pydantic_model_json_schema_is_enforced():
    pydantic = pytest.importorskip("pydantic")

    class Address(pydantic.BaseModel):
        street: str
        zip: str = pydantic.Field(pattern=r"^\d{5}$")

    class Order(pydantic.BaseModel):
        quantity: int = pydantic.Field(ge=1, multiple_of=2)
        address: Address
        note: str | None = None

    ran = []

    def place(quantity: int, address: dict, note: str | None = None) -> str:
        """Place an order."""
        ran.append(quantity)
        return "placed"

    registry = ToolRegistry([Tool(place, parameters=Order.model_json_schema())])
    good = {"quantity": 2, "address": {"street": "Main", "zip": "12345"}}
    for bad in ({**good, "quantity": 3}, {**good, "quantity": 0}, {**good, "address": {"street": "Main", "zip": "1"}},
                {**good, "address": {"zip": "12345"}}, {"address": good["address"]}):
        assert registry.execute("place", json.dumps(bad)).error_kind == "invalid_arguments", bad
    assert ran == []
    assert registry.execute("place", json.dumps(good)).content == "placed"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 5, 5_000, 200_000])
def test_deeply_nested_arguments_are_a_tool_error_never_a_crash(depth):
    def echo(data: Any) -> str:
        """Echo."""
        return "ran"

    raw = '{"data": ' + "[" * depth + "]" * depth + "}"
    registry = ToolRegistry([echo])
    result = registry.execute("echo", raw)
    assert result.is_error and result.error_kind == "invalid_arguments"
    assert "nested" in result.content
    call = ToolCall.from_raw("call_1", "echo", raw)  # the path a model's tool call takes
    result = registry.execute_call(call)
    assert result.is_error and "nested" in result.content


def test_deeply_nested_mapping_arguments_are_refused_without_recursion():
    value: object = []
    for _ in range(50_000):
        value = [value]

    def echo(data: Any) -> str:
        """Echo."""
        return "ran"

    result = ToolRegistry([echo]).execute("echo", {"data": value})
    assert result.is_error and "nested deeper" in result.content


def test_a_cyclic_ref_is_an_error_not_a_recursion():
    schema = {"$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}
    check_schema(schema)
    assert validate({}, schema)
