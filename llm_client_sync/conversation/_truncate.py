"""Choosing which messages fit a token budget: pure functions over message dicts and their costs.

Messages are grouped into *blocks* (a single message, or an assistant message with tool_calls plus
the tool results answering it: never split) and blocks into *turns* (a user message and what
follows it until the next user message). A strategy is just the order in which droppable blocks go.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable, Sequence

from ..errors import ConfigurationError, ContextWindowExceededError

__all__ = ["STRATEGIES", "Marker", "blocks_of", "select"]

STRATEGIES = ("drop_oldest", "sliding", "drop_middle")


@dataclass(frozen=True, slots=True)
class Marker:
    """Stands where ``omitted`` messages were left out (drop_middle only)."""

    omitted: int


def blocks_of(messages: Sequence[Mapping[str, Any]]) -> list[list[int]]:
    """Indices grouped so an assistant's tool_calls stay with the tool results that follow it."""
    blocks: list[list[int]] = []
    open_ids: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "tool" and blocks and str(msg.get("tool_call_id")) in open_ids:
            blocks[-1].append(i)
            continue
        blocks.append([i])
        calls = msg.get("tool_calls") if role == "assistant" else None
        open_ids = {str(c.get("id")) for c in calls if isinstance(c, Mapping)} if calls else set()
    return blocks


def _turns(messages: Sequence[Mapping[str, Any]], blocks: list[list[int]]) -> list[list[int]]:
    """Block numbers grouped into turns; a block opening with a user message starts a turn."""
    turns: list[list[int]] = []
    for b, block in enumerate(blocks):
        if not turns or messages[block[0]].get("role") == "user":
            turns.append([])
        turns[-1].append(b)
    return turns


def _drop_order(messages: Sequence[Mapping[str, Any]], blocks: list[list[int]], strategy: str,
                ) -> tuple[set[int], list[list[int]]]:
    """(required block numbers, droppable units in the order they go; each unit a list of blocks)."""
    if not blocks:
        return set(), []
    turns = _turns(messages, blocks)
    users = [b for b, block in enumerate(blocks) if messages[block[0]].get("role") == "user"]
    required = {len(blocks) - 1}  # the newest message (with its tool results) is what is answered
    if users:
        required.add(users[-1])
        if strategy == "sliding":
            required.add(users[0])  # the task
    earlier = [[b for b in turn if b not in required] for turn in turns[:-1]]
    if strategy == "drop_middle":
        center = (len(earlier) - 1) / 2
        order = sorted(range(len(earlier)), key=lambda t: (abs(t - center), t))
        units = [earlier[t] for t in order]
    else:
        units = list(earlier)
    # the newest turn may still be too long: its oldest tool rounds go first
    units += [[b] for b in turns[-1] if b not in required]
    return required, [u for u in units if u]


def select(messages: Sequence[Mapping[str, Any]], costs: Sequence[int], *, fixed: int, budget: int,
           strategy: str, marker_cost: Callable[[int], int] = lambda n: 0) -> list[int | Marker]:
    """Indices of the messages to send (with Markers for drop_middle), in order.

    Args:
        costs: tokens of each message. fixed: tokens always spent (system message, reply priming).
        budget: the most tokens the result may take, fixed included.
        marker_cost: tokens of a marker standing for n omitted messages.
    Raises:
        ContextWindowExceededError: the messages that must stay do not fit; ``tokens_over`` says
            by how many tokens.
    """
    if strategy not in STRATEGIES:
        raise ConfigurationError(f"truncation_strategy must be one of {STRATEGIES}, got {strategy!r}")
    blocks = blocks_of(messages)
    cost = [sum(costs[i] for i in block) for block in blocks]
    _, units = _drop_order(messages, blocks, strategy)
    gaps = _Gaps([len(block) for block in blocks], marker_cost if strategy == "drop_middle" else None)
    current = fixed + sum(cost)
    for unit in units:
        if current + gaps.cost <= budget:
            break
        for b in unit:
            gaps.drop(b)
            current -= cost[b]
    if current + gaps.cost > budget:
        # every droppable unit is gone: what is left is the required messages (and their markers)
        over = current + gaps.cost - budget
        raise ContextWindowExceededError(
            f"the messages that must be kept (system message, newest user message, newest message with "
            f"its tool results) need {over + budget} tokens but only {budget} are available: "
            f"{over} tokens over", tokens_over=over)
    out: list[int | Marker] = []
    for b, block in enumerate(blocks):
        if b in gaps.runs and gaps.with_markers:
            out.append(Marker(gaps.runs[b][1]))
        if not gaps.dropped[b]:
            out.extend(block)
    return out


class _Gaps:
    """Runs of dropped blocks, merged as blocks drop (O(1) each), and what their markers cost."""

    def __init__(self, sizes: list[int], marker_cost: Callable[[int], int] | None) -> None:
        self.sizes = sizes
        self.dropped = [False] * len(sizes)
        self.runs: dict[int, tuple[int, int]] = {}  # start block -> (end block, messages)
        self.start_of: dict[int, int] = {}  # end block -> start block
        self.marker_cost = marker_cost
        self.with_markers = marker_cost is not None
        self.cost = 0

    def _price(self, count: int) -> int:
        return self.marker_cost(count) if self.marker_cost is not None else 0

    def drop(self, b: int) -> None:
        if self.dropped[b]:
            return
        self.dropped[b] = True
        if self.marker_cost is None:  # no markers: the runs are not needed
            return
        start, end, count = b, b, self.sizes[b]
        if b > 0 and self.dropped[b - 1]:
            start = self.start_of.pop(b - 1)
            _, left = self.runs.pop(start)
            count += left
            self.cost -= self._price(left)
        if b + 1 < len(self.sizes) and self.dropped[b + 1]:
            end, right = self.runs.pop(b + 1)
            del self.start_of[end]
            count += right
            self.cost -= self._price(right)
        self.runs[start] = (end, count)
        self.start_of[end] = start
        self.cost += self._price(count)
