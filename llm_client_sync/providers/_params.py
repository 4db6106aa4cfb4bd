"""Request parameters shared by both wire protocols: messages, validation, structured output."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Mapping, Sequence

from .._checks import check_message
from ..errors import ConfigurationError
from ..models import ModelProfile, get_profile

__all__ = ["coerce_messages", "coerce_tools", "check_reasoning_params", "response_format_spec", "parse_structured"]

# parameters gpt-5-family (reasoning) models reject on the wire
_REASONING_REJECTS = ("frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias")


def coerce_messages(prompt: Any, system: str | None = None, profile: ModelProfile | None = None) -> list[dict[str, Any]]:
    """A str becomes one user message; a Conversation gives its fitted messages; a list is checked."""
    if isinstance(prompt, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
    elif hasattr(prompt, "get_messages"):
        messages = list(prompt.get_messages(model=profile))
    elif isinstance(prompt, (list, tuple)):
        messages = []
        for i, m in enumerate(prompt):
            check_message(m, f"messages[{i}]")
            messages.append(dict(m))
    else:
        raise ConfigurationError(
            f"prompt must be a str, a list of message dicts or a Conversation, got {type(prompt).__name__}")
    if not messages:
        raise ConfigurationError("messages is empty: give at least one message")
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def coerce_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Tool dicts, Tool objects or a ToolRegistry (anything with ``to_openai()``)."""
    if tools is None:
        return None
    if hasattr(tools, "to_openai"):
        out = tools.to_openai()
        return list(out) if isinstance(out, (list, tuple)) else [out]
    if not isinstance(tools, (list, tuple)):
        raise ConfigurationError("tools must be a list of tool dicts, @tool functions, or a ToolRegistry")
    result = []
    for i, t in enumerate(tools):
        if hasattr(t, "to_openai"):
            result.append(t.to_openai())
        elif isinstance(t, Mapping) and t.get("type"):
            result.append(dict(t))
        else:
            raise ConfigurationError(f"tools[{i}] is neither a tool dict with 'type' nor a @tool function")
    return result


def check_reasoning_params(profile: ModelProfile, params: Mapping[str, Any]) -> None:
    """Reject, before any request, what the model's profile says it would reject."""
    registered = get_profile(profile.key) is profile or profile.input_price is not None
    if profile.reasoning:
        for name in ("temperature", "top_p"):
            value = params.get(name)
            if value is not None and value != 1:
                raise ConfigurationError(
                    f"{profile.key} is a reasoning model and only accepts {name}=1 (got {value}); "
                    f"remove {name} or use reasoning_effort to steer it")
        for name in _REASONING_REJECTS:
            if params.get(name) is not None:
                raise ConfigurationError(f"{profile.key} is a reasoning model and does not accept {name!r}")
    effort = params.get("reasoning_effort")
    if effort is not None and registered:
        if not profile.reasoning:
            raise ConfigurationError(f"{profile.key} does not take reasoning_effort")
        if profile.reasoning_efforts and effort not in profile.reasoning_efforts:
            raise ConfigurationError(
                f"reasoning_effort={effort!r} is not valid for {profile.key}; use one of {list(profile.reasoning_efforts)}")


def response_format_spec(fmt: Any) -> tuple[dict[str, Any] | None, Any]:
    """Normalise response_format; returns (wire json_schema spec or None, target type for parsing).

    Accepts ``{"type": "json_schema", "json_schema": {...}}`` / ``{"type": "json_object"}`` as
    they are, a bare JSON schema dict (wrapped, not strict), or a dataclass (strict schema;
    ``result.parsed`` is then an instance).
    """
    if fmt is None:
        return None, None
    if isinstance(fmt, type) and dataclasses.is_dataclass(fmt):
        schema = dataclass_schema(fmt)
        return {"type": "json_schema", "json_schema": {"name": fmt.__name__, "schema": schema, "strict": True}}, fmt
    if isinstance(fmt, Mapping):
        if fmt.get("type") in ("json_schema", "json_object", "text"):
            return dict(fmt), dict
        if fmt.get("type") == "object" or "properties" in fmt:
            name = str(fmt.get("title") or "response")
            return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(fmt)}}, dict
    raise ConfigurationError(
        "response_format must be a dataclass, a JSON schema dict, or an OpenAI response_format dict")


def dataclass_schema(cls: type) -> dict[str, Any]:
    """A strict JSON schema for a dataclass (every field required, no extra properties)."""
    hints = typing.get_type_hints(cls)
    props = {f.name: _type_schema(hints.get(f.name, Any)) for f in dataclasses.fields(cls)}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_schema(tp: Any) -> dict[str, Any]:
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if tp is type(None):
        return {"type": "null"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return dataclass_schema(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (list, tuple, Sequence, set, frozenset):
        return {"type": "array", "items": _type_schema(args[0] if args else Any)}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin is dict:
        return {"type": "object"}
    if tp is Any:
        return {}
    raise ConfigurationError(f"cannot build a JSON schema for field type {tp!r}")


def parse_structured(content: str | None, target: Any) -> Any:
    """Decode structured output; None when there is no content (e.g. a refusal)."""
    if target is None or content is None:
        return None
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        return _build(target, data)
    return data


def _build(tp: Any, data: Any) -> Any:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(data, Mapping):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _build(hints.get(f.name, Any), data.get(f.name))
                     for f in dataclasses.fields(tp) if f.name in data})
    origin = typing.get_origin(tp)
    if origin in (list, tuple) and isinstance(data, list):
        args = typing.get_args(tp)
        items = [_build(args[0] if args else Any, x) for x in data]
        return tuple(items) if origin is tuple else items
    return data
