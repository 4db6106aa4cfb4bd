"""Agent: the ReAct loop. Call the model, run the tool calls it asks for, feed results back, repeat."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Iterator, Mapping

from ..conversation import Conversation
from ..errors import BudgetExceededError, ConfigurationError, LLMClientError, MaxTurnsExceededError
from ..observe import hooks as _hooks
from ..tools import Tool, ToolRegistry, ToolResult
from ..types import CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage, freeze
from ._result import AgentConfig, AgentResult, AgentStatus
from ._runner import run_tool_calls

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..observe.budget import Budget
    from ..providers.base import Provider, RequestParams

__all__ = ["Agent", "AgentStream"]

Approve = Callable[[ToolCall], bool]
_PASS_THROUGH = (StreamEventType.TOKEN, StreamEventType.REASONING)


def _is_fallback_notice(event: StreamEvent) -> bool:
    """A fail-over notice of a FallbackProvider stream: the caller must drop the text so far."""
    return event.type is StreamEventType.META and isinstance(event.data, Mapping) and \
        event.data.get("event") == "fallback"


def _new_conversation(system_message: str | None, provider: Any) -> Conversation:
    model = getattr(provider, "model", None)
    profile = getattr(provider, "profile", None)
    kwargs: dict[str, Any] = {"system_message": system_message}
    if model:
        kwargs["model"] = model
    if profile is not None:
        # the input budget of the model; a conversation's small default would cut tool results
        kwargs["max_tokens"] = max(1, profile.context_window - profile.max_output_tokens)
    return Conversation(**kwargs)


class Agent:
    """A model plus tools, looping until the model answers without asking for a tool.

    Thread-safety: many agents may share one provider (and one ToolRegistry) across threads.
    One Agent runs one loop at a time: concurrent ``run`` calls on the same agent are serialised
    (each sees the conversation the previous one left); use ``fork()`` for parallel branches.
    A stream holds the agent only while it works on a step, never while its events wait for the
    consumer: ``reset()``, ``fork()`` or another thread's ``run`` called during an iteration
    proceed between two steps. ``cancel()`` may be called from any thread.

    ``provider`` is any Provider (``OpenAIProvider``, a ``FallbackProvider`` chain, a fake in a
    test); with a chain each turn may fail over, and the run's usage and cost are those of the
    providers that answered.

        >>> agent = Agent(provider, tools=[get_weather])          # doctest: +SKIP
        >>> agent.run("What's the weather in Tokyo?").content     # doctest: +SKIP
    """

    def __init__(self, provider: "Provider", tools: "Iterable[Tool[Any, object] | Callable[..., object]] | ToolRegistry" = (),
                 *, system_message: str | None = None, config: AgentConfig | None = None,
                 conversation: "Conversation | None" = None, approve: Approve | None = None,
                 clock: Callable[[], float] = time.monotonic, name: str = "agent",
                 budget: "Budget | None" = None) -> None:
        if conversation is not None and system_message is not None:
            raise ConfigurationError("pass system_message or a conversation (with its own system message), not both")
        if not callable(getattr(provider, "complete", None)) or not callable(getattr(provider, "stream", None)):
            raise ConfigurationError(f"provider must be a Provider (an OpenAIProvider or anything with complete() "
                                     f"and stream()), got {type(provider).__name__}")
        if config is not None and not isinstance(config, AgentConfig):
            raise ConfigurationError(f"config must be an AgentConfig, got {type(config).__name__}")
        self.provider = provider
        self.config = config or AgentConfig()
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(
            tools, max_output_chars=self.config.max_tool_output_chars)
        self.conversation = conversation if conversation is not None else _new_conversation(system_message, provider)
        self.approve = approve
        self.name = name
        self.budget = budget  # an observe.Budget over all runs; run(budget=...) adds one for a run
        self._system_message = system_message
        self._clock = clock
        self._run_lock = threading.RLock()
        self._cancel = threading.Event()
        self._live_stream: Any = None  # the model stream of the run in progress (AgentStream.close)

    # -- public API ----------------------------------------------------------------------
    def run(self, prompt: "str | Mapping[str, object] | None" = None, **params: "Unpack[RequestParams]") -> AgentResult:
        """Add ``prompt`` as a user message and loop until the model answers without tools.

        ``prompt=None`` continues from the current history (after max_turns, say). Extra
        ``params`` go to every model call of this run. A failing model call ends the run with
        status "error" and the exception in ``result.error``; ``budget=Budget(...)`` caps this
        run (with the agent's budget): the run ends with status "budget_exceeded" before the
        model call that would cross it; ``context={...}`` tags this run's observe events.
        """
        result: AgentResult | None = None
        with self._run_lock:  # the whole run: concurrent runs are serialised
            for event in self._loop(prompt, params, streaming=False):
                if event.type is StreamEventType.DONE:
                    result = event.data
        assert result is not None  # _loop always ends with DONE
        return result

    def stream(self, prompt: "str | Mapping[str, object] | None" = None,
               **params: "Unpack[RequestParams]") -> "AgentStream":
        """Like ``run`` but yields StreamEvents as they happen.

        TOKEN/REASONING text as the model writes it; META ``{"event": "turn", ...}``,
        ``{"event": "tool_call", ...}`` and ``{"event": "tool_result", "tool_name": ..., ...}``;
        with a FallbackProvider, META ``{"event": "fallback", "discard": n, ...}`` when this
        turn's text so far is dropped and the next provider's answer follows; ERROR if a model
        call fails; and finally DONE carrying the AgentResult.
        """
        return AgentStream(self._loop(prompt, params, streaming=True), self)

    def cancel(self) -> None:
        """Stop the run in progress after its current step (model call or tool batch)."""
        self._cancel.set()

    def reset(self) -> None:
        """Forget the conversation (keeps the system message)."""
        with self._run_lock:
            self.conversation.clear()

    def fork(self) -> "Agent":
        """A new Agent with the same provider, tools and config and a copy of the history."""
        with self._run_lock:
            conversation = self.conversation.fork()
        return Agent(self.provider, self.tools, config=self.config, conversation=conversation,
                     approve=self.approve, clock=self._clock, name=self.name, budget=self.budget)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.conversation.messages)

    # -- seams for other wire protocols ----------------------------------------------------
    def assistant_message(self, completion: CompletionResult) -> dict[str, Any]:
        """The history entry for a model turn.

        Uses ``CompletionResult.to_message()`` so the agent stays protocol-agnostic: a provider
        speaking the Responses API can carry ``output_items`` (reasoning items, function calls)
        through that message and get them back on the next call.
        """
        return completion.to_message()

    def tool_message(self, result: ToolResult) -> dict[str, Any]:
        """The history entry for one tool result."""
        return result.to_message()

    # -- the loop ------------------------------------------------------------------------
    def _call_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = dict(self.config.model_params)
        merged.update(params)
        if len(self.tools):
            merged.setdefault("tools", self.tools.to_openai())
        return merged

    def _history(self, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        # the tool definitions are sent too, so they count against the context budget
        return self.conversation.get_messages(model=getattr(self.provider, "model", None), tools=tools)

    def _loop(self, prompt: Any, params: Mapping[str, Any], *, streaming: bool) -> Iterator[StreamEvent]:
        # the lock is held while a step runs and released at every yield: code consuming the
        # events (reset, fork, another thread's run) never waits on a suspended generator
        with self._run_lock:
            self._cancel.clear()
            steps: Generator[StreamEvent, None, None] = _Run(self, params, streaming).events(prompt)
        try:
            while True:
                with self._run_lock:
                    try:
                        event = next(steps)
                    except StopIteration:
                        return
                yield event
        finally:
            with self._run_lock:
                steps.close()


class _HistoryFailed(Exception):
    """Internal: adding tool results to the conversation failed (the cause is chained)."""


def _with_tool_ids(completion: CompletionResult, turn: int) -> CompletionResult:
    """Every tool call with a unique, non-empty id (some servers send none, or the same one twice);
    the assistant message and the tool results then use the same ids."""
    calls = completion.tool_calls
    seen: set[str] = set()
    fixed = []
    changed = False
    for k, call in enumerate(calls):
        cid = call.id if isinstance(call.id, str) else ""
        if not cid.strip() or cid in seen:
            cid = f"call_t{turn}_{k}"
            while cid in seen:
                cid += "_"
            call = dataclasses.replace(call, id=cid)
            changed = True
        seen.add(cid)
        fixed.append(call)
    return dataclasses.replace(completion, tool_calls=tuple(fixed)) if changed else completion


class _Run:
    """The state of one run; lives only inside ``Agent._loop``."""

    def __init__(self, agent: Agent, params: Mapping[str, Any], streaming: bool) -> None:
        self.agent = agent
        self.config = agent.config
        params = dict(params)
        self.budgets = tuple(b for b in (agent.budget, params.pop("budget", None)) if b is not None)
        self.context = params.pop("context", None)  # observe tags for this run's events
        self.obs: _hooks.Call | None = None  # the observed invoke_agent call, when hooks listen
        self.params = agent._call_params(params)
        self.streaming = streaming
        self.turns = 0
        self.usage = Usage()
        self.cost: float | None = None
        self.content: str | None = None
        self.calls: list[ToolCall] = []
        self.results: list[ToolResult] = []
        self.completions: list[CompletionResult] = []
        self.error: BaseException | None = None

    def events(self, prompt: Any) -> Generator[StreamEvent, None, None]:
        if _hooks.active:
            self.obs = _hooks.start("invoke_agent", self.agent.name, owner=self.agent.provider,
                                    model=getattr(self.agent.provider, "model", None), context=self.context,
                                    prompt=prompt)
        try:
            yield from self._events(prompt)
        except BaseException as exc:
            if self.obs is not None:  # raised (max turns) or closed early by the consumer
                closed = isinstance(exc, GeneratorExit)
                self.obs.end(self._result(AgentStatus.CANCELLED if closed else AgentStatus.ERROR),
                             error=None if closed else exc)
            raise

    def _events(self, prompt: Any) -> Generator[StreamEvent, None, None]:
        agent = self.agent
        if isinstance(prompt, str):
            agent.conversation.add_user(prompt)
        elif isinstance(prompt, Mapping):
            agent.conversation.add_message(dict(prompt))
        elif prompt is not None:
            raise ConfigurationError(f"prompt must be a str, a message dict or None, got {type(prompt).__name__}")
        status = AgentStatus.COMPLETED
        while True:
            if agent._cancel.is_set():
                status = AgentStatus.CANCELLED
                break
            if self.turns >= self.config.max_turns:
                status = AgentStatus.MAX_TURNS
                break
            self.turns += 1
            if self.obs is not None:
                self.obs.event(_hooks.EventType.AGENT_TURN, data={"turn": self.turns})
            yield StreamEvent(StreamEventType.META, {"event": "turn", "turn": self.turns})
            try:
                completion = yield from self._call_model()
            except BudgetExceededError as exc:
                self.error = exc
                self.turns -= 1  # the turn's model call was never sent
                status = AgentStatus.BUDGET_EXCEEDED
                break
            except LLMClientError as exc:
                self.error = exc
                partial = getattr(exc, "partial", None)
                if isinstance(partial, CompletionResult) and partial.content:
                    self.content = partial.content
                yield StreamEvent(StreamEventType.ERROR, exc)
                status = AgentStatus.ERROR
                break
            completion = _with_tool_ids(completion, self.turns)
            self._account(completion)
            try:
                agent.conversation.add_message(agent.assistant_message(completion))
            except Exception as exc:
                yield self._history_failed(exc)
                status = AgentStatus.ERROR
                break
            if not completion.tool_calls:
                status = AgentStatus.COMPLETED
                break
            try:
                batch = yield from self._run_tools(completion.tool_calls)
            except _HistoryFailed as failed:
                yield self._history_failed(failed.__cause__)
                status = AgentStatus.ERROR
                break
            if agent._cancel.is_set():
                status = AgentStatus.CANCELLED
                break
            if self.config.stop_on_tool_error and any(r.is_error for r in batch):
                status = AgentStatus.ERROR
                break
        result = self._result(status)
        if status == AgentStatus.MAX_TURNS and self.config.raise_on_max_turns:
            exc = MaxTurnsExceededError(f"the agent reached max_turns={self.config.max_turns} without a final answer")
            exc.result = result  # type: ignore[attr-defined]
            raise exc
        if self.obs is not None:
            self.obs.end(result, error=self.error if status == AgentStatus.ERROR else None)
        yield StreamEvent(StreamEventType.DONE, result)

    def _call_model(self) -> Iterator[StreamEvent]:
        """Generator returning the CompletionResult; streaming passes text events through."""
        provider = self.agent.provider
        messages = self.agent._history(self.params.get("tools"))
        with _hooks.within(self.obs, budgets=self.budgets):
            if not self.streaming:
                return provider.complete(messages, **self.params)
            opened = provider.stream(messages, **self.params)
        with opened as stream:
            self.agent._live_stream = stream  # lets AgentStream.close() from another thread reach it
            for event in stream:
                if (event.type in _PASS_THROUGH and event.choice == 0) or _is_fallback_notice(event):
                    yield event
            return stream.result()

    def _account(self, completion: CompletionResult) -> None:
        self.completions.append(completion)
        self.usage = self.usage + completion.usage
        if completion.cost is not None:
            self.cost = (self.cost or 0.0) + completion.cost
        if completion.content:
            self.content = completion.content

    def _run_tools(self, calls: tuple[ToolCall, ...]) -> Iterator[StreamEvent]:
        """Generator returning this turn's results in the model's order, after adding them to history."""
        agent = self.agent
        self.calls.extend(calls)
        results: list[ToolResult | None] = [None] * len(calls)
        approved: list[ToolCall] = []
        slots: list[int] = []
        for i, call in enumerate(calls):
            yield StreamEvent(StreamEventType.META, {
                "event": "tool_call", "turn": self.turns, "tool_call_id": call.id, "tool_name": call.name,
                "arguments": dict(call.arguments), "raw_arguments": call.raw_arguments})
            refusal = self._refusal(call)
            if refusal is not None:
                results[i] = refusal
                yield self._result_event(refusal)
            else:
                approved.append(call)
                slots.append(i)
        limit = self.config.max_parallel_tools if self.config.parallel_tool_execution else 1
        for j, result in run_tool_calls(approved, self._execute, max_parallel=limit,
                                        timeout=self.config.tool_timeout, cancelled=agent._cancel,
                                        clock=agent._clock):
            results[slots[j]] = result
            yield self._result_event(result)
        ordered = [r for r in results if r is not None]
        self.results.extend(ordered)
        try:
            for result in ordered:  # the model's order, whatever order they finished in
                agent.conversation.add_message(agent.tool_message(result))
        except Exception as exc:
            raise _HistoryFailed() from exc
        return ordered

    def _history_failed(self, exc: BaseException | None) -> StreamEvent:
        err = LLMClientError(f"the agent could not record the conversation history: "
                             f"{type(exc).__name__}: {exc}")
        err.__cause__ = exc
        self.error = err
        return StreamEvent(StreamEventType.ERROR, err)

    def _execute(self, call: ToolCall) -> ToolResult:
        if self.obs is None:
            return self.agent.tools.execute_call(call, max_output_chars=self.config.max_tool_output_chars)
        obs = _hooks.start("execute_tool", call.name, parent=self.obs, provider=self.obs.provider,
                           tool_call_id=call.id, arguments=call.raw_arguments,
                           description=getattr(self.agent.tools.get(call.name), "description", None))
        try:
            with _hooks.within(obs):
                result = self.agent.tools.execute_call(call, max_output_chars=self.config.max_tool_output_chars)
        except BaseException as exc:
            obs.end(error=exc)
            raise
        obs.end(result, error=None)
        return result

    def _refusal(self, call: ToolCall) -> ToolResult | None:
        approve = self.agent.approve
        if approve is None:
            return None
        try:
            ok = approve(call)
        except Exception as exc:  # a broken approval hook must not leave the tool call unanswered
            return ToolResult(call.id, call.name, f"Not run: the approval check failed ({type(exc).__name__}: "
                                                  f"{exc}).", True, 0.0, "refused")
        if ok:
            return None
        return ToolResult(call.id, call.name, "Not run: the user refused this tool call. Do not retry it; "
                                              "answer without it or ask the user.", True, 0.0, "refused")

    def _result_event(self, result: ToolResult) -> StreamEvent:
        return StreamEvent(StreamEventType.META, {
            "event": "tool_result", "turn": self.turns, "tool_call_id": result.tool_call_id,
            "tool_name": result.name, "content": result.content, "is_error": result.is_error,
            "error_kind": result.error_kind, "duration": result.duration})

    def _result(self, status: AgentStatus) -> AgentResult:
        return AgentResult(
            content=self.content, status=status, num_turns=self.turns, all_tool_calls=tuple(self.calls),
            tool_results=tuple(self.results), messages=freeze(list(self.agent.conversation.messages)),
            usage=self.usage, cost=self.cost, error=self.error, completions=tuple(self.completions))


class AgentStream:
    """Iterator of an agent's StreamEvents and a context manager; ``result()`` gives the AgentResult.

        >>> with agent.stream("Weather in Tokyo?") as events:   # doctest: +SKIP
        ...     for event in events:
        ...         if event.type is StreamEventType.TOKEN:
        ...             print(event.data, end="")
        >>> events.result().status                               # doctest: +SKIP
        'completed'
    """

    def __init__(self, events: Iterator[StreamEvent], agent: Any = None) -> None:
        self._events = events
        self._agent = agent
        self._result: AgentResult | None = None
        self._closed = False

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        if self._closed:
            raise StopIteration
        event = next(self._events)
        if event.type is StreamEventType.DONE:
            self._result = event.data
        return event

    def __enter__(self) -> "AgentStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def result(self) -> AgentResult:
        """Run to the end if needed and return the AgentResult."""
        for _ in self:
            pass
        if self._result is None:
            raise LLMClientError("the agent stream was closed before it finished")
        return self._result

    def close(self) -> None:
        """Stop early: closes the model stream in progress and releases the agent."""
        if not self._closed:
            self._closed = True
            try:
                self._events.close()  # type: ignore[attr-defined]
            except ValueError:
                # being iterated in another thread: close the model stream it is blocked on,
                # and stop the loop after the current step
                live = getattr(self._agent, "_live_stream", None)
                if self._agent is not None:
                    self._agent.cancel()
                if live is not None:
                    live.close()
