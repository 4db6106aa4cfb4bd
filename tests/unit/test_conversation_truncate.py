"""The pure truncation planner: each strategy's drop order, pairing, required messages, markers."""

from __future__ import annotations

import pytest

from llm_client_sync.conversation._truncate import Marker, blocks_of, select
from llm_client_sync.errors import ContextWindowExceededError


def user(i):
    return {"role": "user", "content": f"u{i}"}


def asst(i):
    return {"role": "assistant", "content": f"a{i}"}


def call(*ids):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": c, "type": "function", "function": {"name": "f", "arguments": "{}"}} for c in ids]}


def result(cid):
    return {"role": "tool", "tool_call_id": cid, "content": "ok"}


def chat(turns):
    """turns user/assistant pairs: u0 a0 u1 a1 ..."""
    msgs = []
    for i in range(turns):
        msgs += [user(i), asst(i)]
    return msgs


def plan(msgs, budget, strategy, costs=None, fixed=0, marker=0):
    costs = costs or [10] * len(msgs)
    return select(msgs, costs, fixed=fixed, budget=budget, strategy=strategy, marker_cost=lambda n: marker)


def test_blocks_keep_tool_calls_with_their_results():
    msgs = [user(0), call("x", "y"), result("x"), result("y"), asst(1), result("stray")]
    assert blocks_of(msgs) == [[0], [1, 2, 3], [4], [5]]


def test_everything_fits_nothing_dropped():
    msgs = chat(3)
    for strategy in ("drop_oldest", "sliding", "drop_middle"):
        assert plan(msgs, 60, strategy) == list(range(6))


def test_drop_oldest_drops_whole_turns_from_the_start():
    msgs = chat(5)  # 10 messages, 10 tokens each
    assert plan(msgs, 40, "drop_oldest") == [6, 7, 8, 9]
    assert plan(msgs, 59, "drop_oldest") == [6, 7, 8, 9]  # turns go whole: 5 messages would split one
    assert plan(msgs, 60, "drop_oldest") == [4, 5, 6, 7, 8, 9]


def test_sliding_keeps_the_task_and_the_latest_turns():
    msgs = chat(5)
    assert plan(msgs, 40, "sliding") == [0, 8, 9]  # task + newest turn (a0 goes with the first turn)
    assert plan(msgs, 50, "sliding") == [0, 6, 7, 8, 9]


def test_drop_middle_drops_from_the_middle_outward_with_one_marker():
    msgs = chat(6)  # turns 0..5 of 20 tokens; the last is required, 0..4 droppable, the middle is 2
    # drop turn 2: 100 + 5 (marker) > 85; then turn 1 (tie with 3, earlier first): 80 + 5 fits
    assert plan(msgs, 85, "drop_middle", marker=5) == [0, 1, Marker(4), 6, 7, 8, 9, 10, 11]
    # ... then turn 3, then turn 0: the earliest and latest turns are the last to go
    assert plan(msgs, 65, "drop_middle", marker=5) == [0, 1, Marker(6), 8, 9, 10, 11]
    assert plan(msgs, 60, "drop_middle", marker=5) == [Marker(8), 8, 9, 10, 11]


def test_drop_middle_counts_the_marker_in_the_budget():
    msgs = chat(4)
    # without markers 60 would fit after dropping one turn; a 15-token marker forces a second drop
    assert Marker(4) in plan(msgs, 60, "drop_middle", marker=15)


def test_newest_turn_sheds_its_oldest_tool_rounds_but_keeps_user_and_tail():
    msgs = [user(0), call("a"), result("a"), call("b"), result("b"), call("c"), result("c")]
    for strategy in ("drop_oldest", "sliding"):
        assert plan(msgs, 50, strategy) == [0, 3, 4, 5, 6]
        assert plan(msgs, 30, strategy) == [0, 5, 6]


def test_required_messages_that_do_not_fit_raise_with_tokens_over():
    msgs = [user(0), asst(0), user(1)]
    with pytest.raises(ContextWindowExceededError) as info:
        plan(msgs, 25, "drop_oldest", costs=[10, 10, 30], fixed=5)
    assert info.value.tokens_over == 10  # 5 fixed + 30 newest user - 25
    assert isinstance(info.value, ValueError)


def test_sliding_requires_the_task_too():
    msgs = [user(0), asst(0), user(1)]
    assert plan(msgs, 20, "drop_oldest") == [2]  # the whole first turn goes
    assert plan(msgs, 20, "sliding") == [0, 2]
    with pytest.raises(ContextWindowExceededError) as info:
        plan(msgs, 15, "sliding")
    assert info.value.tokens_over == 5


def test_tool_block_in_the_tail_is_never_split():
    msgs = [user(0), call("a", "b"), result("a"), result("b")]
    with pytest.raises(ContextWindowExceededError):
        plan(msgs, 30, "drop_oldest")  # the pair block (30) plus the user message (10) is the minimum
    assert plan(msgs, 40, "drop_oldest") == [0, 1, 2, 3]


def test_history_without_user_messages():
    msgs = [asst(0), asst(1), asst(2)]
    assert plan(msgs, 10, "drop_oldest") == [2]
    assert plan(msgs, 10, "sliding") == [2]


def test_unknown_strategy_is_rejected():
    from llm_client_sync.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        plan(chat(1), 100, "fifo")
