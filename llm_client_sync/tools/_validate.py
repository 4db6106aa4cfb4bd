"""A JSON Schema validator for tool arguments, with messages a model can act on.

Covers what tool schemas (ours, hand-written, pydantic's ``model_json_schema()``) use: type,
enum, const, allOf/anyOf/oneOf (exclusive)/not, if/then/else, local ``$ref`` into ``$defs`` /
``definitions``, properties, required, additionalProperties, patternProperties, propertyNames,
min/maxProperties, dependentRequired, items, prefixItems, contains, array/string/number bounds,
multipleOf, pattern. ``check_schema`` refuses any other validation keyword (and remote refs)
when a Tool is created, so a schema is never half-enforced.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

__all__ = ["SchemaError", "check_schema", "validate"]

_MAX_ERRORS = 10
#: Nesting of schema checks (values, refs, combinators) before a value counts as too deep.
MAX_DEPTH = 100

# Keywords that only describe (JSON Schema 2020-12 annotations, OpenAI's strict extras).
_ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "$anchor", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType",
    "contentSchema", "discriminator", "strict", "nullable",
})
_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_SUBSCHEMA_ONE = ("additionalProperties", "items", "not", "if", "then", "else", "contains", "propertyNames")
_VALUES = frozenset({
    "type", "enum", "const", "required", "minProperties", "maxProperties", "dependentRequired",
    "minItems", "maxItems", "uniqueItems", "minContains", "maxContains", "minLength", "maxLength",
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "$ref",
})
_KNOWN = _ANNOTATIONS | _VALUES | set(_SUBSCHEMA_MAPS) | set(_SUBSCHEMA_LISTS) | set(_SUBSCHEMA_ONE)
_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "array", "object"})


class SchemaError(ValueError):
    """A schema uses a keyword this validator does not enforce, or is malformed."""


class _TooDeep(Exception):
    pass


def check_schema(schema: Any, path: str = "#") -> None:
    """Raise SchemaError unless every keyword in ``schema`` is one ``validate`` enforces (or a
    pure annotation), every ``$ref`` is local and resolves, and patterns compile."""
    _check_schema(schema, schema, path, 0)


def _check_schema(node: Any, root: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: schema nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, bool):
        return
    if not isinstance(node, Mapping):
        raise SchemaError(f"{path}: a schema must be an object or a boolean, got {type(node).__name__}")
    unknown = sorted(k for k in node if k not in _KNOWN and not str(k).startswith("x-"))
    if unknown:
        raise SchemaError(f"{path}: unsupported JSON Schema keyword(s) {unknown}; tool arguments are "
                          "validated before the function runs, so the schema may only use keywords "
                          "that are enforced (see llm_client_sync.tools._validate)")
    kind = node.get("type")
    for k in (kind if isinstance(kind, list) else [kind] if kind is not None else []):
        if k not in _TYPES:
            raise SchemaError(f"{path}/type: unknown type {k!r} (valid: {sorted(_TYPES)})")
    if "$ref" in node:
        _resolve(root, node["$ref"], path)
    if "pattern" in node:
        try:
            re.compile(node["pattern"])
        except (re.error, TypeError) as exc:
            raise SchemaError(f"{path}/pattern: does not compile: {exc}") from exc
    if "multipleOf" in node:
        m = node["multipleOf"]
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not (m > 0 and math.isfinite(m)):
            raise SchemaError(f"{path}/multipleOf: must be a positive number, got {m!r}")
    for key in _SUBSCHEMA_MAPS:
        sub = node.get(key)
        if sub is not None:
            if not isinstance(sub, Mapping):
                raise SchemaError(f"{path}/{key}: must be an object")
            for name, s in sub.items():
                if key == "patternProperties":
                    try:
                        re.compile(name)
                    except re.error as exc:
                        raise SchemaError(f"{path}/{key}: pattern {name!r} does not compile: {exc}") from exc
                _check_schema(s, root, f"{path}/{key}/{name}", depth + 1)
    for key in _SUBSCHEMA_LISTS:
        sub = node.get(key)
        if sub is not None:
            if not isinstance(sub, list) or (key != "prefixItems" and not sub):
                raise SchemaError(f"{path}/{key}: must be a non-empty list of schemas")
            for i, s in enumerate(sub):
                _check_schema(s, root, f"{path}/{key}/{i}", depth + 1)
    for key in _SUBSCHEMA_ONE:
        if key in node:
            _check_schema(node[key], root, f"{path}/{key}", depth + 1)


def _resolve(root: Any, ref: Any, path: str = "#") -> Any:
    """The subschema a local ``$ref`` (``#``, ``#/$defs/Name``, any JSON pointer) points to."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        raise SchemaError(f"{path}/$ref: only local references (#/...) are supported, got {ref!r}")
    node = root
    pointer = ref[1:]
    if pointer and not pointer.startswith("/"):
        raise SchemaError(f"{path}/$ref: anchors are not supported, got {ref!r}")
    for part in pointer.split("/")[1:] if pointer else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SchemaError(f"{path}/$ref: {ref!r} does not resolve")
    return node


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "array":
        return isinstance(value, (list, tuple))
    if kind == "object":
        return isinstance(value, Mapping)
    return True


def _json_type(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _type_ok(value, kind):
            return kind
    return type(value).__name__


def validate(value: Any, schema: Mapping[str, Any] | bool, path: str = "", *,
             root: Mapping[str, Any] | bool | None = None) -> list[str]:
    """Every way ``value`` breaks ``schema`` (at most ten), as "path: problem" strings.

    ``schema`` False rejects every value, True and ``{}`` accept every value. ``$ref`` resolves
    against ``root`` (default: ``schema`` itself). A value nested deeper than ``MAX_DEPTH``
    levels is reported as an error, never a RecursionError.
    """
    if _too_deep(value, MAX_DEPTH):
        return [f"{_where(path)}: nested deeper than {MAX_DEPTH} levels"]
    errors: list[str] = []
    try:
        _check(value, schema, path, errors, schema if root is None else root, 0)
    except _TooDeep:
        errors.append(f"{_where(path)}: nested deeper than {MAX_DEPTH} levels")
    except SchemaError as exc:
        errors.append(f"{_where(path)}: the tool's schema is invalid ({exc})")
    return errors[:_MAX_ERRORS]


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _where(path: str) -> str:
    return path or "arguments"


def _sub(value: Any, schema: Any, path: str, root: Any, depth: int) -> list[str]:
    errors: list[str] = []
    _check(value, schema, path, errors, root, depth)
    return errors


def _check(value: Any, schema: Mapping[str, Any] | bool, path: str, errors: list[str], root: Any,
           depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _TooDeep
    if schema is False:
        errors.append(f"{_where(path)}: no value is allowed here")
        return
    if schema is True or not schema:
        return
    depth += 1
    if "$ref" in schema:
        _check(value, _resolve(root, schema["$ref"]), path, errors, root, depth)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(value, k) for k in kinds):
            errors.append(f"{_where(path)}: expected {' or '.join(kinds)}, got {_json_type(value)} {_short(value)}")
            return
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        errors.append(f"{_where(path)}: {_short(value)} is not one of {list(schema['enum'])!r}")
        return
    if "const" in schema and not _same(value, schema["const"]):
        errors.append(f"{_where(path)}: must be {schema['const']!r}")
        return
    for sub in schema.get("allOf", ()):
        _check(value, sub, path, errors, root, depth)
    if "anyOf" in schema:
        options = schema["anyOf"]
        results = [_sub(value, s, path, root, depth) for s in options]
        if all(results):
            detail = "; ".join(results[0][:2]) if results else ""
            errors.append(f"{_where(path)}: {_short(value)} matches none of the allowed shapes"
                          + (f" (first: {detail})" if detail else ""))
            return
    if "oneOf" in schema:
        options = schema["oneOf"]
        results = [_sub(value, s, path, root, depth) for s in options]
        matched = [i for i, r in enumerate(results) if not r]
        if not matched:
            detail = "; ".join(results[0][:2]) if results else ""
            errors.append(f"{_where(path)}: {_short(value)} matches none of the allowed shapes"
                          + (f" (first: {detail})" if detail else ""))
            return
        if len(matched) > 1:
            errors.append(f"{_where(path)}: {_short(value)} matches shapes {matched} of oneOf; "
                          "it must match exactly one")
            return
    if "not" in schema and not _sub(value, schema["not"], path, root, depth):
        errors.append(f"{_where(path)}: {_short(value)} matches a shape that is not allowed")
        return
    if "if" in schema:
        branch = "then" if not _sub(value, schema["if"], path, root, depth) else "else"
        if branch in schema:
            _check(value, schema[branch], path, errors, root, depth)
    if isinstance(value, Mapping):
        _check_object(value, schema, path, errors, root, depth)
    elif isinstance(value, (list, tuple)):
        _check_array(value, schema, path, errors, root, depth)
    elif isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)


def _same(a: Any, b: Any) -> bool:
    # JSON Schema equality: 1 == 1.0, but true is not 1; arrays and objects compare deeply
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _check_object(value: Mapping[str, Any], schema: Mapping[str, Any], path: str, errors: list[str],
                  root: Any, depth: int) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(f"{_join(path, name)}: required property is missing")
    n = len(value)
    if "minProperties" in schema and n < schema["minProperties"]:
        errors.append(f"{_where(path)}: needs at least {schema['minProperties']} properties, got {n}")
    if "maxProperties" in schema and n > schema["maxProperties"]:
        errors.append(f"{_where(path)}: allows at most {schema['maxProperties']} properties, got {n}")
    for name, needed in (schema.get("dependentRequired") or {}).items():
        if name in value:
            for other in needed:
                if other not in value:
                    errors.append(f"{_join(path, other)}: required when {name} is given")
    for name, sub in (schema.get("dependentSchemas") or {}).items():
        if name in value:
            _check(value, sub, path, errors, root, depth)
    if "propertyNames" in schema:
        for key in value:
            _check(key, schema["propertyNames"], _join(path, str(key)), errors, root, depth)
    patterns = schema.get("patternProperties") or {}
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        matched = False
        if key in props:
            matched = True
            _check(item, props[key], _join(path, key), errors, root, depth)
        for pattern, sub in patterns.items():
            if isinstance(key, str) and re.search(pattern, key):
                matched = True
                _check(item, sub, _join(path, key), errors, root, depth)
        if matched:
            continue
        if extra is False:
            allowed = ", ".join(props) or "none"
            errors.append(f"{_join(path, key)}: unexpected property (allowed: {allowed})")
        elif isinstance(extra, Mapping):
            _check(item, extra, _join(path, key), errors, root, depth)


def _check_array(value: Any, schema: Mapping[str, Any], path: str, errors: list[str], root: Any,
                 depth: int) -> None:
    n = len(value)
    if "minItems" in schema and n < schema["minItems"]:
        errors.append(f"{_where(path)}: needs at least {schema['minItems']} items, got {n}")
    if "maxItems" in schema and n > schema["maxItems"]:
        errors.append(f"{_where(path)}: allows at most {schema['maxItems']} items, got {n}")
    prefix = schema.get("prefixItems") or []
    for i, sub in enumerate(prefix[:n]):
        _check(value[i], sub, f"{path}[{i}]", errors, root, depth)
    items = schema.get("items")
    if items is not None:
        for i in range(len(prefix), n):
            _check(value[i], items, f"{path}[{i}]", errors, root, depth)
    if "contains" in schema:
        hits = sum(1 for item in value if not _sub(item, schema["contains"], path, root, depth))
        low = schema.get("minContains", 1)
        high = schema.get("maxContains")
        if hits < low:
            errors.append(f"{_where(path)}: needs at least {low} item(s) matching 'contains', got {hits}")
        elif high is not None and hits > high:
            errors.append(f"{_where(path)}: allows at most {high} item(s) matching 'contains', got {hits}")
    if schema.get("uniqueItems"):
        seen: list[Any] = []
        for item in value:
            if any(_same(item, s) for s in seen):
                errors.append(f"{_where(path)}: items must be unique, {_short(item)} repeats")
                break
            seen.append(item)


def _check_string(value: str, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{_where(path)}: must be at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{_where(path)}: must be at most {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{_where(path)}: does not match pattern {schema['pattern']!r}")


def _check_number(value: float, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(f"{_where(path)}: {value!r} is not a JSON number")
        return
    for key, ok in (("minimum", value >= schema.get("minimum", value)),
                    ("maximum", value <= schema.get("maximum", value)),
                    ("exclusiveMinimum", "exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"]),
                    ("exclusiveMaximum", "exclusiveMaximum" not in schema or value < schema["exclusiveMaximum"])):
        if not ok:
            errors.append(f"{_where(path)}: {value!r} breaks {key} {schema[key]!r}")
    if "multipleOf" in schema and not _multiple(value, schema["multipleOf"]):
        errors.append(f"{_where(path)}: {value!r} is not a multiple of {schema['multipleOf']!r}")


def _multiple(value: float, step: float) -> bool:
    if isinstance(value, int) and isinstance(step, int):
        return value % step == 0
    quotient = value / step
    if not math.isfinite(quotient):
        return False
    # 0.3 / 0.1 is 2.9999999999999996: accept a quotient within float rounding of an integer
    # (a few ulps of the quotient; a tolerance relative to the quotient itself would reach 0.5 at
    # a quotient of 5e8 and accept 1e9 + 0.5 as a multiple of 1)
    return abs(quotient - round(quotient)) <= max(1e-9, 8 * math.ulp(quotient))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
