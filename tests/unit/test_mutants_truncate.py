"""Truncation planner behaviours the mutation run found unpinned: Marker is immutable, drop_middle's
markers are free when no marker_cost is given, and a bad strategy name says what the choices are."""

from __future__ import annotations

import dataclasses

import pytest

from llm_client_sync.conversation._truncate import STRATEGIES, Marker, select
from llm_client_sync.errors import ConfigurationError, LLMClientError


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
