"""Budgets over real sockets (MockOpenAIServer): an agent stops before the call that would cross
its budget; the Ledger sees exactly the calls that were billed."""

from __future__ import annotations

import pytest

from llm_client_sync import Agent, AgentStatus, Budget, BudgetExceededError, Ledger, OpenAIProvider, tool
from llm_client_sync.observe import scope
from llm_client_sync.observe.budget import estimate_call
from llm_client_sync.testing import MockOpenAIServer

TURN = {"prompt_tokens": 80, "completion_tokens": 16, "total_tokens": 96}
TURN_USD = (80 * 0.05 + 16 * 0.40) / 1e6  # gpt-5-nano: $0.05 in, $0.40 out per 1M


@tool
def forecast(city: str) -> str:
    """The forecast for a city."""
    return f"{city}: rain"


@pytest.fixture
def server():
    with MockOpenAIServer() as s:
        yield s


def _first_estimate(p: OpenAIProvider, agent: Agent, prompt: str) -> float:
    tools = agent.tools.to_openai()
    body = p.build_body(agent._history(tools) + [{"role": "user", "content": prompt}], tools=tools,
                        max_completion_tokens=16)
    return estimate_call(body, p.profile)[1]


@pytest.mark.parametrize("streaming", [False, True])
def test_agent_with_a_budget_just_above_one_turn_stops_before_its_second_call(server, streaming):
    server.add_tool_calls([("forecast", {"city": "Lima"})], usage=TURN)
    server.add_text("Rain in Lima.", usage=TURN)
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url) as p, Ledger() as ledger:
        agent = Agent(p, tools=[forecast])
        prompt = "Forecast for Lima?"
        # room for the first call's estimate, and for one turn's real cost, but not for a second call
        budget = Budget(max_usd=max(_first_estimate(p, agent, prompt), TURN_USD) * 1.05)
        if streaming:
            with agent.stream(prompt, budget=budget, max_completion_tokens=16) as events:
                result = events.result()
        else:
            result = agent.run(prompt, budget=budget, max_completion_tokens=16)
    assert result.status == AgentStatus.BUDGET_EXCEEDED
    assert isinstance(result.error, BudgetExceededError) and result.error.spent == pytest.approx(TURN_USD)
    assert len([r for r in server.requests if r.path.endswith("/chat/completions")]) == 1
    assert server.pending == 1  # the second reply was never asked for
    assert result.num_turns == 1 and result.cost == pytest.approx(TURN_USD)
    assert budget.spent_usd == pytest.approx(TURN_USD) and budget.spent_tokens == 96 and budget.refused == 1
    assert len(ledger) == 1 and ledger.total().cost == pytest.approx(TURN_USD)


def test_raising_the_budget_lets_the_agent_continue(server):
    server.add_tool_calls([("forecast", {"city": "Oslo"})], usage=TURN)
    server.add_text("Rain in Oslo.", usage=TURN)
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url) as p:
        agent = Agent(p, tools=[forecast], budget=Budget(max_tokens=1))
        assert agent.run("Forecast for Oslo?").status == "budget_exceeded"
        agent.budget.update(max_tokens=1_000_000)
        result = agent.run(None)  # continue from the history
    assert result.status == "completed" and result.content == "Rain in Oslo."


def test_a_provider_budget_is_shared_across_threads_and_never_overspent(server):
    import threading

    for _ in range(20):
        server.add_text("ok", usage={"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20})
    errors: list[BaseException] = []
    done: list[int] = []
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url) as p:
        estimate = estimate_call(p.build_body("Hi", max_completion_tokens=20), p.profile)[0]
        assert estimate >= 20  # the estimate bounds the real usage, so the cap holds exactly
        p.budget = budget = Budget(max_tokens=7 * 20)

        def work() -> None:
            for _ in range(5):
                try:
                    with scope(context={"worker": threading.current_thread().name}):
                        p.complete("Hi", max_completion_tokens=20)
                    done.append(1)
                except BudgetExceededError as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(done) + len(errors) == 20 and 1 <= len(done) <= 7
    assert budget.spent_tokens == 20 * len(done) <= budget.max_tokens and budget.reserved_tokens == 0
    assert budget.refused == len(errors)


def test_the_ledger_records_batch_api_items_at_the_batch_discount(server, tmp_path):
    from llm_client_sync.batch import BatchAPIRunner
    from llm_client_sync.testing._batches import install_batch_routes

    install_batch_routes(server)
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url) as p, Ledger() as ledger:
        results = BatchAPIRunner(p, poll_interval=0.01, sleep=lambda s: None).run(["one", "two"])
    rows = ledger.rows()
    assert [r.batch for r in rows] == [True, True] and len(results) == 2
    for row, res in zip(rows, results):
        u = res.result.usage
        assert row.usage == u and row.cost == pytest.approx((u.prompt_tokens * 0.05 + u.completion_tokens * 0.40)
                                                            / 1e6 / 2)
    assert ledger.totals(by="batch")[True].calls == 2


def test_the_ledger_records_a_batch_api_item_once_when_its_results_are_fetched_again(server):
    from llm_client_sync.batch import BatchAPIRunner
    from llm_client_sync.testing._batches import install_batch_routes

    install_batch_routes(server)
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url) as p, Ledger() as ledger:
        runner = BatchAPIRunner(p, poll_interval=0.01, sleep=lambda s: None)
        first = runner.run(["one", "two"])
        batches = p.request("GET", "/batches").json()["data"]
        again = runner.resume(batches[0]["id"], ["one", "two"])
    assert [r.result.text for r in again] == [r.result.text for r in first]
    assert len(ledger) == 2 and ledger.total().usage == first[0].result.usage + first[1].result.usage


def test_a_1000_item_batch_stops_within_one_items_cost_of_the_cap_and_resumes(server, tmp_path):
    from llm_client_sync import BatchRunner

    items = [f"item {i:04d}" for i in range(1000)]
    with OpenAIProvider("gpt-5-nano", api_key="sk-test", base_url=server.base_url,
                        default_params={"max_completion_tokens": 10}) as p:
        tokens, per_item = estimate_call(p.build_body(items[0]), p.profile)
        prompt = tokens - 10
        assert all(estimate_call(p.build_body(i), p.profile)[0] == tokens for i in items)
        for _ in items:  # each reply costs exactly what its call was estimated at
            server.add_text("ok", usage={"prompt_tokens": prompt, "completion_tokens": 10, "total_tokens": tokens})
        cap = per_item * 300.5
        p.budget = budget = Budget(max_usd=cap)
        checkpoint = str(tmp_path / "run.jsonl")
        runner = BatchRunner(p, max_workers=8, checkpoint=checkpoint)
        first = runner.run(items)
        assert runner.stats.stopped == "budget_exceeded"
        done = [r for r in first if r.ok]
        assert len(done) == 300 and runner.stats.succeeded == 300
        assert cap - per_item < budget.spent_usd <= cap  # stopped within one item's cost of the cap
        assert budget.spent_usd == pytest.approx(300 * per_item) and budget.reserved_usd == 0
        assert all(isinstance(r.error, BudgetExceededError) and r.attempts == 0 for r in first if not r.ok)

        budget.update(max_usd=1.0)
        again = BatchRunner(p, max_workers=8, checkpoint=checkpoint)
        second = again.run(items)
    assert again.stats.stopped is None and all(r.ok for r in second)
    assert again.stats.skipped == 300 and again.stats.succeeded == 700
    assert len([r for r in server.requests if r.path.endswith("/chat/completions")]) == 1000  # none twice
    assert budget.spent_usd == pytest.approx(1000 * per_item)
