"""AgentConfig and AgentResult: the values an Agent takes and returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from .._checks import check_int, check_mapping, check_number
from ..tools.registry import DEFAULT_MAX_OUTPUT_CHARS, ToolResult
from ..types import FrozenDict, ToolCall, Usage, freeze

__all__ = ["AgentConfig", "AgentResult", "AgentStatus"]


class AgentStatus(str, enum.Enum):
    """Why a run ended: an enum of strings, so ``status == "completed"`` holds and JSON gets the
    plain string."""

    COMPLETED = "completed"
    MAX_TURNS = "max_turns"
    CANCELLED = "cancelled"
    ERROR = "error"
    BUDGET_EXCEEDED = "budget_exceeded"  # stopped before the model call that would cross a Budget

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """How an Agent loops.

    ``max_turns`` model calls per run; ``tool_timeout`` seconds per tool call (None: wait
    forever); ``stop_on_tool_error`` ends the run (status "error") after a turn with a failed
    tool; ``raise_on_max_turns`` raises MaxTurnsExceededError instead of returning;
    ``model_params`` go to every model call (temperature, tool_choice, reasoning_effort, ...).
    """

    max_turns: int = 10
    parallel_tool_execution: bool = True
    max_parallel_tools: int = 8
    tool_timeout: float | None = 30.0
    stop_on_tool_error: bool = False
    max_tool_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS
    raise_on_max_turns: bool = False
    model_params: Mapping[str, Any] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        check_int(self.max_turns, "max_turns")
        check_int(self.max_parallel_tools, "max_parallel_tools")
        check_number(self.tool_timeout, "tool_timeout", allow_none=True)
        check_int(self.max_tool_output_chars, "max_tool_output_chars", allow_none=True)
        check_mapping(self.model_params, "model_params", allow_none=False)
        object.__setattr__(self, "model_params", freeze(dict(self.model_params)))


@dataclass(frozen=True, slots=True)
class AgentResult:
    """The outcome of one ``Agent.run``.

    ``content`` is the final answer (for max_turns/cancelled/error: the last text the model
    produced, possibly None). ``usage`` and ``cost`` are summed over this run's model calls
    (``cost`` is None when no call had a known price). ``messages`` is the whole conversation
    after the run. ``error`` holds the exception when ``status == "error"`` because a model
    call failed.
    """

    content: str | None
    status: AgentStatus
    num_turns: int
    all_tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    messages: tuple[Mapping[str, Any], ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    error: BaseException | None = None
    completions: tuple[Any, ...] = ()

    @property
    def text(self) -> str:
        """``content`` or the empty string."""
        return self.content or ""

    # names the stream adapters read from any DONE result (streaming/_payload.py)
    @property
    def turns(self) -> int:
        return self.num_turns

    @property
    def stop_reason(self) -> str:
        return self.status.value if isinstance(self.status, AgentStatus) else self.status

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self.all_tool_calls

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary (no raw completions)."""
        return {
            "content": self.content,
            "status": str(self.status),
            "num_turns": self.num_turns,
            "tool_calls": [{"id": c.id, "name": c.name, "raw_arguments": c.raw_arguments}
                           for c in self.all_tool_calls],
            "tool_results": [{"tool_call_id": r.tool_call_id, "name": r.name, "content": r.content,
                              "is_error": r.is_error, "error_kind": r.error_kind, "duration": r.duration}
                             for r in self.tool_results],
            "usage": self.usage.to_dict(),
            "cost": self.cost,
            "error": f"{type(self.error).__name__}: {self.error}" if self.error is not None else None,
        }
