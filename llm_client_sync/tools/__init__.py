"""Tools a model can call: ``@tool`` (schema from type hints and docstrings) and ToolRegistry."""

from ._decorator import Tool, sync_tool, tool
from .registry import DEFAULT_MAX_OUTPUT_CHARS, ToolRegistry, ToolResult

__all__ = ["DEFAULT_MAX_OUTPUT_CHARS", "Tool", "ToolRegistry", "ToolResult", "sync_tool", "tool"]
