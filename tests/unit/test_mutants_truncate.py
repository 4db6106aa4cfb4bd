"""Truncation planner behaviours the mutation run found unpinned: Marker is immutable, drop_middle's
markers are free when no marker_cost is given, and a bad strategy name says what the choices are."""

from __future__ import annotations

import dataclasses

import pytest

from llm_client_sync.conversation._truncate import STRATEGIES, Marker, select
from llm_client_sync.errors import ConfigurationError, ContextWindowExceededError, LLMClientError


def _chat(turns):
    msgs = []
    for i in range(turns):
        msgs += [{"role": "user", "content": f"u{i}"}, {"role": "assistant", "content": f"a{i}"}]
    return msgs


def test_marker_is_immutable_and_compares_by_value():
    m = Marker(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.omitted = 4  # type: ignore[misc]
    assert m == Marker(3) and m != Marker(2) and hash(m) == hash(Marker(3))


@pytest.mark.parametrize("strategy", ["drop_middle", "drop_oldest"])
def test_default_marker_cost_is_zero_so_an_exact_fit_is_kept(strategy):
    msgs = _chat(5)  # 10 messages of 10 tokens
    # the budget fits exactly the newest turn plus the system overhead: any marker price would not fit
    out = select(msgs, [10] * len(msgs), fixed=5, budget=25, strategy=strategy)
    kept = [x for x in out if not isinstance(x, Marker)]
    assert kept == [8, 9]
    markers = [x for x in out if isinstance(x, Marker)]
    assert markers == ([Marker(8)] if strategy == "drop_middle" else [])


def test_unknown_strategy_message_names_the_choices_and_the_value():
    with pytest.raises(ConfigurationError) as info:
        select(_chat(1), [1, 1], fixed=0, budget=10, strategy="newest_first")
    assert isinstance(info.value, LLMClientError)
    assert str(info.value) == f"truncation_strategy must be one of {STRATEGIES}, got 'newest_first'"


def test_markers_price_can_make_the_required_messages_not_fit():
    msgs = _chat(3)  # u0 a0 u1 a1 u2 a2, 10 tokens each; u2 + a2 (20 tokens) must stay
    # without a marker price the newest turn fits exactly
    assert select(msgs, [10] * 6, fixed=0, budget=20, strategy="drop_middle",
                  marker_cost=lambda n: 0) == [Marker(4), 4, 5]
    # a marker of 5 tokens for the dropped turns takes it over: 25 needed, 20 available
    with pytest.raises(ContextWindowExceededError) as info:
        select(msgs, [10] * 6, fixed=0, budget=20, strategy="drop_middle", marker_cost=lambda n: 5)
    assert info.value.tokens_over == 5
    assert str(info.value) == (
        "the messages that must be kept (system message, newest user message, newest message with its tool "
        "results) need 25 tokens but only 20 are available: 5 tokens over")


def _tool_round(cid):
    return [{"role": "assistant", "content": None,
             "tool_calls": [{"id": cid, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": cid, "content": "ok"}]


def test_two_separate_gaps_each_pay_for_their_marker():
    # u0 a0 u1 a1 | u2 (kept) | two tool rounds of the newest turn | a2 (kept): two runs of dropped messages
    msgs = _chat(2) + [{"role": "user", "content": "u2"}] + _tool_round("c1") + _tool_round("c2") + [
        {"role": "assistant", "content": "a2"}]
    costs = [10] * len(msgs)
    out = select(msgs, costs, fixed=0, budget=30, strategy="drop_middle", marker_cost=lambda n: 5)
    assert out == [Marker(4), 4, Marker(4), 9]
    with pytest.raises(ContextWindowExceededError) as info:
        select(msgs, costs, fixed=0, budget=29, strategy="drop_middle", marker_cost=lambda n: 5)
    assert info.value.tokens_over == 1
