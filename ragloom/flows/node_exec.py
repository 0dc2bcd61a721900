"""Running one node once per step: retries with backoff, timeout, per-run cache, usage capture, subflows.

Two twins, ``execute_sync`` and ``execute_async``; both return ``(update, records)`` where records holds one
StepRecord per attempt. Usage reported while the node runs lands in the attempt's record because a
``usage_sink`` is open around the call (and contextvars follow it into worker threads).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import FlowError, NodeExecutionError, NodeTimeoutError
from ragloom.core.usage import usage_sink
from ragloom.flows.context import RunContext
from ragloom.flows.control import NodeInterrupt
from ragloom.flows.trace import StepRecord

if TYPE_CHECKING:
    from ragloom.flows.compiled import CompiledFlow
    from ragloom.flows.runner import Run


class SubflowUpdate(dict):  # type: ignore[type-arg]
    """What a subflow node returns: final values of the keys it changed.

    Keys in ``overwrite`` are set as given (no builtin reducer could tell what the subflow added); the others
    hold deltas that go through the parent's reducers like any node's update.
    """

    def __init__(self) -> None:
        super().__init__()
        self.overwrite: set[str] = set()


@dataclass(slots=True)
class CNode:
    """A node as the runner sees it, with its successor tables precomputed at compile time."""

    name: str
    fn: Any
    is_async: bool = False
    subflow: CompiledFlow | None = None
    retries: int = 0
    backoff: float = 0.0
    timeout: float | None = None
    cache_key: Any = None
    takes_context: bool = False
    retry_on: tuple[type[BaseException], ...] | None = None
    cache_ttl: float | None = None
    input_map: dict[str, str] | None = None
    output_map: dict[str, str] | None = None
    succ: tuple[str, ...] = ()
    joins: tuple[int, ...] = ()
    routers: tuple[tuple[Any, dict[str, str]], ...] = ()
    plain_next: tuple[str, ...] = ()  # ``succ`` without END: the next step when there is no router or join
    plain: bool = False  # sync function, no context/timeout/subflow: called directly (the hot path)
    fast: bool = False  # plain, and no retries or cache either: one call, no attempt loop

    def __post_init__(self) -> None:
        self.plain = not (
            self.is_async or self.subflow or self.timeout is not None or self.takes_context or self.cache_ttl
        )
        self.fast = self.plain and not self.retries and self.cache_key is None


NO_ARG: Any = object()  # the task's input is the state (not a Send's own argument)


class _Timeout(Exception):
    pass


def run_coroutine_sync(awaitable: Awaitable[Any]) -> Any:
    """Run a coroutine to completion from sync code, also when this thread already runs an event loop."""

    async def wrap() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrap())
    box: dict[str, Any] = {}
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(asyncio.run, wrap())
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _call_with_timeout(fn: Any, args: tuple[Any, ...], timeout: float) -> Any:
    """Call a sync ``fn`` in a daemon thread and give up after ``timeout`` s (the thread is abandoned)."""
    box: dict[str, Any] = {}
    done = threading.Event()
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            box["value"] = ctx.run(fn, *args)
        except BaseException as e:
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="ragloom-node-timeout").start()
    if not done.wait(timeout):
        raise _Timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


def _args(run: Run, cn: CNode, view: Any, attempt: int) -> tuple[Any, ...]:
    if not cn.takes_context:
        return (view,)
    ctx = RunContext(run.resources, run.run_id, run.flow.name, cn.name, run.step + 1, attempt)
    return (view, ctx)


def _failure(
    run: Run, cn: CNode, error: BaseException, attempt: int, records: list[StepRecord]
) -> NodeExecutionError:
    where = f"node {cn.name!r} of flow {run.flow.name!r} at step {run.step + 1}"
    if isinstance(error, _Timeout):
        exc: NodeExecutionError = NodeTimeoutError(
            f"{where} ran past its timeout of {cn.timeout} s (attempt {attempt} of {cn.retries + 1}); "
            "raise timeout= on the node or make it faster",
            node=cn.name,
        )
    else:
        exc = NodeExecutionError(
            f"{where} failed (attempt {attempt} of {cn.retries + 1}): {type(error).__name__}: {error}",
            node=cn.name,
        )
    exc.step = run.step + 1  # type: ignore[attr-defined]
    exc.attempt = attempt  # type: ignore[attr-defined]
    exc.records = records  # type: ignore[attr-defined]
    return exc


def _attempt_failed(run: Run, cn: CNode, error: Exception, attempt: int, records: list[StepRecord]) -> float:
    """Close the failed attempt's record (``records[-1]``); raise the step's NodeExecutionError when no
    attempt is left (or the error is not retryable), else return the backoff in seconds before the next.
    Shared by the sync, async and fast paths, on their exception path only."""
    record = records[-1]
    record.end = run.anchor + time.perf_counter()
    record.error = _error_text(error, cn)
    if attempt > cn.retries or not _retryable(cn, error):
        raise _failure(run, cn, error, attempt, records) from (None if isinstance(error, _Timeout) else error)
    return cn.backoff * 2 ** (attempt - 1)


def _error_text(error: BaseException, cn: CNode) -> str:
    if isinstance(error, _Timeout):
        return f"timeout after {cn.timeout} s"
    return f"{type(error).__name__}: {error}"


class _Persisted(tuple):  # type: ignore[type-arg]
    """A cache key of the flow's cross-run NodeCache: (node, digest)."""


def _persisted(run: Run, cn: CNode, view: Any) -> tuple[Any, Any]:
    from ragloom.flows.node_cache import MISS, NodeCache

    cache = run.flow.cache
    if cache is None:
        return None, None
    schema = run.schema
    if cn.cache_key is not None:
        value = cn.cache_key(view)
    elif isinstance(view, dict) or (schema.is_model and isinstance(view, schema.schema)):
        value = schema.dump(view)
    else:
        value = view
    key = _Persisted((cn.name, NodeCache.key(cn.name, value)))
    hit = cache.get(key[0], key[1], float(cn.cache_ttl or 0))
    return key, (None if hit is MISS else hit)


def _store_cached(run: Run, key: Any, update: Any) -> None:
    if type(key) is _Persisted:
        run.flow.cache.put(key[0], key[1], update if update is not None else {})
    else:
        run.cache[key] = update if update is not None else {}


def _cached(run: Run, cn: CNode, view: Any) -> tuple[Any, Any]:
    """(cache key, cached update or None); the key is None when the node has no cache_key."""
    if cn.cache_ttl is not None:
        return _persisted(run, cn, view)
    if cn.cache_key is None:
        return None, None
    try:
        key = (cn.name, cn.cache_key(view))
    except Exception as e:
        raise NodeExecutionError(
            f"cache_key of node {cn.name!r} of flow {run.flow.name!r} failed: {type(e).__name__}: {e}",
            node=cn.name,
        ) from e
    try:
        return key, run.cache.get(key)
    except TypeError as e:  # unhashable key: say which node and what to return instead
        raise NodeExecutionError(
            f"cache_key of node {cn.name!r} of flow {run.flow.name!r} returned a {type(key[1]).__name__}, "
            f"which is not hashable ({e}); return a hashable key such as a str or a tuple",
            node=cn.name,
        ) from e


def _cache_hit(run: Run, cn: CNode, update: Any) -> tuple[Any, list[StepRecord]]:
    now = run.anchor + time.perf_counter()
    record = StepRecord(cn.name, run.step + 1, now, now, tuple(update or ()), cached=True)
    return update, [record]


def _retryable(cn: CNode, error: BaseException) -> bool:
    """Flow errors are deterministic (bad update, conflicting write), except a subflow's node failures;
    ``retry_on`` narrows retries to the listed exception types."""
    if cn.retry_on is not None:
        cause = error.__cause__ if isinstance(error, NodeExecutionError) and error.__cause__ else error
        return isinstance(cause, cn.retry_on)
    return not isinstance(error, FlowError) or (
        cn.subflow is not None and isinstance(error, NodeExecutionError)
    )


def _invoke_sync(run: Run, cn: CNode, view: Any, attempt: int, record: StepRecord) -> Any:
    if cn.subflow is not None:
        sub_args = (run.state, run.resources, f"{run.run_id}/{cn.name}", run.schema.keys, cn)
        if cn.timeout is not None:
            update, children = _call_with_timeout(cn.subflow._run_as_node, sub_args, cn.timeout)
        else:
            update, children = cn.subflow._run_as_node(*sub_args)
        record.children = tuple(children)
        return update
    args = _args(run, cn, view, attempt)
    if cn.timeout is not None:
        return _call_with_timeout(_call_any_sync, (cn.fn, args), cn.timeout)
    return _call_any_sync(cn.fn, args)


def _call_any_sync(fn: Any, args: tuple[Any, ...]) -> Any:
    out = fn(*args)
    if out is not None and not isinstance(out, dict) and inspect.isawaitable(out):
        out = run_coroutine_sync(out)
    return out


def execute_fast(run: Run, cn: CNode) -> tuple[Any, list[StepRecord]]:
    """``execute_sync`` for a ``cn.fast`` node alone in its step, under the run's shared usage sink."""
    record = StepRecord(cn.name, run.step + 1)
    run.current = record
    return call_timed(run, cn, record), [record]


def call_timed(run: Run, cn: CNode, record: StepRecord) -> Any:
    """A ``cn.fast`` node's call on the run's state, timed into ``record``; a failure is raised as the
    step's NodeExecutionError (an interrupt passes through). Shared by ``execute_fast`` and the fused step."""
    view = run.schema.view(run.state)
    anchor, perf = run.anchor, time.perf_counter
    record.start = anchor + perf()
    try:
        update = cn.fn(view)
        if update is not None and type(update) is not dict and inspect.isawaitable(update):
            update = run_coroutine_sync(update)
    except Exception as e:
        if type(e) is NodeInterrupt:
            raise
        _attempt_failed(run, cn, e, 1, [record])  # raises: a fast node has no retries
        raise
    record.end = anchor + perf()
    if update:
        record.changed = tuple(update)
    return update


def execute_sync(
    run: Run, cn: CNode, shared_sink: bool = False, arg: Any = NO_ARG
) -> tuple[Any, list[StepRecord]]:
    """Run ``cn`` for the current step in this thread (retries, timeout, cache); raise NodeExecutionError.

    ``shared_sink``: the caller keeps one usage sink open for the whole run that charges ``run.current``
    (the fast path for one-node steps); otherwise a sink is opened around this node alone. ``arg``: a Send's
    input, given to the node instead of the state.
    """
    view = run.schema.view(run.state) if arg is NO_ARG else arg
    key = None
    if cn.cache_key is not None or cn.cache_ttl is not None:
        key, hit = _cached(run, cn, view)
        if hit is not None:
            return _cache_hit(run, cn, hit)
    records: list[StepRecord] = []
    step, anchor, perf = run.step + 1, run.anchor, time.perf_counter
    attempt = 0
    while True:
        attempt += 1
        record = StepRecord(cn.name, step, attempt=attempt)
        records.append(record)
        record.start = anchor + perf()
        try:
            if shared_sink:
                run.current = record
                if cn.plain:
                    update = cn.fn(view)
                    if update is not None and type(update) is not dict and inspect.isawaitable(update):
                        update = run_coroutine_sync(update)
                else:
                    update = _invoke_sync(run, cn, view, attempt, record)
            else:
                with usage_sink(record.add_usage):
                    update = _invoke_sync(run, cn, view, attempt, record)
        except Exception as e:
            if type(e) is NodeInterrupt:
                raise
            time.sleep(_attempt_failed(run, cn, e, attempt, records))
            continue
        record.end = anchor + perf()
        if update:
            record.changed = tuple(update)
        if key is not None:
            _store_cached(run, key, update)
        return update, records


async def _invoke_async(run: Run, cn: CNode, view: Any, attempt: int, record: StepRecord) -> Any:
    if cn.subflow is not None:
        sub = cn.subflow._arun_as_node(
            run.state, run.resources, f"{run.run_id}/{cn.name}", run.schema.keys, cn
        )
        try:
            update, children = await (sub if cn.timeout is None else asyncio.wait_for(sub, cn.timeout))
        except TimeoutError as e:
            if type(e) is not TimeoutError:  # an inner node's own timeout, not this node's
                raise
            raise _Timeout from None
        record.children = tuple(children)
        return update
    args = _args(run, cn, view, attempt)
    if not cn.is_async and cn.timeout is not None:
        # the timeout runs in a daemon thread: an abandoned to_thread worker would block asyncio.run's exit
        return await asyncio.to_thread(_call_with_timeout, _call_any_sync, (cn.fn, args), cn.timeout)
    awaitable = cn.fn(*args) if cn.is_async else asyncio.to_thread(_call_any_sync, cn.fn, args)
    if cn.timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, cn.timeout)
    except TimeoutError as e:
        if type(e) is not TimeoutError:  # the node's own (e.g. LLMTimeoutError), not wait_for's
            raise
        raise _Timeout from None


async def execute_async(run: Run, cn: CNode, arg: Any = NO_ARG) -> tuple[Any, list[StepRecord]]:
    """Async twin of :func:`execute_sync`; sync nodes run in a worker thread."""
    view = run.schema.view(run.state) if arg is NO_ARG else arg
    key, hit = _cached(run, cn, view)
    if hit is not None:
        return _cache_hit(run, cn, hit)
    records: list[StepRecord] = []
    step, anchor, perf = run.step + 1, run.anchor, time.perf_counter
    attempt = 0
    while True:
        attempt += 1
        record = StepRecord(cn.name, step, attempt=attempt)
        records.append(record)
        record.start = anchor + perf()
        try:
            with usage_sink(record.add_usage):
                update = await _invoke_async(run, cn, view, attempt, record)
        except Exception as e:
            if type(e) is NodeInterrupt:
                raise
            await asyncio.sleep(_attempt_failed(run, cn, e, attempt, records))
            continue
        record.end = anchor + perf()
        if update:
            record.changed = tuple(update)
        if key is not None:
            _store_cached(run, key, update)
        return update, records
