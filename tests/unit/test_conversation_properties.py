"""Property tests over random conversations: whatever the strategy and budget, the result fits, is
a sequence the API accepts, and keeps the invariants (system, newest user, pairing, order)."""

from __future__ import annotations

import os

import pytest

from support import shared_dir
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from llm_client_sync.conversation import Conversation
from llm_client_sync.errors import ContextWindowExceededError
from llm_client_sync.tokens import _encodings, count_messages

ENC_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(shared_dir() / "tiktoken")
WORDS = ["alpha", "beta", "gamma", "delta", "tokens", "weather", "Paris", "42", "ünï", "日本", "🙂", "{}"]


@pytest.fixture(autouse=True, scope="module")
def _shared_encodings():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", ENC_DIR)
        mp.setenv("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "0")
        _encodings.reset()
        yield
    _encodings.reset()


text = st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).map(" ".join)


@st.composite
def conversations(draw):
    """A valid history: turns of a user message then text answers and/or tool rounds."""
    system = draw(st.none() | text)
    msgs = []
    n_calls = 0
    for turn in range(draw(st.integers(1, 12))):
        msgs.append({"role": "user", "content": f"u{turn} " + draw(text)})
        for _ in range(draw(st.integers(0, 3))):
            if draw(st.booleans()):
                ids = [f"call_{n_calls + k}" for k in range(draw(st.integers(1, 3)))]
                n_calls += len(ids)
                msgs.append({"role": "assistant", "content": draw(st.none() | text), "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": draw(st.sampled_from(["f", "get_x"])),
                                                               "arguments": '{"q": "%s"}' % draw(text)}}
                    for i in ids]})
                msgs += [{"role": "tool", "tool_call_id": i, "content": draw(text)} for i in ids]
            else:
                msgs.append({"role": "assistant", "content": draw(text)})
    for k, m in enumerate(msgs):  # unique contents, so a message's position can be found again
        if m["role"] != "user" and m["content"] is not None:
            m["content"] = f"m{k} {m['content']}"
    return system, msgs


def assert_valid_sequence(out):
    """What the chat API requires of tool messages and tool_calls."""
    i = 0
    while i < len(out):
        msg = out[i]
        if msg["role"] == "tool":
            raise AssertionError(f"tool message at {i} without its assistant tool_calls")
        if msg["role"] == "assistant" and msg.get("tool_calls"):
            ids = [c["id"] for c in msg["tool_calls"]]
            answered = [m.get("tool_call_id") for m in out[i + 1:i + 1 + len(ids)]]
            assert answered == ids, f"tool_calls at {i} not followed by their results"
            i += 1 + len(ids)
            continue
        i += 1


@settings(max_examples=int(os.environ.get("LLM_CLIENT_SYNC_PROPERTY_EXAMPLES", "250")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.sampled_from(["drop_oldest", "sliding", "drop_middle"]), st.integers(20, 1500),
       st.integers(0, 15))
def test_truncation_invariants(conv_data, strategy, max_tokens, reserve):
    system, msgs = conv_data
    assume(reserve < max_tokens)
    conv = Conversation(system, max_tokens=max_tokens, truncation_strategy=strategy, reserve_tokens=reserve)
    for m in msgs:
        conv.add_message(m)
    budget = max_tokens - reserve
    history = conv.messages
    try:
        out = conv.get_messages()
    except ContextWindowExceededError as exc:
        # only when what must stay really does not fit
        event("raised ContextWindowExceededError")
        assert exc.tokens_over > 0
        users = [m for m in msgs if m["role"] == "user"]
        last_block = _last_block(msgs)
        needed = count_messages(([history[0]] if system is not None else []) + _dedupe(
            ([users[0]] if strategy == "sliding" else []) + [users[-1]] + last_block))
        assert needed > budget or strategy == "drop_middle"
        return
    event("truncated" if len(out) < len(history) else "whole history fits")
    assert count_messages(out) <= budget
    if system is not None:
        assert out[0] == {"role": "system", "content": system}
    newest_user = [m for m in msgs if m["role"] == "user"][-1]
    assert newest_user in out
    assert out[-1] == msgs[-1]
    if strategy == "sliding":
        assert msgs[0] in out
    assert_valid_sequence(out[1:] if system is not None else out)
    body = [m for m in (out[1:] if system is not None else out) if not _is_marker(m)]
    positions = [msgs.index(m) for m in body]  # contents are unique (u<turn> prefixes, call ids)
    assert positions == sorted(positions)
    markers = [m for m in out if _is_marker(m)]
    if strategy != "drop_middle":
        assert not markers
    else:
        omitted = sum(int(m["content"].strip("[").split()[0]) for m in markers)
        assert omitted + len(body) == len(msgs)
    if count_messages(history) <= budget:
        assert out == history


def _is_marker(m):
    return m["role"] == "system" and m["content"].endswith("omitted to fit the context window]")


def _last_block(msgs):
    start = len(msgs) - 1
    while msgs[start]["role"] == "tool":
        start -= 1
    return msgs[start:]


def _dedupe(items):
    out = []
    for m in items:
        if m not in out:
            out.append(m)
    return out


@settings(max_examples=60, deadline=None)
@given(conversations())
def test_save_load_round_trip(tmp_path_factory, conv_data):
    system, msgs = conv_data
    conv = Conversation(system)
    for m in msgs:
        conv.add_message(m)
    path = tmp_path_factory.mktemp("conv") / "c.json"
    conv.save(path)
    assert Conversation.load(path).messages == conv.messages
    assert Conversation.from_dict(conv.to_dict()).to_dict() == conv.to_dict()
