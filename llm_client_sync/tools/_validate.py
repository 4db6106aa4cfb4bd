"""A small JSON Schema validator for tool arguments, with messages a model can act on.

Covers the subset tool schemas use (type, enum, const, anyOf/oneOf/allOf, properties, required,
additionalProperties, items, prefixItems, array/string/number bounds, pattern); unknown
keywords are ignored, as JSON Schema says.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["validate"]

_MAX_ERRORS = 10


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


def validate(value: Any, schema: Mapping[str, Any] | bool, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema`` (at most ten), as "path: problem" strings."""
    errors: list[str] = []
    _check(value, schema, path, errors)
    return errors[:_MAX_ERRORS]


def _where(path: str) -> str:
    return path or "arguments"


def _check(value: Any, schema: Mapping[str, Any] | bool, path: str, errors: list[str]) -> None:
    if schema is True or not schema:
        return
    if schema is False:
        errors.append(f"{_where(path)}: no value is allowed here")
        return
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
        _check(value, sub, path, errors)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            if not any(not validate(value, s, path) for s in options):
                detail = "; ".join(validate(value, options[0], path)[:2]) if options else ""
                errors.append(f"{_where(path)}: {_short(value)} matches none of the allowed shapes"
                              + (f" (first: {detail})" if detail else ""))
                return
    if isinstance(value, Mapping):
        _check_object(value, schema, path, errors)
    elif isinstance(value, (list, tuple)):
        _check_array(value, schema, path, errors)
    elif isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)


def _same(a: Any, b: Any) -> bool:
    # JSON Schema equality: 1 == 1.0, but true is not 1
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_object(value: Mapping[str, Any], schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            errors.append(f"{_join(path, name)}: required property is missing")
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            _check(item, props[key], _join(path, key), errors)
        elif extra is False:
            allowed = ", ".join(props) or "none"
            errors.append(f"{_join(path, key)}: unexpected property (allowed: {allowed})")
        elif isinstance(extra, Mapping):
            _check(item, extra, _join(path, key), errors)


def _check_array(value: Any, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    n = len(value)
    if "minItems" in schema and n < schema["minItems"]:
        errors.append(f"{_where(path)}: needs at least {schema['minItems']} items, got {n}")
    if "maxItems" in schema and n > schema["maxItems"]:
        errors.append(f"{_where(path)}: allows at most {schema['maxItems']} items, got {n}")
    prefix = schema.get("prefixItems") or []
    for i, sub in enumerate(prefix[:n]):
        _check(value[i], sub, f"{path}[{i}]", errors)
    items = schema.get("items")
    if items is not None:
        for i in range(len(prefix), n):
            _check(value[i], items, f"{path}[{i}]", errors)
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
    for key, ok in (("minimum", value >= schema.get("minimum", value)),
                    ("maximum", value <= schema.get("maximum", value)),
                    ("exclusiveMinimum", "exclusiveMinimum" not in schema or value > schema["exclusiveMinimum"]),
                    ("exclusiveMaximum", "exclusiveMaximum" not in schema or value < schema["exclusiveMaximum"])):
        if not ok:
            errors.append(f"{_where(path)}: {value!r} breaks {key} {schema[key]!r}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
