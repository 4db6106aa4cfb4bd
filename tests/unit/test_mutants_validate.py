"""Tool-argument validation, pinned down keyword by keyword (these tests kill mutants that survived
the behaviour tests in test_tools_validate*.py: each asserts the exact problems a model is told)."""

from __future__ import annotations

import re

import pytest

from llm_client_sync.tools._validate import MAX_DEPTH, SchemaError, check_schema, validate


# ---- types ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, good, bad", [
    ("string", "s", 1),
    ("integer", 3, "3"),
    ("integer", 3.0, 3.5),
    ("number", 2.5, "2.5"),
    ("boolean", False, 0),
    ("null", None, 0),
    ("array", [1], {"a": 1}),
    ("array", (1,), "ab"),
    ("object", {"a": 1}, [1]),
])
def test_each_type_accepts_its_values_and_rejects_others(kind, good, bad):
    assert validate(good, {"type": kind}) == []
    assert validate(bad, {"type": kind}) != []


def test_a_bool_is_neither_an_integer_nor_a_number():
    assert validate(True, {"type": "integer"}) == ["arguments: expected integer, got boolean True"]
    assert validate(False, {"type": "number"}) == ["arguments: expected number, got boolean False"]


@pytest.mark.parametrize("value, name", [
    (None, "null"), (True, "boolean"), (1, "integer"), (1.5, "number"), ("x", "string"),
    ([1], "array"), ({"k": 1}, "object"),
])
def test_the_type_error_names_the_json_type_of_the_value(value, name):
    kind = "null" if name != "null" else "string"
    assert validate(value, {"type": kind}) == [f"arguments: expected {kind}, got {name} {value!r}"]


def test_a_type_list_accepts_any_listed_type_and_names_them_all_when_none_fits():
    schema = {"type": ["string", "null"]}
    assert validate(None, schema) == []
    assert validate("a", schema) == []
    assert validate(1, schema) == ["arguments: expected string or null, got integer 1"]


def test_a_type_mismatch_stops_further_checks_on_that_value():
    assert validate(1, {"type": "string", "enum": ["a"], "minLength": 3}) == [
        "arguments: expected string, got integer 1"]


# ---- enum / const --------------------------------------------------------------------------------

def test_enum_and_const_use_json_equality():
    assert validate(1.0, {"enum": [1]}) == []
    assert validate(True, {"enum": [1]}) == ["arguments: True is not one of [1]"]
    assert validate(1, {"enum": [True]}) == ["arguments: 1 is not one of [True]"]
    assert validate(True, {"enum": [True]}) == []
    assert validate([1, [2]], {"const": [1, [2.0]]}) == []
    assert validate([1, 2], {"const": [1, 2, 3]}) == ["arguments: must be [1, 2, 3]"]
    assert validate([1, 3], {"const": [1, 2]}) == ["arguments: must be [1, 2]"]
    assert validate({"a": 1}, {"const": {"a": 1.0}}) == []
    assert validate({"a": 1}, {"const": {"a": 2}}) == ["arguments: must be {'a': 2}"]
    assert validate({"a": 1}, {"const": {"b": 1}}) == ["arguments: must be {'b': 1}"]


def test_an_enum_or_const_failure_stops_further_checks():
    assert validate("zz", {"enum": ["a"], "minLength": 5}) == ["arguments: 'zz' is not one of ['a']"]
    assert validate("zz", {"const": "a", "minLength": 5}) == ["arguments: must be 'a'"]


def test_long_values_are_shortened_in_messages():
    long = "x" * 70
    [message] = validate(long, {"type": "integer"})
    assert message == "arguments: expected integer, got string " + repr(long)[:57] + "..."
    exact = "y" * 58  # repr is 60 characters: shown in full
    assert validate(exact, {"type": "integer"}) == [f"arguments: expected integer, got string {exact!r}"]


# ---- combinators ---------------------------------------------------------------------------------

def test_all_of_reports_every_failing_branch():
    schema = {"allOf": [{"minimum": 5}, {"multipleOf": 2}]}
    assert validate(6, schema) == []
    assert validate(3, schema) == ["arguments: 3 breaks minimum 5", "arguments: 3 is not a multiple of 2"]


def test_any_of_passes_when_one_branch_fits_and_explains_the_first_branch_otherwise():
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert validate(None, schema) == []
    assert validate("a", schema) == []
    assert validate(5, schema) == [
        "arguments: 5 matches none of the allowed shapes (first: arguments: expected string, got integer 5)"]


def test_any_of_failure_detail_shows_at_most_two_problems_of_the_first_branch():
    schema = {"anyOf": [{"type": "string", "minLength": 9}, {"type": "null"}]}
    schema["anyOf"][0] = {"allOf": [{"minimum": 10}, {"maximum": 0}, {"multipleOf": 7}]}
    assert validate(5, schema) == [
        "arguments: 5 matches none of the allowed shapes (first: arguments: 5 breaks minimum 10; "
        "arguments: 5 breaks maximum 0)"]


def test_any_of_failure_stops_further_checks():
    schema = {"anyOf": [{"type": "string"}], "minimum": 10}
    assert len(validate(5, schema)) == 1


def test_one_of_needs_exactly_one_match():
    schema = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    assert validate(1, schema) == []
    assert validate("a", schema) == []
    assert validate(None, schema) == [
        "arguments: None matches none of the allowed shapes (first: arguments: expected integer, got null None)"]
    both = {"oneOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}]}
    assert validate(5, both) == ["arguments: 5 matches shapes [0, 1] of oneOf; it must match exactly one"]


def test_one_of_failure_stops_further_checks():
    assert len(validate(None, {"oneOf": [{"type": "string"}], "type": ["null"], "enum": [None], "not": {}})) == 1
    assert validate(5, {"oneOf": [{"type": "integer"}, {"minimum": 0}], "maximum": 1}) == [
        "arguments: 5 matches shapes [0, 1] of oneOf; it must match exactly one"]


def test_not_rejects_values_matching_its_schema_and_stops():
    schema = {"not": {"type": "string"}, "maximum": 1}
    assert validate(0, schema) == []
    assert validate("a", schema) == ["arguments: 'a' matches a shape that is not allowed"]


def test_if_then_else_picks_the_branch_by_the_condition():
    schema = {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"minimum": 10}}
    assert validate("ab", schema) == []
    assert validate("a", schema) == ["arguments: must be at least 2 characters"]
    assert validate(10, schema) == []
    assert validate(3, schema) == ["arguments: 3 breaks minimum 10"]
    assert validate(3, {"if": {"type": "string"}, "then": {"minimum": 10}}) == []
    assert validate("a", {"if": {"type": "string"}, "else": {"minLength": 10}}) == []


# ---- objects -------------------------------------------------------------------------------------

def test_required_properties_are_reported_by_path():
    schema = {"type": "object", "properties": {"inner": {"required": ["a", "b"]}}}
    assert validate({"inner": {"a": 1}}, schema) == ["inner.b: required property is missing"]
    assert validate({"a": 1}, {"required": ["a"]}) == []


def test_min_and_max_properties_are_inclusive_bounds():
    schema = {"minProperties": 2, "maxProperties": 3}
    assert validate({"a": 1}, schema) == ["arguments: needs at least 2 properties, got 1"]
    assert validate({"a": 1, "b": 2}, schema) == []
    assert validate({"a": 1, "b": 2, "c": 3}, schema) == []
    assert validate(dict.fromkeys("abcd", 1), schema) == ["arguments: allows at most 3 properties, got 4"]


def test_dependent_required_applies_only_when_its_property_is_given():
    schema = {"dependentRequired": {"card": ["cvv", "expiry"]}}
    assert validate({}, schema) == []
    assert validate({"card": 1, "cvv": 2, "expiry": 3}, schema) == []
    assert validate({"card": 1, "cvv": 2}, schema) == ["expiry: required when card is given"]


def test_dependent_schemas_apply_only_when_their_property_is_given():
    schema = {"dependentSchemas": {"card": {"required": ["cvv"]}}}
    assert validate({"x": 1}, schema) == []
    assert validate({"card": 1}, schema) == ["cvv: required property is missing"]


def test_property_names_are_checked_with_the_key_as_path():
    schema = {"propertyNames": {"pattern": "^[a-z]+$"}}
    assert validate({"ok": 1}, schema) == []
    assert validate({"Bad": 1}, schema) == ["Bad: does not match pattern '^[a-z]+$'"]


def test_pattern_properties_and_additional_properties():
    schema = {"properties": {"name": {"type": "string"}}, "patternProperties": {"^n_": {"type": "integer"}},
              "additionalProperties": False}
    assert validate({"name": "a", "n_1": 1}, schema) == []
    assert validate({"n_1": "x"}, schema) == ["n_1: expected integer, got string 'x'"]
    assert validate({"other": 1}, schema) == ["other: unexpected property (allowed: name)"]
    assert validate({"name": 1}, schema) == ["name: expected string, got integer 1"]
    assert validate({"x": 1}, {"additionalProperties": False}) == ["x: unexpected property (allowed: none)"]
    assert validate({"x": 1}, {"additionalProperties": {"type": "string"}}) == [
        "x: expected string, got integer 1"]
    assert validate({"x": 1}, {"properties": {"y": {}}}) == []


def test_a_property_matching_both_a_name_and_a_pattern_is_checked_against_both():
    schema = {"properties": {"n_a": {"type": "integer"}}, "patternProperties": {"^n_": {"minimum": 5}},
              "additionalProperties": False}
    assert validate({"n_a": 1}, schema) == ["n_a: 1 breaks minimum 5"]
    assert validate({"n_a": 7}, schema) == []


def test_nested_paths_join_with_dots_and_brackets():
    schema = {"properties": {"a": {"items": {"properties": {"b": {"type": "string"}}}}}}
    assert validate({"a": [{"b": "x"}, {"b": 1}]}, schema) == ["a[1].b: expected string, got integer 1"]
    assert validate({"b": 1}, {"properties": {"b": {"type": "string"}}}, "root") == [
        "root.b: expected string, got integer 1"]


# ---- arrays --------------------------------------------------------------------------------------

def test_min_and_max_items_are_inclusive_bounds():
    schema = {"minItems": 2, "maxItems": 3}
    assert validate([1], schema) == ["arguments: needs at least 2 items, got 1"]
    assert validate([1, 2], schema) == []
    assert validate([1, 2, 3], schema) == []
    assert validate([1, 2, 3, 4], schema) == ["arguments: allows at most 3 items, got 4"]


def test_prefix_items_then_items_check_the_rest():
    schema = {"prefixItems": [{"type": "string"}, {"type": "integer"}], "items": {"type": "boolean"}}
    assert validate(["a", 1, True, False], schema) == []
    assert validate(["a"], schema) == []
    assert validate([1, "a", 2], schema) == [
        "[0]: expected string, got integer 1", "[1]: expected integer, got string 'a'",
        "[2]: expected boolean, got integer 2"]
    assert validate([1, 2], {"items": {"type": "integer"}}) == []
    assert validate([1, "x"], {"items": {"type": "integer"}}) == ["[1]: expected integer, got string 'x'"]


def test_contains_counts_matching_items_within_min_and_max():
    schema = {"contains": {"type": "string"}, "minContains": 2, "maxContains": 3}
    assert validate([1, "a"], schema) == ["arguments: needs at least 2 item(s) matching 'contains', got 1"]
    assert validate(["a", "b"], schema) == []
    assert validate(["a", "b", "c"], schema) == []
    assert validate(["a", "b", "c", "d"], schema) == [
        "arguments: allows at most 3 item(s) matching 'contains', got 4"]
    assert validate([1, 2], {"contains": {"type": "string"}}) == [
        "arguments: needs at least 1 item(s) matching 'contains', got 0"]
    assert validate([1, "a"], {"contains": {"type": "string"}}) == []
    assert validate(["a"] * 5, {"contains": {"type": "string"}}) == []


def test_unique_items_uses_json_equality_and_reports_once():
    assert validate([1, 2], {"uniqueItems": True}) == []
    assert validate([1, True], {"uniqueItems": True}) == []
    assert validate([1, 1.0, 1, 1], {"uniqueItems": True}) == ["arguments: items must be unique, 1.0 repeats"]
    assert validate([1, 1], {"uniqueItems": False}) == []


# ---- strings and numbers -------------------------------------------------------------------------

def test_string_length_bounds_are_inclusive_and_pattern_searches():
    schema = {"minLength": 2, "maxLength": 3, "pattern": "b"}
    assert validate("ab", schema) == []
    assert validate("abc", schema) == []
    assert validate("b", schema) == ["arguments: must be at least 2 characters"]
    assert validate("abcd", schema) == ["arguments: must be at most 3 characters"]
    assert validate("xy", schema) == ["arguments: does not match pattern 'b'"]


def test_number_bounds():
    schema = {"minimum": 1, "maximum": 3}
    assert [validate(v, schema) for v in (1, 3)] == [[], []]
    assert validate(0, schema) == ["arguments: 0 breaks minimum 1"]
    assert validate(4, schema) == ["arguments: 4 breaks maximum 3"]
    schema = {"exclusiveMinimum": 1, "exclusiveMaximum": 3}
    assert validate(2, schema) == []
    assert validate(1, schema) == ["arguments: 1 breaks exclusiveMinimum 1"]
    assert validate(3, schema) == ["arguments: 3 breaks exclusiveMaximum 3"]


def test_non_finite_floats_are_not_json_numbers():
    assert validate(float("nan"), {"minimum": 0}) == ["arguments: nan is not a JSON number"]
    assert validate(float("-inf"), {}) == []  # an empty schema accepts anything
    assert validate(float("inf"), {"type": "number"}) == ["arguments: inf is not a JSON number"]


@pytest.mark.parametrize("value, step, ok", [
    (6, 3, True), (7, 3, False), (0.3, 0.1, True), (0.35, 0.1, False), (4.5, 1.5, True),
    (1e308, 1e-308, False), (10, 2.5, True), (2e10, 0.1, True), (2e10 + 0.05, 0.1, False),
])
def test_multiple_of(value, step, ok):
    errors = validate(value, {"multipleOf": step})
    assert errors == ([] if ok else [f"arguments: {value!r} is not a multiple of {step!r}"])


# ---- depth, errors cap ---------------------------------------------------------------------------

def test_nesting_exactly_at_the_limit_is_allowed_and_one_more_is_not():
    def nest(n):
        value: object = 0
        for _ in range(n):
            value = [value]
        return value
    assert validate(nest(MAX_DEPTH), {}) == []
    assert validate(nest(MAX_DEPTH + 1), {}) == [f"arguments: nested deeper than {MAX_DEPTH} levels"]
    assert validate({"a": nest(MAX_DEPTH)}, {}, "p") == [f"p: nested deeper than {MAX_DEPTH} levels"]


def test_a_schema_nested_past_the_limit_is_reported_not_raised():
    schema: dict = {}
    for _ in range(MAX_DEPTH + 5):
        schema = {"allOf": [schema]}
    assert validate(1, schema) == [f"arguments: nested deeper than {MAX_DEPTH} levels"]
    ok: dict = {}
    for _ in range(MAX_DEPTH - 1):
        ok = {"allOf": [ok]}
    assert validate(1, ok) == []


def test_a_broken_ref_at_validation_time_is_reported_as_an_invalid_schema():
    [message] = validate(1, {"$ref": "#/$defs/Missing"})
    assert message.startswith("arguments: the tool's schema is invalid (")
    assert "'#/$defs/Missing' does not resolve" in message


def test_at_most_ten_errors():
    errors = validate({}, {"required": [f"k{i}" for i in range(12)]})
    assert errors == [f"k{i}: required property is missing" for i in range(10)]


# ---- refs ----------------------------------------------------------------------------------------

def test_refs_follow_json_pointers_with_escapes_and_list_indexes():
    root = {"$defs": {"a/b": {"type": "string"}, "t~n": {"type": "integer"}},
            "list": [{"type": "null"}, {"type": "boolean"}]}
    assert validate(1, {"$ref": "#/$defs/a~1b"}, root=root) == ["arguments: expected string, got integer 1"]
    assert validate("x", {"$ref": "#/$defs/t~0n"}, root=root) == ["arguments: expected integer, got string 'x'"]
    assert validate(True, {"$ref": "#/list/1"}, root=root) == []
    assert validate(1, {"$ref": "#/list/1"}, root=root) == ["arguments: expected boolean, got integer 1"]
    assert validate(1, {"$ref": "#/list/2"}, root=root) != []
    assert validate(1, {"$ref": "#/list/x"}, root=root) != []
    whole = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    assert validate({"next": {"next": 1}}, whole) == ["next.next: expected object, got integer 1"]


def test_a_ref_and_sibling_keywords_both_apply():
    schema = {"$defs": {"S": {"type": "string"}}, "$ref": "#/$defs/S", "minLength": 2}
    assert validate("a", schema) == ["arguments: must be at least 2 characters"]
    assert validate(1, schema) == ["arguments: expected string, got integer 1"]


# ---- check_schema --------------------------------------------------------------------------------

@pytest.mark.parametrize("schema", [
    True, False, {}, {"type": ["string", "null"]}, {"x-extra": 1, "title": "t", "description": "d"},
    {"pattern": "^a$"}, {"multipleOf": 0.5}, {"multipleOf": 2},
    {"properties": {"a": {"type": "string"}}, "patternProperties": {"^x": {}}},
    {"prefixItems": []}, {"anyOf": [{}]}, {"$defs": {"A": {}}, "$ref": "#/$defs/A"}, {"$ref": "#"},
    {"items": {"not": {"type": "null"}}},
])
def test_check_schema_accepts_valid_schemas(schema):
    check_schema(schema)


@pytest.mark.parametrize("schema, fragment", [
    ([], "#: a schema must be an object or a boolean, got list"),
    ({"frobnicate": 1}, "#: unsupported JSON Schema keyword(s) ['frobnicate']"),
    ({"type": "str"}, "#/type: unknown type 'str'"),
    ({"type": ["string", "text"]}, "#/type: unknown type 'text'"),
    ({"$ref": "http://x/y"}, "#/$ref: only local references"),
    ({"$ref": 5}, "#/$ref: only local references"),
    ({"$ref": "#anchor"}, "#/$ref: anchors are not supported"),
    ({"$ref": "#/$defs/Nope"}, "#/$ref: '#/$defs/Nope' does not resolve"),
    ({"pattern": "("}, "#/pattern: does not compile"),
    ({"pattern": 5}, "#/pattern: does not compile"),
    ({"multipleOf": 0}, "#/multipleOf: must be a positive number, got 0"),
    ({"multipleOf": -1}, "#/multipleOf: must be a positive number"),
    ({"multipleOf": True}, "#/multipleOf: must be a positive number"),
    ({"multipleOf": "2"}, "#/multipleOf: must be a positive number"),
    ({"multipleOf": float("inf")}, "#/multipleOf: must be a positive number"),
    ({"properties": []}, "#/properties: must be an object"),
    ({"properties": {"a": {"bogus": 1}}}, "#/properties/a: unsupported"),
    ({"patternProperties": {"(": {}}}, "#/patternProperties: pattern '(' does not compile"),
    ({"anyOf": []}, "#/anyOf: must be a non-empty list of schemas"),
    ({"allOf": {}}, "#/allOf: must be a non-empty list of schemas"),
    ({"prefixItems": {}}, "#/prefixItems: must be a non-empty list of schemas"),
    ({"oneOf": [{}, 3]}, "#/oneOf/1: a schema must be an object"),
    ({"items": {"bogus": 1}}, "#/items: unsupported"),
    ({"not": 1}, "#/not: a schema must be"),
])
def test_check_schema_refuses_malformed_schemas_with_the_path(schema, fragment):
    with pytest.raises(SchemaError) as info:
        check_schema(schema)
    assert str(info.value).startswith(fragment)


def test_check_schema_refuses_a_schema_nested_past_the_limit():
    schema: dict = {}
    for _ in range(MAX_DEPTH + 1):
        schema = {"not": schema}
    with pytest.raises(SchemaError, match=f"nested deeper than {MAX_DEPTH} levels"):
        check_schema(schema)
    ok: dict = {}
    for _ in range(MAX_DEPTH):
        ok = {"not": ok}
    check_schema(ok)


def test_a_large_value_with_a_fraction_is_not_a_multiple_of_one():
    # regression: the rounding tolerance grew with the quotient and accepted any value above 5e8
    assert validate(1e9 + 0.5, {"multipleOf": 1}) == ["arguments: 1000000000.5 is not a multiple of 1"]
    assert validate(1e9, {"multipleOf": 1}) == []
    assert validate(19.99, {"multipleOf": 0.01}) == []
    assert validate(4.35, {"multipleOf": 0.05}) == []


@pytest.mark.parametrize("keyword", [
    "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples", "deprecated",
    "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType", "contentSchema",
    "discriminator", "strict", "nullable",
])
def test_annotation_keywords_are_accepted_and_change_nothing(keyword):
    check_schema({keyword: "x", "type": "integer"})
    assert validate(1, {keyword: "x", "type": "integer"}) == []
    assert validate("1", {keyword: "x", "type": "integer"}) == ["arguments: expected integer, got string '1'"]


@pytest.mark.parametrize("schema", [
    {"required": ["a"]}, {"minProperties": 1}, {"maxProperties": 1}, {"dependentRequired": {"a": ["b"]}},
    {"minItems": 1}, {"maxItems": 1}, {"uniqueItems": True}, {"contains": {}, "minContains": 1},
    {"contains": {}, "maxContains": 1}, {"minLength": 1}, {"maxLength": 1}, {"minimum": 1}, {"maximum": 1},
    {"exclusiveMinimum": 1}, {"exclusiveMaximum": 1}, {"enum": [1]}, {"const": 1},
    {"dependentSchemas": {"a": {}}}, {"propertyNames": {}}, {"if": {}, "then": {}, "else": {}},
    {"allOf": [{}]}, {"oneOf": [{}]}, {"definitions": {"A": {}}, "$ref": "#/definitions/A"},
])
def test_enforced_keywords_are_accepted_by_check_schema(schema):
    check_schema(schema)


def test_subschemas_under_every_keyword_are_checked():
    for key in ("patternProperties", "$defs", "definitions", "dependentSchemas"):
        with pytest.raises(SchemaError, match=re.escape(f"#/{key}/a: unsupported")):
            check_schema({key: {"a": {"bogus": 1}}})
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        with pytest.raises(SchemaError, match=f"#/{key}/0: unsupported"):
            check_schema({key: [{"bogus": 1}]})
    for key in ("additionalProperties", "items", "not", "if", "then", "else", "contains", "propertyNames"):
        with pytest.raises(SchemaError, match=f"#/{key}: unsupported"):
            check_schema({key: {"bogus": 1}})


def test_the_documented_depth_limit_is_one_hundred_levels():
    def nest(n):
        value: object = 0
        for _ in range(n):
            value = [value]
        return value
    assert validate(nest(100), {}) == []
    assert validate(nest(101), {}) == ["arguments: nested deeper than 100 levels"]


@pytest.mark.parametrize("kind", ["string", "integer", "number", "boolean", "null", "array", "object"])
def test_every_json_type_name_is_a_valid_schema_type(kind):
    check_schema({"type": kind})
    check_schema({"type": [kind]})


def test_check_schema_messages_in_full():
    with pytest.raises(SchemaError) as info:
        check_schema({"frobnicate": 1})
    assert str(info.value) == (
        "#: unsupported JSON Schema keyword(s) ['frobnicate']; tool arguments are validated before the "
        "function runs, so the schema may only use keywords that are enforced (see "
        "llm_client_sync.tools._validate)")
    schema: dict = {}
    for _ in range(MAX_DEPTH + 1):
        schema = {"not": schema}
    with pytest.raises(SchemaError) as info:
        check_schema(schema)
    assert str(info.value) == "#" + "/not" * (MAX_DEPTH + 1) + f": schema nested deeper than {MAX_DEPTH} levels"
    with pytest.raises(SchemaError) as info:
        check_schema({"x-ok": 1, "properties": {"a": 3}})
    assert str(info.value) == "#/properties/a: a schema must be an object or a boolean, got int"


@pytest.mark.parametrize("wrap", [
    lambda s: {"properties": {"a": s}},
    lambda s: {"$defs": {"a": s}},
    lambda s: {"allOf": [s]},
    lambda s: {"prefixItems": [s]},
])
def test_schema_depth_counts_one_level_per_map_or_list_keyword(wrap):
    schema: object = {}
    for _ in range(MAX_DEPTH):
        schema = wrap(schema)
    check_schema(schema)
    with pytest.raises(SchemaError, match=f"nested deeper than {MAX_DEPTH} levels$"):
        check_schema(wrap(schema))


def test_a_broken_ref_message_in_full():
    assert validate(1, {"$ref": "#/$defs/Missing"}) == [
        "arguments: the tool's schema is invalid (#/$ref: '#/$defs/Missing' does not resolve)"]


def test_value_nesting_is_measured_on_every_branch():
    def nest(n):
        value: object = 0
        for _ in range(n):
            value = [value]
        return value
    assert validate([nest(MAX_DEPTH), 0], {}) == [f"arguments: nested deeper than {MAX_DEPTH} levels"]
    assert validate({"a": nest(MAX_DEPTH), "b": "x"}, {}) == [f"arguments: nested deeper than {MAX_DEPTH} levels"]


def test_schema_nesting_exactly_at_the_limit_is_validated():
    schema: dict = {"type": "string"}
    for _ in range(MAX_DEPTH):
        schema = {"allOf": [schema]}
    assert validate(1, schema) == ["arguments: expected string, got integer 1"]
    assert validate(1, {"allOf": [schema]}) == [f"arguments: nested deeper than {MAX_DEPTH} levels"]


def test_a_false_schema_message():
    assert validate({"x": 1}, {"properties": {"x": False}}) == ["x: no value is allowed here"]


def test_an_empty_any_of_or_one_of_matches_nothing_without_detail():
    assert validate(1, {"anyOf": []}) == ["arguments: 1 matches none of the allowed shapes"]
    assert validate(1, {"oneOf": []}) == ["arguments: 1 matches none of the allowed shapes"]


def test_one_of_failure_detail_shows_two_problems_of_the_first_branch():
    schema = {"oneOf": [{"allOf": [{"minimum": 10}, {"maximum": 0}, {"multipleOf": 7}]}, {"type": "null"}]}
    assert validate(5, schema) == [
        "arguments: 5 matches none of the allowed shapes (first: arguments: 5 breaks minimum 10; "
        "arguments: 5 breaks maximum 0)"]


def test_comparing_containers_with_scalars_is_simply_unequal():
    assert validate([1], {"enum": [1]}) == ["arguments: [1] is not one of [1]"]
    assert validate(1, {"const": [1]}) == ["arguments: must be [1]"]
    assert validate({"a": 1}, {"const": 1}) == ["arguments: must be 1"]
    assert validate(1, {"enum": [{"a": 1}]}) == ["arguments: 1 is not one of [{'a': 1}]"]


class _Loop:
    def __repr__(self) -> str:
        return repr(self)


def test_a_value_whose_repr_recurses_is_named_by_its_type():
    assert validate(_Loop(), {"type": "string"}) == ["arguments: expected string, got _Loop <_Loop>"]


def test_a_value_one_character_too_long_is_shortened():
    value = "y" * 59  # repr is 61 characters
    assert validate(value, {"type": "integer"}) == [
        "arguments: expected integer, got string " + repr(value)[:57] + "..."]


def test_an_unexpected_property_message_lists_every_allowed_name():
    schema = {"properties": {"a": {}, "b": {}}, "additionalProperties": False}
    assert validate({"c": 1}, schema) == ["c: unexpected property (allowed: a, b)"]
