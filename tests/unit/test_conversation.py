"""Conversation: adding messages, truncation with real token counts, copies, persistence, threads."""

from __future__ import annotations

import json
import os
import threading

import pytest

from support import shared_dir

from llm_client_sync.conversation import Conversation
from llm_client_sync.errors import ConfigurationError, ContextWindowExceededError
from llm_client_sync.models import GPT5Nano
from llm_client_sync.tokens import _encodings, count_messages
from llm_client_sync.types import FrozenDict, ToolCall

ENC_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(shared_dir() / "tiktoken")


@pytest.fixture(autouse=True, scope="module")
def _shared_encodings():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", ENC_DIR)
        mp.setenv("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "0")
        _encodings.reset()
        yield
    _encodings.reset()


def long_chat(turns, strategy="sliding", max_tokens=4000, system="You are a helpful assistant."):
    conv = Conversation(system, max_tokens=max_tokens, truncation_strategy=strategy)
    for i in range(turns):
        conv.add_user(f"Question {i}: tell me something about the number {i}, please.")
        conv.add_assistant(f"Answer {i}: the number {i} is a fine number with many properties.")
    return conv


def test_add_methods_build_openai_messages():
    conv = Conversation("sys")
    conv.add_user("What's the weather in Paris?")
    conv.add_assistant(tool_calls=[ToolCall.from_raw("c1", "get_weather", '{"city": "Paris"}'),
                                   {"id": "c2", "type": "function",
                                    "function": {"name": "get_time", "arguments": "{}"}}])
    conv.add_tool_result("c1", {"temp": 21})
    conv.add_tool_result("c2", "12:00", name="get_time")
    conv.add_assistant("Sunny, 21 degrees, at noon.")
    msgs = conv.messages
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert msgs[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "c2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]}
    assert msgs[3] == {"role": "tool", "tool_call_id": "c1", "content": '{"temp": 21}'}
    assert len(conv) == 6 and list(conv) == msgs


def test_add_message_accepts_agent_shapes():
    conv = Conversation()
    conv.add_message({"role": "system", "content": "be brief"})  # first message: the system message
    conv.add_message(FrozenDict({"role": "user", "content": "hi"}))
    conv.add_message({"role": "assistant", "content": None, "tool_calls": (FrozenDict(
        {"id": "c", "type": "function", "function": FrozenDict({"name": "f", "arguments": "{}"})}),)})
    conv.add_message({"role": "tool", "tool_call_id": "c", "content": "done"})
    conv.add_message({"role": "assistant", "content": "ok", "refusal": None})
    assert conv.system_message == "be brief"
    assert type(conv.messages[2]["tool_calls"][0]["function"]) is dict
    assert conv.get_messages() == conv.messages


@pytest.mark.parametrize("bad", [
    {"role": "robot", "content": "x"}, {"content": "x"}, "hello",
    {"role": "tool", "content": "no id"}, {"role": "user"},
    {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]},
])
def test_add_message_rejects_invalid_messages(bad):
    with pytest.raises(ConfigurationError):
        Conversation().add_message(bad)


def test_messages_are_copies():
    conv = Conversation("sys")
    msg = {"role": "user", "content": "hi"}
    conv.add_message(msg)
    msg["content"] = "changed"
    conv.messages[1]["content"] = "changed too"
    conv.get_messages()[1]["content"] = "and again"
    assert conv.messages[1]["content"] == "hi"


def test_short_history_is_returned_whole():
    conv = long_chat(3)
    assert conv.get_messages() == conv.messages


def test_get_messages_fits_budget_and_keeps_system_and_newest_user():
    for strategy in ("drop_oldest", "sliding", "drop_middle"):
        conv = long_chat(200, strategy, max_tokens=600)
        conv.add_user("The final question?")
        out = conv.get_messages()
        assert count_messages(out, "gpt-5-nano") <= 600
        assert out[0] == {"role": "system", "content": "You are a helpful assistant."}
        assert out[-1] == {"role": "user", "content": "The final question?"}
        assert len(out) < len(conv.messages)


def test_sliding_keeps_the_first_user_message():
    conv = long_chat(100, "sliding", max_tokens=500)
    out = conv.get_messages()
    assert out[1]["content"].startswith("Question 0:")
    assert out[2]["content"].startswith("Question ")  # the first answer went with the middle
    assert out[-1]["content"].startswith("Answer 99:")


def test_drop_oldest_keeps_a_suffix_of_turns():
    conv = long_chat(100, "drop_oldest", max_tokens=500)
    out = conv.get_messages()
    assert out[1]["role"] == "user"
    assert out == [conv.messages[0]] + conv.messages[-(len(out) - 1):]


def test_drop_middle_marks_the_gap():
    conv = long_chat(100, "drop_middle", max_tokens=500)
    out = conv.get_messages()
    markers = [m for m in out if m["role"] == "system" and "omitted" in m["content"]]
    assert len(markers) == 1
    assert out[1]["content"].startswith("Question 0:") and out[2]["content"].startswith("Answer 0:")
    omitted = int(markers[0]["content"].strip("[").split()[0])
    assert omitted + len(out) - 2 == len(conv.messages) - 1  # out without system and marker


def test_reserve_tokens_and_override_budget():
    conv = long_chat(100, max_tokens=1000)
    conv.reserve_tokens = 400
    assert count_messages(conv.get_messages(), "gpt-5-nano") <= 600
    assert count_messages(conv.get_messages(max_tokens=2000), "gpt-5-nano") <= 1600
    assert len(conv.get_messages(max_tokens=2000)) > len(conv.get_messages())


def test_tool_definitions_count_against_the_budget():
    tools = [{"type": "function", "function": {"name": f"tool_{i}", "description": "does a thing " * 20,
                                               "parameters": {"type": "object", "properties": {}}}}
             for i in range(5)]
    conv = long_chat(100, max_tokens=1500)
    out = conv.get_messages(tools=tools)
    assert count_messages(out, "gpt-5-nano", tools=tools) <= 1500
    assert len(out) < len(conv.get_messages())


def test_single_message_too_large_raises_with_tokens_over():
    conv = Conversation("sys", max_tokens=100)
    conv.add_user("word " * 500)
    with pytest.raises(ContextWindowExceededError) as info:
        conv.get_messages()
    total = count_messages(conv.messages, "gpt-5-nano")
    assert info.value.tokens_over == total - 100
    assert str(info.value.tokens_over) in str(info.value)


def test_agent_tool_loop_keeps_pairs_together():
    conv = Conversation("sys", max_tokens=300, truncation_strategy="drop_oldest")
    conv.add_user("Research this.")
    for i in range(30):
        conv.add_assistant(tool_calls=[ToolCall.from_raw(f"c{i}a", "search", f'{{"q": "topic {i}"}}'),
                                       ToolCall.from_raw(f"c{i}b", "search", f'{{"q": "more {i}"}}')])
        conv.add_tool_result(f"c{i}a", f"result for topic {i}")
        conv.add_tool_result(f"c{i}b", f"result for more {i}")
    out = conv.get_messages()
    assert out[1] == {"role": "user", "content": "Research this."}
    assert count_messages(out) <= 300
    for j, msg in enumerate(out):
        if msg["role"] == "assistant":
            ids = [c["id"] for c in msg["tool_calls"]]
            assert [m["tool_call_id"] for m in out[j + 1:j + 1 + len(ids)]] == ids
    assert out[-1]["tool_call_id"] == "c29b"


def test_count_tokens_matches_count_messages():
    conv = long_chat(10)
    assert conv.count_tokens() == count_messages(conv.messages, "gpt-5-nano")
    assert conv.count_tokens("gpt-4o") == count_messages(conv.messages, "gpt-4o")
    assert conv.count_tokens(GPT5Nano) == conv.count_tokens()


def test_repeated_get_messages_uses_cached_plan_and_counts():
    conv = long_chat(50, max_tokens=500)
    first = conv.get_messages()
    assert conv.get_messages() == first
    conv.add_user("new")
    assert conv.get_messages()[-1] == {"role": "user", "content": "new"}


def test_clear_keeps_system_message():
    conv = long_chat(5)
    conv.clear()
    assert conv.messages == [{"role": "system", "content": "You are a helpful assistant."}]
    assert len(conv) == 1


def test_fork_is_independent():
    conv = long_chat(2)
    fork = conv.fork()
    fork.add_user("only in the fork")
    conv.add_user("only in the original")
    assert fork.messages[-1]["content"] == "only in the fork"
    assert conv.messages[-1]["content"] == "only in the original"
    assert fork.messages[:-1] == conv.messages[:-1]
    assert (fork.max_tokens, fork.truncation_strategy, fork.model) == (conv.max_tokens, "sliding", "gpt-5-nano")


def test_branch_at_index():
    conv = long_chat(3)  # system + 6
    branch = conv.branch(3)
    assert branch.messages == conv.messages[:3]
    assert conv.branch(-2).messages == conv.messages[:-2]
    assert conv.branch(0).messages == conv.messages[:1]  # the system message stays
    branch.add_user("alternative")
    assert len(conv) == 7
    with pytest.raises(ConfigurationError):
        conv.branch(8)


def test_round_trip_dict_and_file(tmp_path):
    conv = Conversation("sys", max_tokens=1234, truncation_strategy="drop_middle", reserve_tokens=34,
                        model="gpt-4o")
    conv.add_user("hi ünïcode ✓")
    conv.add_assistant(tool_calls=[ToolCall.from_raw("c1", "f", "{}")])
    conv.add_tool_result("c1", "done")
    data = conv.to_dict()
    assert data["version"] == 1 and json.loads(json.dumps(data)) == data
    again = Conversation.from_dict(data)
    assert again.messages == conv.messages
    assert (again.max_tokens, again.truncation_strategy, again.reserve_tokens, again.model) == (
        1234, "drop_middle", 34, "gpt-4o")
    path = tmp_path / "conv.json"
    conv.save(path)
    loaded = Conversation.load(path)
    assert loaded.messages == conv.messages and loaded.to_dict() == data
    assert [p.name for p in tmp_path.iterdir()] == ["conv.json"]  # no temp file left behind


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "conv.json"
    long_chat(1).save(path)
    before = path.read_text()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        long_chat(5).save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["conv.json"]


@pytest.mark.parametrize("content", ["{not json", '{"messages": "nope", "version": 1}', "[]",
                                     '{"version": 99, "messages": []}',
                                     '{"version": 1, "messages": [{"role": "alien"}]}'])
def test_corrupt_file_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "conv.json"
    path.write_text(content)
    with pytest.raises(ConfigurationError, match="conv.json is not a valid conversation file"):
        Conversation.load(path)


@pytest.mark.parametrize("kwargs", [{"truncation_strategy": "lru"}, {"max_tokens": 0},
                                    {"reserve_tokens": 4000}, {"reserve_tokens": -1},
                                    {"system_message": 42}])
def test_invalid_settings(kwargs):
    with pytest.raises(ConfigurationError):
        Conversation(**kwargs)


def test_concurrent_adds_and_reads_are_consistent():
    conv = Conversation("sys", max_tokens=100_000)
    barrier = threading.Barrier(4)
    errors = []

    def writer(w):
        barrier.wait()
        for i in range(100):
            conv.add_user(f"w{w} m{i}")

    def reader():
        barrier.wait()
        for _ in range(50):
            try:
                msgs = conv.get_messages()
                assert msgs[0]["role"] == "system"
                conv.count_tokens()
                conv.fork()
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(conv) == 301
    for w in range(3):  # each writer's messages in its own order
        own = [m["content"] for m in conv.messages if m["content"].startswith(f"w{w} ")]
        assert own == [f"w{w} m{i}" for i in range(100)]


# -- hostile files --------------------------------------------------------------------------------
def _saved(tmp_path, **kw):
    conv = Conversation("sys", **kw)
    conv.add_user("What is the weather?")
    conv.add_assistant(None, [ToolCall.from_raw("call_1", "get_weather", '{"city": "Tokyo"}')])
    conv.add_tool_result("call_1", "sunny")
    conv.add_assistant("Sunny.")
    path = tmp_path / "conv.json"
    conv.save(path)
    return path


@pytest.mark.parametrize("mutate, why", [
    (lambda raw: raw[: len(raw) // 2], "not JSON"),                      # truncated mid-write
    (lambda raw: b"\xff\xfe" + raw, "not UTF-8"),                          # another encoding
    (lambda raw: b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),   # a JSON bomb
    (lambda raw: b'{"version": 1, "messages": [' + b'{"role": "user", "content": ' * 3000 + b'"x"'
     + b"}" * 3000 + b"]}", "not a valid conversation file"),
    (lambda raw: raw.replace(b'"tool_call_id": "call_1"', b'"tool_call_id": "call_9"'), "no preceding assistant"),
    (lambda raw: raw.replace(b'"role": "tool"', b'"role": "user"').replace(b'"tool_call_id": "call_1",', b""),
     "have no tool result"),
    (lambda raw: json.dumps({**json.loads(raw), "messages": json.loads(raw)["messages"][:2]}).encode(),
     "have no tool result"),
    (lambda raw: json.dumps({**json.loads(raw), "messages": [
        {**json.loads(raw)["messages"][1], "tool_calls": json.loads(raw)["messages"][1]["tool_calls"] * 2}]}).encode(),
     "repeats tool call id"),
    (lambda raw: json.dumps({**json.loads(raw), "max_tokens": -5}).encode(), "max_tokens"),
    (lambda raw: json.dumps({**json.loads(raw), "messages": [{"role": "user", "content": 5}]}).encode(), "content"),
])
def test_a_hostile_or_broken_file_is_a_typed_error(tmp_path, mutate, why):
    path = _saved(tmp_path)
    assert len(Conversation.load(path)) == 5
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(ConfigurationError, match="conv.json is not a valid conversation file") as info:
        Conversation.load(path)
    assert why in str(info.value)


def test_a_file_larger_than_max_bytes_is_refused_before_it_is_parsed(tmp_path):
    path = _saved(tmp_path)
    with pytest.raises(ConfigurationError, match="larger than max_bytes=100"):
        Conversation.load(path, max_bytes=100)
