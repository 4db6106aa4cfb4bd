"""Docstring parsing for tools: the summary paragraph and per-parameter descriptions.

Understands the three styles people actually write: Google (``Args:``), NumPy
(``Parameters`` underlined with dashes) and reST (``:param name:``).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

__all__ = ["ParsedDocstring", "parse_docstring"]

_GOOGLE_SECTIONS = {"args", "arguments", "parameters", "params", "attributes", "keyword args",
                    "keyword arguments", "other parameters"}
_ANY_GOOGLE_HEADER = re.compile(
    r"^(args|arguments|parameters|params|attributes|keyword args|keyword arguments|other parameters|"
    r"returns?|yields?|raises?|examples?|notes?|warnings?|see also|references|todo)\s*:\s*$",
    re.IGNORECASE,
)
_NUMPY_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\w+)*)\s*(?::\s*(.*))?$")
_REST_PARAM = re.compile(r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:([^:]+?)\s+)?(\w+)\s*:\s*(.*)$")
_REST_FIELD = re.compile(r"^:\w+.*:")


@dataclass(frozen=True, slots=True)
class ParsedDocstring:
    """The first paragraph and a ``{parameter: description}`` map."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split a docstring into its summary paragraph and parameter descriptions."""
    if not doc or not doc.strip():
        return ParsedDocstring()
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    params.update(_google_params(lines))
    params.update(_numpy_params(lines))
    params.update(_rest_params(lines))
    return ParsedDocstring(summary=_summary(lines), params=params)


def _is_section_start(lines: list[str], i: int) -> bool:
    line = lines[i].strip()
    if _ANY_GOOGLE_HEADER.match(line) or _REST_FIELD.match(line):
        return True
    return i + 1 < len(lines) and bool(line) and bool(_NUMPY_UNDERLINE.match(lines[i + 1]))


def _summary(lines: list[str]) -> str:
    out: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip() or _is_section_start(lines, i):
            break
        out.append(line.strip())
    return " ".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        header = lines[i].strip().rstrip(":").strip().lower()
        if lines[i].strip().endswith(":") and header in _GOOGLE_SECTIONS:
            base = _indent(lines[i])
            i += 1
            item_indent: int | None = None
            current: str | None = None
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    continue
                ind = _indent(line)
                if ind <= base:
                    break
                if item_indent is None:
                    item_indent = ind
                m = _GOOGLE_ITEM.match(line.strip())
                if ind == item_indent and m:
                    current = m.group(1).lstrip("*")
                    params[current] = m.group(3).strip()
                elif current is not None:
                    params[current] = (params[current] + " " + line.strip()).strip()
                i += 1
            continue
        i += 1
    return params


def _numpy_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    i = 0
    while i + 1 < len(lines):
        title = lines[i].strip().lower()
        if title in _GOOGLE_SECTIONS and _NUMPY_UNDERLINE.match(lines[i + 1]):
            base = _indent(lines[i])
            i += 2
            names: list[str] = []
            while i < len(lines):
                line = lines[i]
                if not line.strip():
                    i += 1
                    continue
                if i + 1 < len(lines) and _NUMPY_UNDERLINE.match(lines[i + 1]):
                    break  # the next section's title
                if _indent(line) <= base:
                    m = _NUMPY_ITEM.match(line.strip())
                    if not m:
                        break
                    names = [n.strip().lstrip("*") for n in m.group(1).split(",")]
                    for n in names:
                        params[n] = ""
                else:
                    for n in names:
                        params[n] = (params[n] + " " + line.strip()).strip()
                i += 1
            continue
        i += 1
    return params


def _rest_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        m = _REST_PARAM.match(stripped)
        if m:
            current = m.group(2)
            params[current] = m.group(3).strip()
        elif _REST_FIELD.match(stripped) or not stripped:
            current = None
        elif current is not None and _indent(line) > 0:
            params[current] = (params[current] + " " + stripped).strip()
    return params
