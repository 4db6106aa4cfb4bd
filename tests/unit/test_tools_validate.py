"""The argument validator agrees with the reference jsonschema implementation on generated data."""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal, Optional, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_client_sync.tools._schema import type_to_schema
from llm_client_sync.tools._validate import validate

jsonschema = pytest.importorskip("jsonschema")


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


@dataclasses.dataclass
class Item:
    name: str
    qty: int = 1
    tags: list[str] = dataclasses.field(default_factory=list)


class Query(TypedDict, total=False):
    text: str
    limit: int


HINTS = [
    str, int, float, bool, Optional[int], list[int], tuple[int, str], tuple[float, ...], dict[str, bool],
    Literal["a", "b", 3], Mode, Item, Query, Optional[list[Item]], int | str, set[str],
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False, width=16)
    | st.sampled_from(["a", "b", "fast", "safe", "x", "name", "qty", "tags", "text", "limit"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["name", "qty", "tags", "text", "limit", "other"]), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("hint", HINTS, ids=str)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_validator_agrees_with_jsonschema(hint, value):
    schema = type_to_schema(hint)
    reference = jsonschema.Draft202012Validator(schema)
    assert (validate(value, schema) == []) == reference.is_valid(value), (schema, value)


def test_error_messages_name_the_path():
    schema = type_to_schema(list[Item])
    errors = validate([{"name": "a"}, {"name": 3, "qty": "x", "extra": 1}], schema)
    assert "[1].name: expected string, got integer 3" in errors
    assert "[1].qty: expected integer, got string 'x'" in errors
    assert any(e.startswith("[1].extra: unexpected property") for e in errors)


def test_at_most_ten_errors_are_reported():
    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(30)},
              "required": [f"p{i}" for i in range(30)]}
    assert len(validate({}, schema)) == 10
