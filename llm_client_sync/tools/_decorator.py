"""Tool and the @tool decorator: a plain function plus the JSON schema a model needs to call it."""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
import sys
import threading
from typing import Any, Callable, Generic, Mapping, ParamSpec, TypeVar, overload

from ..errors import ToolError
from ._schema import convert_value, function_parameters, type_to_schema
from ._validate import SchemaError, check_schema, validate

__all__ = ["Tool", "sync_tool", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # FunctionObject.name in the OpenAPI spec


class InvalidArguments(ValueError):
    """Arguments the model sent do not fit the tool's schema (never reaches user code)."""


class Tool(Generic[P, R]):
    """A callable function with a name, a description and a JSON schema for its parameters.

    Calling the Tool calls the function unchanged (an ``async def`` still returns a coroutine).
    ``invoke(arguments)`` is what a registry uses: it validates a decoded JSON object, converts
    it to the annotated types, calls the function and runs a coroutine to completion.
    Immutable after construction, so safe to share between threads.
    """

    def __init__(self, fn: Callable[P, R], *, name: str | None = None, description: str | None = None,
                 strict: bool = False, parameters: Mapping[str, Any] | None = None,
                 localns: Mapping[str, Any] | None = None) -> None:
        if not callable(fn):
            raise ToolError(f"a tool needs a callable, got {fn!r}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "")
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ToolError(f"tool name {self.name!r} must be 1-64 characters of a-z, A-Z, 0-9, _ or -")
        if description is not None and not isinstance(description, str):
            raise ToolError(f"description of tool {self.name!r} must be a str, got {type(description).__name__}")
        self.strict = bool(strict)
        target = inspect.unwrap(fn)
        self.is_async = inspect.iscoroutinefunction(target)
        skip_self = _first_param(fn) in ("self", "cls")
        summary, schema, annotations = function_parameters(fn, strict=self.strict, skip_first=skip_self,
                                                           localns=localns)
        self._skip_self = skip_self
        self._annotations = annotations
        self._defaults = {p.name: p.default for p in inspect.signature(fn).parameters.values()
                          if p.default is not p.empty}
        # strict schemas make every key required and send null for "not given"
        self._null_means_default = frozenset(
            k for k in self._defaults if self.strict and k in annotations and not _accepts_none(annotations[k]))
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                raise ToolError(f"parameters of tool {self.name!r} must be a JSON schema dict, "
                                f"got {type(parameters).__name__}")
            try:
                check_schema(parameters)
            except SchemaError as exc:
                raise ToolError(f"tool {self.name!r}: {exc}") from exc
        self.parameters: dict[str, Any] = dict(parameters) if parameters is not None else schema
        self.description = description if description is not None else summary
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> "Tool[P, R]": ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> "Tool[..., R]": ...

    def __get__(self, instance: Any, owner: type | None = None) -> "Tool[Any, R]":
        # A @tool on a method: bind like a function would, keeping the schema without self.
        if instance is None or not self._skip_self:
            return self
        bound = Tool.__new__(Tool)
        bound.__dict__.update(self.__dict__)
        bound.fn = self.fn.__get__(instance, owner)
        bound._skip_self = False
        return bound

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, strict={self.strict})"

    def to_openai(self) -> dict[str, Any]:
        """The Chat Completions ``tools[]`` entry."""
        fn: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            fn["description"] = self.description
        if self.strict:
            fn["strict"] = True
        return {"type": "function", "function": fn}

    def to_responses(self) -> dict[str, Any]:
        """The Responses API ``tools[]`` entry (flat, no ``function`` wrapper)."""
        out: dict[str, Any] = {"type": "function", "name": self.name, "parameters": self.parameters,
                               "strict": self.strict}
        if self.description:
            out["description"] = self.description
        return out

    def prepare(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and convert model arguments into keyword arguments; raises InvalidArguments."""
        if not isinstance(arguments, Mapping):
            raise InvalidArguments(f"arguments must be a JSON object, got {type(arguments).__name__}")
        errors = validate(arguments, self.parameters)
        unknown = [k for k in arguments if k not in self._annotations]
        if unknown and not errors:
            errors = [f"{k}: unexpected property (allowed: {', '.join(self._annotations) or 'none'})"
                      for k in unknown]
        if errors:
            raise InvalidArguments("; ".join(errors))
        kwargs: dict[str, Any] = {}
        for key, value in arguments.items():
            if value is None and key in self._null_means_default:
                continue
            try:
                kwargs[key] = convert_value(value, self._annotations[key])
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidArguments(f"{key}: {exc}") from exc
        missing = [k for k in self._annotations if k not in kwargs and k not in self._defaults]
        if missing:
            raise InvalidArguments("; ".join(f"{k}: required property is missing" for k in missing))
        return kwargs

    def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Run the tool with model arguments (validated first); coroutines run to completion here."""
        kwargs = self.prepare(arguments)
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = _run_coroutine(result)
        return result


def _accepts_none(annotation: Any) -> bool:
    try:
        return not validate(None, type_to_schema(annotation))
    except ToolError:
        return False


def _first_param(fn: Callable[..., Any]) -> str | None:
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None
    return params[0] if params else None


def _run_coroutine(awaitable: Any) -> Any:
    """Run an awaitable to completion from sync code, even inside a thread that has a running loop.

    A worker thread has no loop, so ``asyncio.run`` works. Called from a thread whose loop is
    running (Jupyter), ``asyncio.run`` would refuse: run it on a fresh thread with its own loop.
    """
    async def _await() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(_await())
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    t = threading.Thread(target=target, name="llm-client-sync-tool-loop", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(*, name: str | None = None, description: str | None = None,
         strict: bool = False) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(fn: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None,
         strict: bool = False) -> Any:
    """Turn a function (sync or ``async def``) into a Tool that stays callable.

    The schema comes from the type hints; the description from the docstring's first paragraph,
    parameter descriptions from its Args/Parameters/``:param`` entries.

        >>> @tool
        ... def get_weather(city: str, units: str = "metric") -> str:
        ...     '''Current weather for a city.
        ...
        ...     Args:
        ...         city: City name, e.g. "Tokyo".
        ...     '''
        ...     return f"22 degrees in {city}"
        >>> get_weather("Tokyo"), get_weather.parameters["required"]
        ('22 degrees in Tokyo', ['city'])
    """
    # String annotations (``from __future__ import annotations``) may name classes local to the
    # decorating function; their names live in the caller's frame, not the module.
    caller = sys._getframe(1)
    localns = dict(caller.f_locals) if caller.f_code.co_name != "<module>" else None
    del caller

    def wrap(f: Callable[P, R]) -> Tool[P, R]:
        return Tool(f, name=name, description=description, strict=strict, localns=localns)

    return wrap(fn) if fn is not None else wrap


sync_tool = tool
"""Alias of ``tool`` kept for code written against earlier versions."""
