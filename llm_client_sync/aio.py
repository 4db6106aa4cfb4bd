"""The asyncio facade: the synchronous provider and agent, run in worker threads.

Plain coroutines over ``asyncio.to_thread`` (and one producer thread per stream), so it works
inside an event loop that is already running (Jupyter, FastAPI) with no nest_asyncio.

    async with AsyncOpenAIProvider(model="gpt-5-nano") as llm:
        result = await llm.complete("Hi")
        async with llm.stream("Write a haiku") as events:
            async for event in events:
                ...
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Callable

from .agent import Agent, AgentResult
from .errors import ConfigurationError, StreamError
from .providers.openai import OpenAIProvider
from .transport import CancelToken, cancel_scope
from .types import CompletionResult, EmbeddingResult

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .providers.base import Prompt, RequestParams
    from .providers.base import Provider

__all__ = ["AsyncAgent", "AsyncOpenAIProvider", "AsyncStream"]

_ITEM, _END, _ERROR = "item", "end", "error"


async def _in_thread(fn: Callable[[], Any], on_cancel: Callable[[], None] | None = None) -> Any:
    """Run a blocking call in a worker thread under a cancel token: cancelling the awaiting task
    cancels the token, which stops the call's retries, shuts its connection in flight down and
    frees the thread within a fraction of a second; no request is sent after that."""
    token = CancelToken()

    def run() -> Any:
        with cancel_scope(token):
            return fn()

    try:
        return await asyncio.to_thread(run)
    except asyncio.CancelledError:
        token.cancel()
        if on_cancel is not None:
            on_cancel()
        raise


class _Bridge:
    """The producer thread's side of an AsyncStream. The thread references only this object,
    never the AsyncStream, so a consumer that drops the stream lets it be finalised (and closed)."""

    def __init__(self, open_stream: Callable[[], Any], buffer: int, loop: asyncio.AbstractEventLoop,
                 close_across_threads: bool) -> None:
        self.open = open_stream
        self.close_across_threads = close_across_threads
        self.buffer = buffer
        self.lock = threading.Lock()
        self.credits = threading.Semaphore(buffer)  # backpressure: the producer waits for the consumer
        self.source: Any = None
        self.closed = False
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.done = threading.Event()
        self.token = CancelToken()  # cancels the request while it opens (before a source exists)
        self.thread = threading.Thread(target=self.produce, name="llm-client-sync-aio-stream", daemon=True)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            source = self.source
        self.token.cancel()  # the request in flight (also one still opening) stops at once
        for _ in range(self.buffer + 1):  # wake a producer waiting for queue space
            self.credits.release()
        if source is not None and self.close_across_threads:
            _close_quietly(source)

    def post(self, kind: str, value: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def produce(self) -> None:
        source = None
        try:
            with cancel_scope(self.token):
                source = self.open()
            with self.lock:
                self.source = source
                closed = self.closed
            if closed:
                return
            with cancel_scope(self.token):  # an agent stream opens its model calls while iterated
                for item in source:
                    self.credits.acquire()
                    if self.closed:
                        return
                    self.post(_ITEM, item)
            self.post(_END, None)
        except BaseException as exc:  # handed to the consumer, raised in its task
            if not self.closed:
                self.post(_ERROR, exc)
        finally:
            if source is not None:
                _close_quietly(source)  # from this thread too: an agent stream can only close here
            self.done.set()


class AsyncStream:
    """``async for`` over a blocking stream (a provider Stream or an AgentStream).

    ``close_across_threads``: the blocking stream's ``close()`` may be called from the loop's
    thread while the producer is blocked reading (true of a provider Stream); otherwise only the
    producer thread closes it, on the next item.

    A producer thread iterates the blocking stream and hands items to the loop through a
    bounded queue (``buffer`` items ahead of the consumer at most). When the consumer leaves
    early (``break`` inside ``async with``, ``aclose()``, the stream being dropped) or its task is
    cancelled, the blocking stream is closed, which closes the HTTP response. The request starts
    on the first ``__anext__``. Errors of the blocking stream are raised in the consumer's task.
    """

    def __init__(self, open_stream: Callable[[], Any], *, buffer: int = 64,
                 on_close: Callable[[], None] | None = None, close_across_threads: bool = True) -> None:
        if not isinstance(buffer, int) or buffer < 1:
            raise ConfigurationError("buffer must be a positive integer")
        self._open = open_stream
        self._buffer = buffer
        self._on_close = on_close
        self._close_across_threads = close_across_threads
        self._bridge: _Bridge | None = None
        self._closed = False
        self._finished = False
        self.closed_event = threading.Event()  # set once nothing holds the blocking stream open

    # -- consumer side (event loop) ----------------------------------------------------------
    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> Any:
        if self._finished or self._closed:
            raise StopAsyncIteration
        bridge = self._start()
        try:
            kind, value = await bridge.queue.get()
        except BaseException:  # CancelledError above all: the consumer is gone, stop upstream
            self.close()
            raise
        bridge.credits.release()
        if kind == _ITEM:
            return value
        self._finished = True
        if kind == _ERROR:
            raise value
        raise StopAsyncIteration

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self, timeout: float = 10.0) -> None:
        """Close the stream and wait (bounded) until the producer thread has released it."""
        self.close()
        if self._bridge is not None and not self._bridge.done.is_set():
            await asyncio.to_thread(self._bridge.done.wait, timeout)

    def close(self) -> None:
        """Stop without waiting: closes the blocking stream (and its HTTP response). Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None and not self._finished:
            self._on_close()
        if self._bridge is None:
            self.closed_event.set()
        else:
            self._bridge.close()

    async def result(self) -> Any:
        """Drain what is left and return the blocking stream's ``result()``."""
        async for _ in self:
            pass
        source = self._bridge.source if self._bridge is not None else None
        if source is None:
            raise StreamError("the stream was closed before it opened")
        return source.result()  # finished: returns (or raises) without blocking

    def __del__(self) -> None:
        # a consumer that breaks out of a bare ``async for`` drops the stream: release upstream
        if not getattr(self, "_closed", True):
            try:
                self.close()
            except Exception:  # never raise from a finaliser
                pass

    def _start(self) -> _Bridge:
        if self._bridge is None:
            self._bridge = _Bridge(self._open, self._buffer, asyncio.get_running_loop(),
                                   self._close_across_threads)
            self.closed_event = self._bridge.done
            self._bridge.thread.start()
        return self._bridge


def _close_quietly(source: Any) -> None:
    try:
        source.close()
    except ValueError:  # a generator running in the other thread: its own thread closes it
        pass


class AsyncOpenAIProvider:
    """``OpenAIProvider`` for asyncio: same constructor, awaitable calls, ``async for`` streams.

    ``provider`` is the wrapped synchronous provider (thread-safe, shared by the worker threads):
    any Provider (a ``FallbackProvider`` chain, an ``AnthropicProvider``...) may be passed as
    ``provider=``.
    """

    def __init__(self, *args: Any, provider: "Provider | None" = None, **kwargs: Any) -> None:
        if provider is not None and (args or kwargs):
            raise ConfigurationError("pass a Provider or OpenAIProvider constructor arguments, not both")
        self.provider: Any = provider if provider is not None else OpenAIProvider(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Async{self.provider!r}"

    @property
    def model(self) -> str:
        return self.provider.model

    @property
    def profile(self) -> Any:
        return self.provider.profile

    async def __aenter__(self) -> "AsyncOpenAIProvider":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.provider.close)

    async def complete(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> CompletionResult:
        """``OpenAIProvider.complete`` in a worker thread. Cancelling the await stops the call:
        its retries end, its connection is closed, and no request is sent after that."""
        return await _in_thread(lambda: self.provider.complete(prompt, **params))

    async def embed(self, texts: Any, dimensions: int | None = None, **kwargs: Any) -> EmbeddingResult:
        return await _in_thread(lambda: self.provider.embed(texts, dimensions, **kwargs))

    async def request(self, method: str, path: str, **kw: Any) -> Any:
        return await _in_thread(lambda: self.provider.request(method, path, **kw))

    def stream(self, prompt: "Prompt | None" = None, *, buffer: int = 64,
               **params: "Unpack[RequestParams]") -> AsyncStream:
        """An AsyncStream of StreamEvents; the request starts on the first ``__anext__``;
        ``await stream.result()`` gives the CompletionResult."""
        return AsyncStream(lambda: self.provider.stream(prompt, **params), buffer=buffer)


class AsyncAgent:
    """``Agent`` for asyncio: ``await agent.run(prompt)``, ``async for ev in agent.stream(prompt)``.

    Takes an Agent, or the arguments of one (the provider may be an AsyncOpenAIProvider).
    Cancelling a ``run`` or leaving a ``stream`` early cancels the agent after its current step.
    """

    def __init__(self, provider: Any, tools: Any = (), **kwargs: Any) -> None:
        if isinstance(provider, Agent):
            if tools or kwargs:
                raise ConfigurationError("pass an Agent or the arguments of one, not both")
            self.agent = provider
        else:
            if isinstance(provider, AsyncOpenAIProvider):
                provider = provider.provider
            self.agent = Agent(provider, tools, **kwargs)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.agent.messages

    def cancel(self) -> None:
        self.agent.cancel()

    def reset(self) -> None:
        self.agent.reset()

    def fork(self) -> "AsyncAgent":
        return AsyncAgent(self.agent.fork())

    async def run(self, prompt: Any = None, **params: Any) -> AgentResult:
        # cancelling stops the agent after its current step and the model call in flight at once
        return await _in_thread(lambda: self.agent.run(prompt, **params), on_cancel=self.agent.cancel)

    def stream(self, prompt: Any = None, *, buffer: int = 64, **params: Any) -> AsyncStream:
        """An AsyncStream of the agent's StreamEvents; ``await stream.result()`` gives the
        AgentResult."""
        # an AgentStream (a generator) can only be closed by the thread iterating it: the
        # producer closes it on its next event, and cancel() stops the loop between steps
        return AsyncStream(lambda: self.agent.stream(prompt, **params), buffer=buffer,
                           on_close=self.agent.cancel, close_across_threads=False)
