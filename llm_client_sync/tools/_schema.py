"""Type hints to JSON Schema, and decoded JSON back to the Python values those hints promise."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import inspect
import types
import typing
from collections import abc
from typing import Any, Callable, Literal, Mapping, Union

from ..errors import ToolError
from ._docstring import parse_docstring
from ._validate import validate

__all__ = ["convert_value", "function_parameters", "is_typeddict", "type_to_schema"]

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
}
_DATES: dict[Any, str] = {_dt.datetime: "date-time", _dt.date: "date", _dt.time: "time"}
_ARRAYS = (list, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
_SETS = (set, frozenset, abc.Set, abc.MutableSet)
_MAPS = (dict, abc.Mapping, abc.MutableMapping)
_JSON_TYPE = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
_SIMPLE_KEYS = {"type", "description", "format", "items", "properties", "required", "additionalProperties",
                "uniqueItems", "minItems", "maxItems", "prefixItems"}


def is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _is_union(origin: Any) -> bool:
    return origin is Union or origin is types.UnionType


def _unwrap_annotated(tp: Any) -> tuple[Any, str | None]:
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        desc = next((m for m in meta if isinstance(m, str)), None)
        return base, desc
    return tp, None


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and set(schema) <= _SIMPLE_KEYS | {"enum"}:
        out = dict(schema, type=[kind, "null"])
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def resolve_forward_refs(tp: Any, globalns: Mapping[str, Any], localns: Mapping[str, Any] | None) -> Any:
    """Evaluate forward references nested in generics (``list["Item"]``): ``get_type_hints`` leaves
    them as ``ForwardRef`` inside builtin generics before Python 3.11."""
    if isinstance(tp, str):
        tp = typing.ForwardRef(tp)
    if isinstance(tp, typing.ForwardRef):
        return resolve_forward_refs(eval(tp.__forward_arg__, dict(globalns), dict(localns or {})),  # noqa: S307
                                    globalns, localns)
    args = getattr(tp, "__args__", None)
    if not args or typing.get_origin(tp) in (None, Literal):
        return tp
    new = tuple(resolve_forward_refs(a, globalns, localns) for a in args)
    if new == args:
        return tp
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return typing.Annotated[(new[0], *tp.__metadata__)]
    if origin is typing.Union:
        return typing.Union[new]
    if isinstance(tp, types.GenericAlias):
        return types.GenericAlias(origin, new)
    copy = getattr(tp, "copy_with", None)
    return copy(new) if copy is not None else tp


def class_hints(cls: Any) -> dict[str, Any]:
    """The resolved field annotations of a dataclass or TypedDict (forward references included)."""
    import sys

    globalns = getattr(sys.modules.get(getattr(cls, "__module__", ""), None), "__dict__", {})
    return {k: resolve_forward_refs(v, globalns, {cls.__name__: cls})
            for k, v in typing.get_type_hints(cls, include_extras=True).items()}


def type_to_schema(tp: Any, *, strict: bool = False, _seen: tuple[Any, ...] = ()) -> dict[str, Any]:
    """The JSON Schema for one annotation; raises ToolError for types JSON cannot carry."""
    tp, desc = _unwrap_annotated(tp)
    schema = _schema(tp, strict, _seen)
    if desc:
        schema = dict(schema, description=desc)
    return schema


def _schema(tp: Any, strict: bool, seen: tuple[Any, ...]) -> dict[str, Any]:
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    if tp is Any:
        if strict:
            raise ToolError("strict tools need a concrete type, not Any")
        return {}
    if tp in _DATES:
        return {"type": "string", "format": _DATES[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(origin):
        members = [a for a in args if a is not type(None)]
        inner = [type_to_schema(a, strict=strict, _seen=seen) for a in members]
        base = inner[0] if len(inner) == 1 else {"anyOf": inner}
        return _nullable(base) if len(members) < len(args) else base
    if origin is Literal:
        values = [v.value if isinstance(v, enum.Enum) else v for v in args]
        kinds = {_JSON_TYPE.get(type(v)) for v in values}
        out: dict[str, Any] = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            out = {"type": kinds.pop(), "enum": values}
        return out
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        kinds = {_JSON_TYPE.get(type(v)) for v in values}
        if None in kinds:
            raise ToolError(f"enum {tp.__name__} has values JSON cannot carry")
        return {"type": kinds.pop(), "enum": values} if len(kinds) == 1 else {"enum": values}
    if tp in seen:
        raise ToolError(f"recursive type {getattr(tp, '__name__', tp)} is not supported in tool parameters")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_schema(tp, strict, seen + (tp,))
    if is_typeddict(tp):
        return _typeddict_schema(tp, strict, seen + (tp,))
    if origin is tuple or tp is tuple:
        if not args:
            return {"type": "array"}
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": type_to_schema(args[0], strict=strict, _seen=seen)}
        return {"type": "array", "prefixItems": [type_to_schema(a, strict=strict, _seen=seen) for a in args],
                "minItems": len(args), "maxItems": len(args)}
    if tp in _SETS or origin in _SETS:
        out = {"type": "array", "uniqueItems": True}
        if args:
            out["items"] = type_to_schema(args[0], strict=strict, _seen=seen)
        return out
    if tp in _ARRAYS or origin in _ARRAYS:
        out = {"type": "array"}
        if args:
            out["items"] = type_to_schema(args[0], strict=strict, _seen=seen)
        return out
    if tp in _MAPS or origin in _MAPS:
        if strict:
            raise ToolError("strict tools cannot take free-form dicts; use a dataclass or TypedDict")
        if args and args[0] is not str:
            raise ToolError(f"dict keys must be str in tool parameters (JSON object keys are strings), got {args[0]!r}")
        out = {"type": "object"}
        if args:
            out["additionalProperties"] = type_to_schema(args[1], strict=strict, _seen=seen)
        return out
    raise ToolError(f"type {tp!r} cannot be expressed as JSON Schema; use str, int, float, bool, list, "
                    "dict, tuple, Literal, Enum, a dataclass or a TypedDict")


def _object(props: dict[str, Any], required: list[str], strict: bool, description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props, "required": required,
                           "additionalProperties": False}
    if description:
        out["description"] = description
    return out


def _class_docs(cls: type) -> tuple[str, dict[str, str]]:
    doc = cls.__doc__ or ""
    if dataclasses.is_dataclass(cls) and doc.startswith(cls.__name__ + "("):
        doc = ""  # the repr-like docstring dataclasses generate says nothing new
    parsed = parse_docstring(doc)
    return parsed.summary, parsed.params


def _dataclass_schema(cls: type, strict: bool, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = class_hints(cls)
    summary, docs = _class_docs(cls)
    props: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        props[f.name] = _property(hints[f.name], docs.get(f.name), has_default, strict, seen)
        if not has_default or strict:
            required.append(f.name)
    return _object(props, required, strict, summary)


def _typeddict_schema(cls: type, strict: bool, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = class_hints(cls)
    summary, docs = _class_docs(cls)
    required_keys = getattr(cls, "__required_keys__", frozenset(hints))
    props = {}
    required = []
    for name, hint in hints.items():
        # string annotations hide Required/NotRequired from __required_keys__ before 3.12
        marker = getattr(typing.get_origin(hint), "_name", None)
        optional = marker == "NotRequired" or (name not in required_keys and marker != "Required")
        props[name] = _property(_strip_required(hint), docs.get(name), optional, strict, seen)
        if not optional or strict:
            required.append(name)
    return _object(props, required, strict, summary)


def _strip_required(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is not None and getattr(origin, "_name", None) in ("Required", "NotRequired"):
        return typing.get_args(tp)[0]
    return tp


def _property(hint: Any, doc: str | None, optional: bool, strict: bool, seen: tuple[Any, ...]) -> dict[str, Any]:
    schema = type_to_schema(hint, strict=strict, _seen=seen)
    if strict and optional and not _allows_null(schema):
        # strict mode requires every key; null stands for "use the default"
        schema = _nullable(schema)
    if doc and "description" not in schema:
        schema = dict(schema, description=doc)
    return schema


def _allows_null(schema: Mapping[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(s) for s in schema.get("anyOf", ()))


def function_parameters(fn: Callable[..., Any], *, strict: bool = False, skip_first: bool = False,
                        localns: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(summary, parameters schema, {name: annotation}) for a function; raises ToolError if unusable."""
    name = getattr(fn, "__name__", repr(fn))
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn, localns=dict(localns) if localns else None, include_extras=True)
        hints = {k: resolve_forward_refs(v, getattr(fn, "__globals__", {}), localns) for k, v in hints.items()}
    except Exception as exc:  # a forward reference that does not resolve
        raise ToolError(f"cannot resolve the type hints of tool {name!r}: {exc}") from exc
    parsed = parse_docstring(inspect.getdoc(fn))
    props: dict[str, Any] = {}
    required: list[str] = []
    annotations: dict[str, Any] = {}
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise ToolError(f"tool {name!r}: {star}{p.name} cannot be described to a model; "
                            "list every parameter explicitly")
        if p.kind is p.POSITIONAL_ONLY:
            raise ToolError(f"tool {name!r}: positional-only parameter {p.name!r} cannot be passed by name")
        hint = hints.get(p.name, Any)
        if p.name not in hints and p.default is not p.empty and p.default is not None:
            hint = type(p.default)  # an unannotated default tells us the type
        annotations[p.name] = hint
        optional = p.default is not p.empty
        try:
            props[p.name] = _property(hint, parsed.params.get(p.name), optional, strict, ())
        except ToolError as exc:
            raise ToolError(f"tool {name!r}, parameter {p.name!r}: {exc}") from exc
        if not optional or strict:
            required.append(p.name)
    schema = {"type": "object", "properties": props, "required": required, "additionalProperties": False}
    return parsed.summary, schema, annotations


def convert_value(value: Any, tp: Any) -> Any:
    """Turn a validated JSON value into the annotated Python type (Enum, dataclass, tuple, ...).

    Raises ValueError/TypeError when the value does not fit; the registry reports that to the model.
    """
    tp, _ = _unwrap_annotated(tp)
    tp = _strip_required(tp)
    if tp is Any or tp in (str, bool, type(None), None):
        return value
    if tp is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if tp is float:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if tp in _DATES:
        return tp.fromisoformat(value)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if _is_union(origin):
        if value is None and type(None) in args:
            return None
        return _convert_union(value, [a for a in args if a is not type(None)])
    if origin is Literal:
        for v in args:
            if (v.value if isinstance(v, enum.Enum) else v) == value:
                return v
        raise ValueError(f"{value!r} is not one of {list(args)!r}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = class_hints(tp)
        return tp(**{k: convert_value(v, hints.get(k, Any)) for k, v in value.items()})
    if is_typeddict(tp):
        hints = class_hints(tp)
        return {k: convert_value(v, hints.get(k, Any)) for k, v in value.items()}
    if origin is tuple or tp is tuple:
        if not args:
            return tuple(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert_value(v, args[0]) for v in value)
        return tuple(convert_value(v, a) for v, a in zip(value, args))
    if tp in _SETS or origin in _SETS:
        items = [convert_value(v, args[0]) for v in value] if args else value
        return frozenset(items) if (tp is frozenset or origin is frozenset) else set(items)
    if tp in _ARRAYS or origin in _ARRAYS:
        return [convert_value(v, args[0]) for v in value] if args else list(value)
    if tp in _MAPS or origin in _MAPS:
        return {k: convert_value(v, args[1]) for k, v in value.items()} if args else dict(value)
    return value


def _convert_union(value: Any, members: list[Any]) -> Any:
    errors: list[str] = []
    for member in members:
        try:
            if validate(value, type_to_schema(member)):
                continue
            return convert_value(value, member)
        except (ValueError, TypeError, ToolError) as exc:
            errors.append(str(exc))
    raise ValueError(f"{value!r} matches none of {members!r}" + (f" ({'; '.join(errors)})" if errors else ""))
