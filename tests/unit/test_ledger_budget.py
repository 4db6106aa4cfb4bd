"""Ledger (rows, totals by tag, JSON/CSV, threads), Budget (reservations before the call), prices."""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import replace

import pytest

from llm_client_sync import Agent, AgentStatus, BudgetExceededError, OpenAIProvider, tool
from llm_client_sync import models
from llm_client_sync.errors import ConfigurationError
from llm_client_sync.models import GPT5Nano, ModelProfile, get_profile
from llm_client_sync.observe import Budget, scope
from llm_client_sync.observe.ledger import Ledger
from llm_client_sync.observe.prices import load_prices, price_table, set_prices
from llm_client_sync.observe import hooks
from llm_client_sync.observe.budget import estimate_call
from llm_client_sync.observe.ledger import LedgerRow
from llm_client_sync.types import Usage

from test_hooks import FakeTransport, _chat_body, _provider


@pytest.fixture
def registry():
    """Price overrides change the global registry: put it back afterwards."""
    saved = dict(models._registry)
    yield
    with models._lock:
        models._registry.clear()
        models._registry.update(saved)


# -- ModelProfile.cost: the one cost function ------------------------------------------------------
def test_cost_prices_cache_writes_and_the_batch_discount():
    p = ModelProfile("m", "m", "chat", 1000, 100, input_price=3.0, cached_input_price=0.3, output_price=15.0,
                     cache_write_price=3.75, batch_discount=0.5)
    # 1000 prompt tokens of which 600 read from cache and 300 written to it, 100 out
    full = (100 * 3.0 + 600 * 0.3 + 300 * 3.75 + 100 * 15.0) / 1e6
    assert p.cost(1000, 100, 600, 300) == pytest.approx(full)
    assert p.cost(1000, 100, 600, 300, batch=True) == pytest.approx(full / 2)
    u = Usage(prompt_tokens=1000, completion_tokens=100, total_tokens=1100, cached_tokens=600, cache_write_tokens=300)
    assert p.usage_cost(u) == p.cost(1000, 100, 600, 300)
    # without a cache-write price, writes cost the input price
    assert replace(p, cache_write_price=None).cost(1000, 0, 0, 300) == pytest.approx(1000 * 3.0 / 1e6)


# -- Ledger ---------------------------------------------------------------------------------------
def test_ledger_records_billed_calls_with_tags_and_totals_by_any_tag():
    p, _ = _provider(_chat_body(prompt=100, completion=10), _chat_body(prompt=200, completion=20),
                     _chat_body(prompt=50, completion=5), context={"tenant": "acme"})
    with Ledger() as ledger:
        p.complete("a", context={"user": "u1"})
        p.complete("b", context={"user": "u2"})
        with scope(context={"user": "u1"}):
            p.complete("c")
    p.complete("not recorded after detach")
    assert len(ledger) == 3
    row = ledger.rows()[0]
    assert (row.provider, row.operation, row.model, row.response_model) == \
        ("openai", "chat", "gpt-5-nano", "gpt-5-nano-2025-08-07")
    assert row.usage.prompt_tokens == 100 and dict(row.tags) == {"tenant": "acme", "user": "u1"}
    by_user = ledger.totals(by="user")
    assert by_user["u1"].calls == 2 and by_user["u1"].usage.prompt_tokens == 150
    assert by_user["u1"].cost == pytest.approx((150 * 0.05 + 15 * 0.40) / 1e6)
    assert ledger.totals(by="tenant")["acme"].calls == 3
    assert ledger.totals(by="model")["gpt-5-nano"].usage.completion_tokens == 35
    assert ledger.totals(by="nope") == {None: ledger.total()}


def test_ledger_skips_cached_and_unbilled_results():
    ledger = Ledger()
    call = hooks.start("chat", "m")
    from llm_client_sync.types import CompletionResult

    hit = CompletionResult(content="x", usage=Usage(5, 1, 6), cost=1.0, cached=True)
    unsubscribe = hooks.subscribe(ledger)
    try:
        call.end(hit)
        hooks.start("chat", "m").end(error=RuntimeError("no usage"))
    finally:
        unsubscribe()
    assert len(ledger) == 0


def test_ledger_exports_json_and_csv_rows():
    ledger = Ledger()
    ledger.record(LedgerRow(1.0, "openai", "chat", "gpt-5-nano", "gpt-5-nano", "req_1",
                            Usage(10, 5, 15, reasoning_tokens=3, cached_tokens=4), 1.5e-06, tags={"tenant": "a"}))
    ledger.record(LedgerRow(2.0, "openai", "chat", "gpt-5", None, None, Usage(1, 1, 2), None, batch=True,
                            tags={"user": "u"}))
    rows = json.loads(ledger.to_json())
    assert rows[0]["reasoning_tokens"] == 3 and rows[0]["cached_tokens"] == 4 and rows[0]["tags"] == {"tenant": "a"}
    table = list(csv.DictReader(io.StringIO(ledger.to_csv())))
    assert table[0]["tag.tenant"] == "a" and table[0]["tag.user"] == ""
    assert table[1]["tag.user"] == "u" and table[1]["batch"] == "True" and table[1]["cost"] == ""
    assert ledger.total().calls == 2 and ledger.total().cost == pytest.approx(1.5e-06)


def test_ledger_is_thread_safe():
    ledger = Ledger()
    row = LedgerRow(0.0, "openai", "chat", "m", None, None, Usage(1, 1, 2), 1e-6, tags={"t": "x"})

    def work() -> None:
        for i in range(500):
            ledger.record(row)
            if i % 100 == 0:
                ledger.totals(by="t")  # readers run while writers append

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ledger) == 4000 and ledger.totals(by="t")["x"].calls == 4000


# -- Budget ----------------------------------------------------------------------------------------
def test_estimate_prices_the_limiters_token_estimate():
    body = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 100}
    tokens, usd = estimate_call(body, GPT5Nano)
    prompt = tokens - 100
    assert prompt > 0 and usd == pytest.approx((prompt * 0.05 + 100 * 0.40) / 1e6)


def test_budget_refuses_before_sending_and_counts_what_was_spent():
    p, sent = _provider(_chat_body(prompt=10, completion=4))
    one_call_estimate = estimate_call(p.build_body("Hi", max_completion_tokens=20), p.profile)[1]
    spent_by_one = (10 * 0.05 + 4 * 0.40) / 1e6
    budget = Budget(max_usd=spent_by_one + one_call_estimate * 0.99)  # room for one call, not two
    p.budget = budget
    p.complete("Hi", max_completion_tokens=20)
    assert budget.spent_usd == pytest.approx((10 * 0.05 + 4 * 0.40) / 1e6) and budget.spent_tokens == 14
    assert budget.reserved_usd == 0 and budget.calls == 1
    with pytest.raises(BudgetExceededError) as info:
        p.complete("Hi", max_completion_tokens=20)
    assert len(sent.sent) == 1  # the refused call never reached the transport
    assert info.value.limit == budget.max_usd and info.value.estimate == pytest.approx(one_call_estimate)
    assert "budget.update(max_usd=" in str(info.value)
    budget.update(max_usd=1.0)
    p.complete("Hi", max_completion_tokens=20)
    assert len(sent.sent) == 2


def test_failed_call_gives_its_reservation_back():
    from llm_client_sync.errors import APIConnectionError

    p, _ = _provider(APIConnectionError("down"))
    p.budget = budget = Budget(max_tokens=10_000)
    with pytest.raises(APIConnectionError):
        p.complete("Hi", max_completion_tokens=20)
    assert budget.reserved_tokens == 0 and budget.spent_tokens == 0


def test_in_flight_reservations_count_against_the_cap():
    b = Budget(max_tokens=100)
    from llm_client_sync.observe.budget import reserve, settle

    body = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 30}
    tokens = estimate_call(body, GPT5Nano)[0]
    holds = []
    while b.remaining_tokens >= tokens:
        holds.append(reserve(body, GPT5Nano, b))
    with pytest.raises(BudgetExceededError):
        reserve(body, GPT5Nano, b)
    for h in holds:
        settle(h, Usage(1, 1, 2))
    assert b.reserved_tokens == 0 and b.spent_tokens == 2 * len(holds) and b.refused == 1


def test_max_usd_with_an_unpriced_model_is_refused_with_a_fix():
    p = OpenAIProvider("my-local-model", api_key="k", base_url="http://127.0.0.1:9/v1", budget=Budget(max_usd=1))
    p.transport = FakeTransport()  # type: ignore[assignment]
    with pytest.raises(BudgetExceededError, match="has no prices"):
        p.complete("Hi")


def test_budget_validates_its_limits():
    with pytest.raises(ConfigurationError):
        Budget()
    with pytest.raises(ConfigurationError):
        Budget(max_usd=-1)
    with pytest.raises(ConfigurationError):
        Budget(max_tokens=1.5)  # type: ignore[arg-type]


def test_scoped_budget_caps_every_call_in_the_block_and_nests():
    p, sent = _provider()
    outer = Budget(max_tokens=1_000_000)
    inner = Budget(max_tokens=1)
    with scope(budget=outer):
        p.complete("Hi", max_completion_tokens=5)
        with scope(budget=inner), pytest.raises(BudgetExceededError):
            p.complete("Hi", max_completion_tokens=5)
    assert outer.calls == 1 and outer.reserved_tokens == 0 and len(sent.sent) == 1


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: sunny"


def test_agent_with_a_budget_just_above_one_turn_stops_before_its_second_call():
    tool_turn = {"id": "c1", "object": "chat.completion", "model": "gpt-5-nano",
                 "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                     "role": "assistant", "content": None, "tool_calls": [
                         {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Oslo"}'}}]}}],
                 "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80}}
    p, sent = _provider(tool_turn, _chat_body("done"))
    agent = Agent(p, tools=[lookup])
    first_estimate = estimate_call(p.build_body(agent._history(agent.tools.to_openai()) +
                                                [{"role": "user", "content": "Weather in Oslo?"}],
                                                tools=agent.tools.to_openai(), max_completion_tokens=20),
                                   p.profile)[1]
    budget = Budget(max_usd=first_estimate * 1.2)
    result = agent.run("Weather in Oslo?", budget=budget, max_completion_tokens=20)
    assert result.status == AgentStatus.BUDGET_EXCEEDED == "budget_exceeded"
    assert len(sent.sent) == 1 and result.num_turns == 1
    assert isinstance(result.error, BudgetExceededError)
    assert [r.content for r in result.tool_results] == ["Oslo: sunny"]  # the turn's tools still ran
    assert budget.calls == 1 and budget.spent_usd == pytest.approx((60 * 0.05 + 20 * 0.40) / 1e6)


# -- prices ----------------------------------------------------------------------------------------
def test_set_prices_overrides_for_new_providers_and_snapshots(registry):
    set_prices("gpt-5-nano", input=1.0, output=2.0, as_of="2027-01-01")
    assert get_profile("gpt-5-nano").cost(1_000_000, 1_000_000) == pytest.approx(3.0)
    assert get_profile("gpt-5-nano").prices_as_of == "2027-01-01"
    assert price_table()["models"]["gpt-5-nano"]["as_of"] == "2027-01-01"
    with pytest.raises(ConfigurationError):
        set_prices("gpt-5-nano", batch_discount=None)
    set_prices("gpt-5-nano-2025-08-07", input=5.0)
    assert get_profile("gpt-5-nano-2025-08-07").input_price == 5.0
    assert get_profile("gpt-5-nano").input_price == 1.0  # the base keeps its own
    with pytest.raises(ConfigurationError):
        set_prices("gpt-5-nano", inputs=1.0)
    with pytest.raises(ConfigurationError):
        set_prices("gpt-5-nano", input=-1)


def test_price_table_round_trips_through_a_json_file(registry, tmp_path):
    table = price_table()
    assert table["as_of"] == models.PRICES_AS_OF and table["models"]["gpt-5"]["output"] == 10.0
    table["models"]["gpt-5"]["output"] = 11.0
    table["models"]["my-model"] = {"input": 0.1, "output": 0.2}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    load_prices(path)
    assert get_profile("gpt-5").output_price == 11.0 and get_profile("my-model").prices_as_of == table["as_of"] and get_profile("my-model").cost(10, 10) == pytest.approx(3e-6)
    with pytest.raises(ConfigurationError):
        load_prices({"gpt-5": {}})
    with pytest.raises(ConfigurationError):
        load_prices(tmp_path / "missing.json")


def test_a_budget_for_one_call_is_checked_and_never_sent():
    p, sent = _provider()
    with pytest.raises(BudgetExceededError):
        p.complete("Hi", budget=Budget(max_tokens=1))
    b = Budget(max_tokens=100_000)
    p.complete("Hi", budget=b, max_completion_tokens=5)
    assert len(sent.sent) == 1 and "budget" not in sent.sent[0] and b.calls == 1
