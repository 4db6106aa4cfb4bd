"""BatchRunner: many ``provider.complete`` calls over an Executor, resumable from a JSONL checkpoint.

Items go to worker threads (or any ``concurrent.futures.Executor``: processes, a Dask cluster);
the driver thread alone writes the checkpoint, so a killed run resumes where it stopped and
every item appears exactly once.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Sized
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from .. import errors as _errors
from .._atomic import atomic_writer
from .._checks import check_int, check_iterable, check_mapping, check_number
from ..errors import (
    APIError,
    APIStatusError,
    BudgetExceededError,
    ConfigurationError,
    LLMClientError,
)
from ..observe import hooks as _hooks
from ..types import CompletionResult, Usage
from .checkpoint import OK, PENDING, Checkpoint, fingerprint

if TYPE_CHECKING:
    from ..providers.base import Provider

__all__ = ["BatchResult", "BatchRunner", "BatchStats", "read_results", "write_results"]

log = logging.getLogger("llm_client_sync.batch")


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of one item: ``result`` (a CompletionResult) or ``error`` (the exception).

    ``attempts`` counts tries across resumed runs; ``resumed`` is True when the result was read
    back from the checkpoint instead of computed in this run.
    """

    id: str
    index: int
    result: CompletionResult | None = None
    error: BaseException | None = None
    attempts: int = 1
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The JSON line written to checkpoints and output files."""
        return {"index": self.index, "id": self.id, "ok": self.ok, "attempts": self.attempts,
                "result": self.result.to_dict() if self.result is not None else None,
                "error": error_to_dict(self.error) if self.error is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, resumed: bool = True) -> "BatchResult":
        result = CompletionResult.from_dict(data["result"]) if data.get("result") else None
        error = error_from_dict(data["error"]) if data.get("error") else None
        return cls(id=str(data["id"]), index=int(data["index"]), result=result, error=error,
                   attempts=int(data.get("attempts") or 1), resumed=resumed)


@dataclass(frozen=True, slots=True)
class BatchStats:
    """Progress and totals: items finished in this run (``succeeded``/``failed``), read back from
    the checkpoint (``skipped``), usage and cost over all of them (cost None when unknown; each
    result's own cost, so failed fail-over attempts are never billed).

    ``stopped`` says why a run ended before its input did: None (it did not), ``"interrupted"``
    (Ctrl-C), ``"budget_exceeded"`` (the provider's Budget refused a call) or ``"repeated_error"``
    (every item of this run failed with the same non-retryable error, e.g. a bad API key);
    ``stop_error`` is the error behind it. Items not run stay pending in the checkpoint: rerun to
    resume.
    """

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    total: int | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    elapsed: float = 0.0
    stopped: str | None = None
    stop_error: BaseException | None = None

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped


# -- errors crossing process boundaries and files --------------------------------------------------
def error_to_dict(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for name in ("status_code", "request_id", "code"):
        value = getattr(exc, name, None)
        if value is not None:
            out[name] = value
    return out


def error_from_dict(data: Mapping[str, Any]) -> LLMClientError:
    """Rebuild a library error by class name; anything else becomes an LLMClientError."""
    cls = getattr(_errors, str(data.get("type")), None)
    message = str(data.get("message", ""))
    if isinstance(cls, type) and issubclass(cls, APIStatusError):
        body = {"error": {"message": message, "code": data.get("code")}} if data.get("code") else None
        return cls(message, status_code=int(data.get("status_code") or 0), body=body,
                   request_id=data.get("request_id"))
    if isinstance(cls, type) and issubclass(cls, APIError):
        return cls(message, request_id=data.get("request_id"))
    if isinstance(cls, type) and issubclass(cls, LLMClientError):
        try:
            return cls(message)
        except TypeError:
            pass
    return LLMClientError(f"{data.get('type')}: {message}")


def _retryable(exc: BaseException) -> bool:
    from ..transport import is_retryable  # the one "is this transient" predicate

    return is_retryable(exc)


def _signature(exc: BaseException) -> tuple[Any, ...]:
    """What makes two failures "the same error" (class, status, API error code)."""
    return (type(exc).__name__, getattr(exc, "status_code", None), getattr(exc, "code", None))


# -- what runs on a worker -------------------------------------------------------------------------
def _split_item(item: Any, index: int) -> tuple[str, Any, dict[str, Any]]:
    """(id, prompt or messages, params) of one input item."""
    if isinstance(item, str):
        return str(index), item, {}
    if isinstance(item, (list, tuple)):
        return str(index), list(item), {}
    if isinstance(item, Mapping):
        params = dict(item)
        item_id = params.pop("id", None)
        if item_id is None:
            item_id = params.pop("custom_id", None)
        prompt = None
        for key in ("messages", "prompt", "input"):
            if key in params:
                prompt = params.pop(key)
                break
        if prompt is None:
            raise ConfigurationError("a batch item dict needs 'messages' (or 'prompt')")
        return str(index if item_id is None else item_id), prompt, params
    raise ConfigurationError(f"a batch item is a prompt, a message list or a dict, got {type(item).__name__}")


_providers: dict[str, Any] = {}
_providers_lock = threading.Lock()


def _provider_for(spec: Any) -> Any:
    """The provider itself (threads), or one rebuilt once per process from a picklable spec."""
    if not isinstance(spec, tuple):
        return spec
    _, class_path, config_json = spec
    with _providers_lock:
        provider = _providers.get(class_path + config_json)
        if provider is None:
            module, _, qualname = class_path.partition(":")
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            provider = cls.from_config(json.loads(config_json))  # the API key comes from the worker's env
            _providers[class_path + config_json] = provider
        return provider


def _call(spec: Any, prompt: Any, params: dict[str, Any], attempt: str = "") -> tuple[bool, Any]:
    """Run one item; never raises (the error lands on the item). Remote calls return dicts.

    ``attempt`` is unique per try: Dask caches tasks by their arguments ("pure" by default),
    and a retry must not get the cached failure back.
    """
    remote = isinstance(spec, tuple)
    try:
        result = _provider_for(spec).complete(prompt, **params)
        return True, (result.to_dict() if remote else result)
    except Exception as exc:
        return False, (error_to_dict(exc) if remote else exc)


class _Pending:
    __slots__ = ("index", "id", "fp", "prompt", "params", "attempts", "tries")

    def __init__(self, index: int, id: str, fp: str, prompt: Any, params: dict[str, Any], attempts: int) -> None:
        self.index, self.id, self.fp, self.prompt, self.params = index, id, fp, prompt, params
        self.attempts = attempts  # across runs, including this try
        self.tries = 1  # in this run


class BatchRunner:
    """Runs ``provider.complete`` over many items with a worker pool and a resumable checkpoint.

    Args:
        provider: any ``Provider`` (only ``complete`` is called; ``model``/``profile`` name the
            checkpoint's header).
        max_workers: threads (when no executor is given); also the connection-pool size.
        checkpoint: path of the JSONL checkpoint (None: no checkpoint, nothing resumable).
        executor: any ``concurrent.futures.Executor``; a non-thread one (processes, Dask's
            ``client.get_executor()``) gets ``provider.to_config()`` and rebuilds the provider
            with ``from_config`` in each worker process (API key from the worker's environment).
        params: complete() parameters applied to every item (an item's own win).
        retries: extra tries in this run for an item whose error is transient (429, 5xx,
            connection), on top of the transport's own retries. Failed items are retried on resume.
        fsync: checkpoint policy, "always", "interval" (default) or "never".
        progress: True shows a tqdm bar when tqdm is installed (the ``progress`` extra), else a
            plain line on stderr every ``progress_interval`` seconds; ``on_progress(BatchStats)``
            is called after every finished item either way.
        max_in_flight: items submitted but not finished (default ``2 * max_workers``); bounds memory.
        interrupt_grace: seconds in-flight items may finish after a stop (Ctrl-C, budget, repeated
            error) before being abandoned (they run again on resume).
        stop_after_same_error: stop when the first this-many items of a run all failed with the
            same non-retryable error (a bad key must not send 300 requests); None never stops.
            Until an item of the run succeeds, at most this many items are in flight, so a bad
            key costs exactly this many requests.

    A ``BudgetExceededError`` from the provider stops the run cleanly: no new item starts,
    in-flight ones finish, the refused item stays pending, and ``stats.stopped`` is
    ``"budget_exceeded"``; rerun with a raised budget to resume.

    The runner is not itself thread-safe: one ``run``/``iter`` at a time.

        >>> runner = BatchRunner(provider, max_workers=16, checkpoint="run.jsonl")  # doctest: +SKIP
        >>> results = runner.run(["Hi", "Hello"])                                    # doctest: +SKIP
        >>> runner.stats.usage.total_tokens, runner.stats.cost                       # doctest: +SKIP
    """

    def __init__(self, provider: "Provider", max_workers: int = 16, checkpoint: str | None = None, *,
                 executor: Executor | None = None, params: Mapping[str, Any] | None = None, retries: int = 0,
                 fsync: str = "interval", progress: bool = False,
                 on_progress: Callable[[BatchStats], None] | None = None, max_in_flight: int | None = None,
                 interrupt_grace: float = 5.0, stop_after_same_error: int | None = 5,
                 progress_interval: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not callable(getattr(provider, "complete", None)):
            raise ConfigurationError(f"provider must be a Provider (with complete()), got {type(provider).__name__}")
        check_int(max_workers, "max_workers")
        check_int(retries, "retries", minimum=0)
        check_int(max_in_flight, "max_in_flight", allow_none=True)
        check_int(stop_after_same_error, "stop_after_same_error", allow_none=True)
        check_number(interrupt_grace, "interrupt_grace", allow_zero=True)
        check_number(progress_interval, "progress_interval")
        check_mapping(params, "params")
        if fsync not in ("always", "interval", "never"):
            raise ConfigurationError(f"fsync must be 'always', 'interval' or 'never', got {fsync!r}")
        if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
            raise ConfigurationError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__}")
        self.stop_after_same_error = stop_after_same_error
        self.progress_interval = progress_interval
        self.provider = provider
        self.max_workers = max_workers
        self.checkpoint = checkpoint
        self.executor = executor
        self.params = dict(params or {})
        self.retries = retries
        self.fsync = fsync
        self.progress = progress
        self.on_progress = on_progress
        self.max_in_flight = max_in_flight or 2 * max_workers
        self.interrupt_grace = interrupt_grace
        self._clock = clock
        self.stats = BatchStats()
        self.stopped = False
        _size_pool(provider, max_workers)

    # -- public ------------------------------------------------------------------------------
    def run(self, items: Iterable[Any]) -> list[BatchResult]:
        """All results in input order (including ones finished by an earlier, resumed run).

        After an early stop (``stats.stopped``), an item that did not run has ``attempts=0`` and
        the stop's error (e.g. the BudgetExceededError); it stays pending in the checkpoint.
        """
        slots: list[BatchResult | None] = [None] * len(items) if isinstance(items, Sized) else []
        for res in self.iter(items):
            if res.index >= len(slots):
                slots.extend([None] * (res.index + 1 - len(slots)))
            slots[res.index] = res
        missing = [i for i, r in enumerate(slots) if r is None]
        if missing and self.stats.stop_error is not None:
            for i in missing:
                slots[i] = BatchResult(str(i), i, error=self.stats.stop_error, attempts=0)
        elif missing:  # pragma: no cover - would be a runner bug
            raise RuntimeError(f"batch results missing for indexes {missing[:10]}")
        return slots  # type: ignore[return-value]

    def iter(self, items: Iterable[Any]) -> Iterator[BatchResult]:
        """Results as they finish (checkpointed ones first as the input reaches them)."""
        return self._drive(check_iterable(items, "items"))

    __call__ = run

    # -- the driver ----------------------------------------------------------------------------
    def _spec(self, executor: Executor) -> Any:
        if isinstance(executor, ThreadPoolExecutor):
            return self.provider
        to_config = getattr(self.provider, "to_config", None)
        if to_config is None:
            raise ConfigurationError("a process/cluster executor needs provider.to_config() and from_config()")
        cls = type(self.provider)
        return ("provider", f"{cls.__module__}:{cls.__qualname__}", json.dumps(to_config(), sort_keys=True))

    def _header(self) -> dict[str, Any]:
        profile = getattr(self.provider, "profile", None)
        model = getattr(profile, "api_id", None) or getattr(self.provider, "model", None)
        return {"model": model} if model else {}

    def _drive(self, items: Iterable[Any]) -> Iterator[BatchResult]:
        start = self._clock()
        total = len(items) if isinstance(items, Sized) else None
        self.stats = BatchStats(total=total)
        self.stopped = False
        own = self.executor is None
        executor = self.executor or ThreadPoolExecutor(self.max_workers, thread_name_prefix="llm-batch")
        try:
            spec = self._spec(executor)
            ckpt = Checkpoint(self.checkpoint, fsync=self.fsync, clock=self._clock).open(self._header()) \
                if self.checkpoint else None
        except BaseException:
            if own:
                executor.shutdown(wait=False)
            raise
        remote = isinstance(spec, tuple)
        done_q: "queue.SimpleQueue[Future]" = queue.SimpleQueue()
        running: dict[Future, _Pending] = {}
        bar = _progress(total, self.progress_interval, self._clock) if self.progress else None
        source = enumerate(items)
        run_id = f"{time.time_ns():x}"
        exhausted = False
        interrupted = False
        same: list[Any] = []  # [signature, count] while every item of this run failed alike

        def submit(p: _Pending) -> None:
            call = (_call, spec, p.prompt, p.params, f"{run_id}:{p.index}:{p.tries}")
            # a worker thread runs in a copy of the caller's context: tracing spans, observe scopes
            fut = executor.submit(*call) if remote else executor.submit(contextvars.copy_context().run, *call)
            running[fut] = p
            fut.add_done_callback(done_q.put)

        try:
            while True:
                while not exhausted and self.stats.stopped is None and len(running) < self._cap(same):
                    nxt = next(source, None)
                    if nxt is None:
                        exhausted = True
                        break
                    index, item = nxt
                    fp = fingerprint(item)
                    prior = ckpt.state(index) if ckpt is not None else PENDING
                    if ckpt is not None and prior != PENDING and not ckpt.matches(index, fp):
                        raise ConfigurationError(
                            f"checkpoint {self.checkpoint} was made for different input: item {index} differs; "
                            "use another checkpoint file (or delete this one) to start over")
                    if ckpt is not None and prior == OK:
                        res = _read_back(ckpt, index)
                        if res is not None:
                            self._count(res, skipped=True, bar=bar, start=start)
                            yield res
                            continue
                    try:
                        item_id, prompt, params = _split_item(item, index)
                    except ConfigurationError as exc:
                        res = BatchResult(str(index), index, error=exc, attempts=ckpt.attempts(index) + 1 if ckpt else 1)
                        self._finish(ckpt, res, fp, bar, start)
                        yield res
                        continue
                    attempts = (ckpt.attempts(index) if ckpt is not None else 0) + 1
                    submit(_Pending(index, item_id, fp, prompt, {**self.params, **params}, attempts))
                if not running:
                    break
                fut = _next_done(done_q)
                p = running.pop(fut)
                res = self._outcome(fut, p, remote)
                if isinstance(res.error, BudgetExceededError):
                    # the call was refused before it was sent: the item stays pending
                    self._stop("budget_exceeded", res.error)
                    continue
                if (res.error is not None and p.tries <= self.retries and _retryable(res.error)
                        and self.stats.stopped is None):
                    p.tries += 1
                    p.attempts += 1
                    submit(p)
                    continue
                self._finish(ckpt, res, p.fp, bar, start)
                self._watch_repeats(res, same)
                yield res
            if ckpt is not None and total is not None and ckpt.max_index >= total:
                raise ConfigurationError(f"checkpoint {self.checkpoint} has items beyond the {total} input items: "
                                         "it was made for different input")
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            if interrupted and self.stats.stopped is None:
                self.stats = replace(self.stats, stopped="interrupted")
            self.stopped = interrupted or bool(running) or self.stats.stopped is not None
            for fut in list(running):
                if fut.cancel():
                    running.pop(fut)
            if running:
                self._drain(running, done_q, ckpt, remote, bar, start)
            if own:
                executor.shutdown(wait=False, cancel_futures=True)
            if ckpt is not None:
                ckpt.close()
            if bar is not None:
                bar.close()
            self.stats = replace(self.stats, elapsed=self._clock() - start)

    def _stop(self, reason: str, error: BaseException) -> None:
        """Start no new item; what is in flight finishes and is recorded."""
        if self.stats.stopped is None:
            self.stats = replace(self.stats, stopped=reason, stop_error=error)
            log.warning("batch stopping (%s): %s: %s; items not run stay pending in the checkpoint",
                        reason, type(error).__name__, error)

    def _cap(self, same: list[Any]) -> int:
        """Items in flight: until the first item of a run succeeds, no more than could still be
        stopped by the repeat check (a bad key then costs ``stop_after_same_error`` requests)."""
        limit = self.stop_after_same_error
        if limit is None or same == [None]:
            return self.max_in_flight
        return max(1, min(self.max_in_flight, limit - (same[1] if same else 0)))

    def _watch_repeats(self, res: BatchResult, same: list[Any]) -> None:
        """Stop when every item of this run so far failed with one non-retryable error.

        ``same`` is empty at the start, ``[signature, count]`` while the failures agree and
        ``[None]`` once anything else finished (a success, a transient or a different error).
        """
        limit = self.stop_after_same_error
        if limit is None or same == [None]:
            return
        sig = _signature(res.error) if res.error is not None and not _retryable(res.error) else None
        if sig is None or (same and same[0] != sig):
            same[:] = [None]
            return
        same[:] = [sig, (same[1] if same else 0) + 1]
        if same[1] >= limit and res.error is not None:
            self._stop("repeated_error", res.error)

    def _drain(self, running: dict[Future, _Pending], done_q: "queue.SimpleQueue[Future]", ckpt: Checkpoint | None,
               remote: bool, bar: Any, start: float) -> None:
        """After a stop: let in-flight items finish for up to ``interrupt_grace`` s and record them."""
        deadline = time.monotonic() + self.interrupt_grace
        while running:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                fut = done_q.get(timeout=left)
            except queue.Empty:
                break
            except KeyboardInterrupt:  # a second Ctrl-C abandons what is still running
                break
            p = running.pop(fut, None)
            if p is not None:
                self._finish(ckpt, self._outcome(fut, p, remote), p.fp, bar, start)
        if running:
            log.warning("batch stopped: %d in-flight items abandoned (they run again on resume)", len(running))

    def _outcome(self, fut: Future, p: _Pending, remote: bool) -> BatchResult:
        try:
            ok, value = fut.result()
        except BaseException as exc:  # the executor itself failed (worker died, cancelled)
            return BatchResult(p.id, p.index, error=exc, attempts=p.attempts)
        if ok:
            result = CompletionResult.from_dict(value) if remote else value
            return BatchResult(p.id, p.index, result=result, attempts=p.attempts)
        error = error_from_dict(value) if remote else value
        return BatchResult(p.id, p.index, error=error, attempts=p.attempts)

    def _finish(self, ckpt: Checkpoint | None, res: BatchResult, fp: str, bar: Any, start: float) -> None:
        if ckpt is not None:
            rec = res.to_dict()
            rec["fp"] = fp
            ckpt.append(rec)
        self._count(res, skipped=False, bar=bar, start=start)
        if _hooks.active:
            _hooks.emit(_hooks.EventType.BATCH_ITEM, error=res.error, data={
                "id": res.id, "index": res.index, "ok": res.ok, "attempts": res.attempts})

    def _count(self, res: BatchResult, *, skipped: bool, bar: Any, start: float) -> None:
        s = self.stats
        usage, cost = s.usage, s.cost
        if res.result is not None:
            usage = usage + res.result.usage
            if res.result.cost is not None:
                cost = (cost or 0.0) + res.result.cost
        self.stats = s = BatchStats(
            succeeded=s.succeeded + (1 if res.ok and not skipped else 0),
            failed=s.failed + (0 if res.ok else 1),
            skipped=s.skipped + (1 if skipped else 0),
            total=s.total, usage=usage, cost=cost, elapsed=self._clock() - start,
            stopped=s.stopped, stop_error=s.stop_error)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=s.failed, tokens=s.usage.total_tokens,
                            cost=f"${s.cost:.4f}" if s.cost is not None else "?", refresh=False)
        if self.on_progress is not None:
            self.on_progress(s)


def _next_done(done_q: "queue.SimpleQueue[Future]") -> Future:
    # a bounded get keeps Ctrl-C deliverable on every platform
    while True:
        try:
            return done_q.get(timeout=1.0)
        except queue.Empty:
            continue


def _read_back(ckpt: Checkpoint, index: int) -> BatchResult | None:
    """A recorded success, or None when its record cannot be rebuilt (then the item runs again)."""
    try:
        return BatchResult.from_dict(ckpt.read(index))
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        log.warning("checkpoint %s: the record of item %d is unreadable (%s: %s); running it again",
                    ckpt.path, index, type(exc).__name__, exc)
        return None


class _LineProgress:
    """The progress display without tqdm: one plain line on stderr every ``interval`` seconds."""

    def __init__(self, total: int | None, interval: float, clock: Callable[[], float], stream: Any = None) -> None:
        self.total, self.interval, self._clock = total, interval, clock
        self.stream = stream if stream is not None else sys.stderr
        self.n = 0
        self._start = self._last = clock()
        self._postfix: dict[str, Any] = {}

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._print(now)

    def set_postfix(self, refresh: bool = False, **kw: Any) -> None:
        self._postfix = kw

    def _print(self, now: float) -> None:
        rate = self.n / max(now - self._start, 1e-9)
        of = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f", {k} {v}" for k, v in self._postfix.items())
        try:
            print(f"batch: {self.n}{of} items ({rate:.1f}/s{extra})", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed stderr never breaks the run
            pass

    def close(self) -> None:
        self._print(self._clock())


def _progress(total: int | None, interval: float, clock: Callable[[], float]) -> Any:
    try:
        from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _LineProgress(total, interval, clock)
    return tqdm(total=total, unit="item", desc="batch")


def _size_pool(provider: Any, workers: int) -> None:
    transport = getattr(provider, "transport", None) or getattr(provider, "_transport", None)
    grow = getattr(transport, "ensure_pool_size", None)
    if callable(grow):
        grow(workers)


# -- files -----------------------------------------------------------------------------------------
def read_results(checkpoint: str) -> Iterator[BatchResult]:
    """The current result of every item recorded in a checkpoint, in index order."""
    ckpt = Checkpoint(checkpoint, fsync="never").open({})
    try:
        for rec in ckpt.records():
            yield BatchResult.from_dict(rec)
    finally:
        ckpt.close()


def write_results(checkpoint: str, out_path: str) -> int:
    """Write one line per item, input order, from a checkpoint (atomically); returns the count."""
    count = 0
    ckpt = Checkpoint(checkpoint, fsync="never").open({})
    try:
        with atomic_writer(out_path, "w", encoding="utf-8") as out:
            for rec in ckpt.records():
                rec.pop("fp", None)
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                count += 1
    finally:
        ckpt.close()
    return count
