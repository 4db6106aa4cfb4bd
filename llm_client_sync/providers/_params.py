"""Request parameters shared by both wire protocols: messages, validation, structured output."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from .._checks import check_message
from ..errors import ConfigurationError, StructuredOutputError, ToolError
from ..models import ModelProfile, get_profile

__all__ = ["check_reasoning_params", "coerce_messages", "coerce_tools", "parse_structured", "response_format_spec",
           "with_parsed"]

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
    they are, a bare JSON schema dict (wrapped, not strict), or a dataclass / TypedDict (its
    schema from the one generator the tools use; strict unless a field can only be described
    loosely, e.g. ``dict[str, int]``; ``result.parsed`` is then an instance).
    """
    if fmt is None:
        return None, None
    # the one schema generator and converter are the tools' (imported here: the tools package is heavy)
    from ..tools._schema import is_typeddict

    if isinstance(fmt, type) and (dataclasses.is_dataclass(fmt) or is_typeddict(fmt)):
        return {"type": "json_schema", "json_schema": {"name": fmt.__name__, **_strict_schema(fmt)}}, fmt
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "text":
            return dict(fmt), None  # plain text: nothing to parse
        if fmt.get("type") in ("json_schema", "json_object"):
            return dict(fmt), dict
        if fmt.get("type") == "object" or "properties" in fmt:
            name = str(fmt.get("title") or "response")
            return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(fmt)}}, dict
    raise ConfigurationError(
        "response_format must be a dataclass, a TypedDict, a JSON schema dict, or an OpenAI response_format dict")


def _strict_schema(tp: type) -> dict[str, Any]:
    """``{"schema": ..., "strict": ...}``: strict mode needs every object closed, so a type with a
    free-form mapping (``dict[str, int]``) or ``Any`` is sent non-strict rather than rejected by the API."""
    from ..tools._schema import type_to_schema

    try:
        return {"schema": type_to_schema(tp, strict=True), "strict": True}
    except ToolError:
        pass
    try:
        return {"schema": type_to_schema(tp, strict=False), "strict": False}
    except ToolError as exc:
        raise ConfigurationError(f"response_format {tp.__name__}: {exc}") from exc


def parse_structured(content: str | None, target: Any) -> Any:
    """Decode structured output into ``target`` (a dataclass, a TypedDict or ``dict``).

    None when there is no content. Invalid JSON, or JSON that does not fit the target's schema
    (a missing field, a wrong type), raises StructuredOutputError carrying the raw text.
    """
    if target is None or content is None:
        return None
    try:
        data = json.loads(content)
    except (ValueError, RecursionError) as exc:
        raise StructuredOutputError(f"the structured output is not valid JSON ({exc}); raw text starts with "
                                    f"{content[:200]!r}", raw_text=content) from exc
    if target is dict:
        return data
    from ..tools._schema import convert_value, type_to_schema
    from ..tools._validate import validate

    problems = validate(data, type_to_schema(target))
    if problems:
        raise StructuredOutputError(f"the structured output does not match {target.__name__}: "
                                    f"{'; '.join(problems)}", raw_text=content)
    try:
        return convert_value(data, target)
    except (ValueError, TypeError, ToolError) as exc:
        raise StructuredOutputError(f"the structured output does not fit {target.__name__}: {exc}",
                                    raw_text=content) from exc


def with_parsed(result: Any, target: Any) -> Any:
    """``result`` with ``parsed`` set from its content (a refusal or a tool call leaves it None).

    Raises StructuredOutputError (``.result`` holds the unparsed result) when the content is
    missing without a refusal, is not JSON, or does not fit the target.
    """
    if target is None:
        return result
    if result.refusal or (result.content is None and result.tool_calls):
        return dataclasses.replace(result, parsed=None)
    if not result.content:
        raise StructuredOutputError(
            f"structured output was requested but the reply has no content (finish_reason={result.finish_reason!r})",
            raw_text=result.content or "", result=result, request_id=result.request_id)
    try:
        parsed = parse_structured(result.content, target)
    except StructuredOutputError as exc:
        exc.result = result
        exc.request_id = result.request_id
        if result.finish_reason == "length":
            exc.args = (f"{exc} (the reply was cut off: finish_reason='length'; raise max_completion_tokens)",)
            exc.message = exc.args[0]
        raise
    return dataclasses.replace(result, parsed=parsed)
