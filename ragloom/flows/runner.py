"""The step loop. A run advances in supersteps: all scheduled nodes run (concurrently when several), their
updates merge into the state, then the successor tables say what runs next.

Hot path: a step with one sync node calls it directly in this thread, no asyncio, no thread hop; the state
stays a plain dict; one checkpoint write per step when a checkpointer is configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import (
    ConflictingWriteError,
    FlowError,
    StateUpdateError,
    StepLimitError,
)
from ragloom.core.usage import pop_sink, push_sink, usage_sink
from ragloom.flows.builder import END
from ragloom.flows.checkpoint import Checkpoint, TaskWrite
from ragloom.flows.control import _TASK, Interrupt, NodeInterrupt, Send, reset_task, set_task
from ragloom.flows.events import StreamEvent, stream_step
from ragloom.flows.fast_step import add_routes, call_router, one_step
from ragloom.flows.node_exec import CNode, SubflowUpdate, execute_fast, execute_sync
from ragloom.flows.observers import observe_run
from ragloom.flows.tasks import run_tasks_sync, task_list
from ragloom.flows.trace import RunResult, StepEvent, StepRecord, Trace

if TYPE_CHECKING:
    from ragloom.flows.compiled import CompiledFlow

Results = list[tuple[CNode, Any, list[StepRecord]]]
_NO_ARRIVALS: dict[int, tuple[str, ...]] = {}  # shared, never mutated
_NO_VALUES: dict[str, Any] = {}  # shared, never mutated (resume_run assigns a new dict)
_NO_WRITES: dict[int, Any] = {}  # shared, never mutated


class Run:
    """The mutable state of one run (the CompiledFlow itself stays immutable)."""

    def __init__(
        self,
        flow: CompiledFlow,
        run_id: str,
        resources: Any,
        state: dict[str, Any],
        *,
        step: int = 0,
        arrived: dict[int, set[str]] | None = None,
        records: list[StepRecord] | None = None,
        checkpointer: Any = None,
    ) -> None:
        self.flow = flow
        self.schema = flow.schema
        self.name = flow.name
        self.run_id = run_id
        self.resources = resources
        self.state = state
        self.step = step
        self.arrived: dict[int, set[str]] = arrived or {}
        self.trace = Trace(run_id, flow.name, records)
        self.cache: dict[Any, Any] = {}
        self.checkpointer = checkpointer
        self.anchor = time.time() - time.perf_counter()
        self._pool: ThreadPoolExecutor | None = None
        self.step_records: tuple[StepRecord, ...] = ()  # records of the last checkpointed step
        self.unsaved_input: Checkpoint | None = None  # step-0 row held back (see CompiledFlow._start)
        self.current: StepRecord | None = None  # charged by on_usage in one-node steps
        self.status = "running"  # how the run ended, for run observers (see ragloom.flows.observers)
        self.error: str | None = None
        self.next: list[Any] = []  # node names, and Send objects when ``sends``
        self.sends = False
        self.node_sends: list[Send] | None = None  # Sends of the current step (from nodes and routers)
        self.root: Run = self  # the top-level run (a subflow's run points to its parent's root)
        self.prefix = ""  # "parent-task-id/" for a subflow's run: namespaces interrupt ids and events
        self.resume_values: dict[str, Any] = _NO_VALUES  # interrupt id -> value given to resume()
        self.writes: dict[int, TaskWrite] = _NO_WRITES  # finished tasks of the step being resumed
        self.emit: Callable[[StreamEvent], None] | None = None  # stream(mode=...) consumer
        self.calls: dict[tuple[int, str], int] | None = None  # interrupt() calls, when this run is the scope
        self.paused: RunResult | None = None  # set when an interrupt() paused the current step

    # -- the fast path's interrupt()/emit() scope: the run itself stands for its one-node steps' task ----
    @property
    def run(self) -> Run:
        return self

    def where(self) -> tuple[str, int]:
        record = self.current
        return (record.node if record is not None else "?"), self.step + 1

    def ident(self) -> str:
        node, step = self.where()
        return f"{self.prefix}{node}@{step}"

    def on_usage(self, usage: Any, model: str = "") -> None:
        """The run-wide usage listener: charges the record of the node running alone in this step."""
        record = self.current
        if record is not None:
            record.add_usage(usage, model)

    # -- merging ----
    def apply(self, node: str, update: Any, writers: dict[str, str] | None = None) -> None:
        """Merge one node's update into the state (reducers, validation, conflict detection)."""
        if update is None:
            return
        if type(update) is dict:  # the common case: no isinstance chain
            overwrite: Any = ()
        elif isinstance(update, dict):
            overwrite = update.overwrite if isinstance(update, SubflowUpdate) else ()
        else:
            if self._sends_from_node(update):
                return
            raise StateUpdateError(
                f"node {node!r} returned {type(update).__name__}; a node must return a dict of state updates "
                "or None"
            )
        state, keys, schema = self.state, self.schema.keys, self.schema
        for key, value in update.items():
            spec = keys.get(key)
            if spec is None:
                schema.check(node, key, value)  # raises: unknown key
                continue
            if spec.reducer is None or key in overwrite:
                if writers is not None:
                    other = writers.setdefault(key, node)
                    if other != node:
                        raise ConflictingWriteError(
                            f"nodes {other!r} and {node!r} both wrote state key {key!r} in step "
                            f"{self.step + 1}. Declare a reducer for it (e.g. Annotated[..., append]) "
                            "or let only one of them write it."
                        )
            else:
                value = self._reduce(node, spec, value)
            try:
                state[key] = spec.check(value)
            except (TypeError, ValueError):
                schema.check(node, key, value)  # raises with node, key and expected type

    def _sends_from_node(self, update: Any) -> bool:
        """A node may return a Send or a list of Sends instead of an update: map fan-out from a node."""
        sends = [update] if isinstance(update, Send) else update if isinstance(update, list) else None
        if not sends or not all(isinstance(s, Send) for s in sends):
            return False
        for send in sends:
            self._add_send(send)
        return True

    def _reduce(self, node: str, spec: Any, value: Any) -> Any:
        if spec.name in self.state:
            old = self.state[spec.name]
        else:
            old = type(spec.empty)() if spec.empty is not None else None
        try:
            return spec.reducer(old, value)
        except Exception as e:
            raise StateUpdateError(
                f"node {node!r}: reducer {getattr(spec.reducer, '__name__', spec.reducer)!r} of state key "
                f"{spec.name!r} failed on {value!r}: {e}"
            ) from e

    def merge(self, results: Results) -> None:
        if len(results) == 1:
            cn, update, _ = results[0]
            self.apply(cn.name, update)
            return
        writers: dict[str, str] = {}
        for cn, update, _ in results:
            self.apply(cn.name, update, writers)

    # -- planning ----
    def plan(self, ran: list[CNode]) -> list[Any]:
        """The tasks of the next step: plain successors, joins whose sources all arrived, router picks (node
        names, deduplicated), then Sends (one task each, never merged)."""
        nxt: dict[str, None] = {}
        if self.sends:  # several instances of one node ran: plan its successors once
            ran = list({id(cn): cn for cn in ran}.values())
        view = None
        for cn in ran:
            for target in cn.succ:
                nxt[target] = None
            if cn.joins:
                self._arrive(cn, nxt)
            if cn.routers:
                if view is None:
                    view = self.schema.view(self.state)
                for router, targets in cn.routers:
                    picked = call_router(self, cn.name, router, view)
                    add_routes(self, cn.name, picked, targets, nxt)
        return self.planned(nxt)

    def planned(self, nxt: dict[str, None]) -> list[Any]:
        """The next tasks from the planned node names ``nxt`` (END among them when a branch ended) and the
        Sends of this step."""
        reached_end = nxt.pop(END, False) is None
        if self.node_sends:  # from routers and from nodes that returned Sends
            sends, self.node_sends = self.node_sends, None
            self.sends = True
            return [*nxt, *self._checked_sends(sends)]
        self.sends = False
        if not nxt and not reached_end and self.arrived:
            raise FlowError(self._stalled_joins())
        return list(nxt)

    def _arrive(self, cn: CNode, nxt: dict[str, None]) -> None:
        """``cn`` ran: mark it at each join it feeds; a join whose sources all arrived runs next."""
        for index in cn.joins:
            sources, target = self.flow.joins[index]
            got = self.arrived.setdefault(index, set())
            got.add(cn.name)
            if got >= sources:
                del self.arrived[index]
                nxt[target] = None

    def _add_send(self, send: Send) -> None:
        if self.node_sends is None:
            self.node_sends = []
        self.node_sends.append(send)

    def _checked_sends(self, sends: list[Send]) -> list[Send]:
        for send in sends:
            if send.node not in self.flow.nodes:
                raise FlowError(
                    f"Send({send.node!r}, ...) in flow {self.flow.name!r} names no node; "
                    f"nodes are {sorted(self.flow.nodes)}"
                )
        return sends

    def _stalled_joins(self) -> str:
        """Why the run stopped short of END: joins waiting for branches that will not run again."""
        waits = []
        for index, got in self.arrived.items():
            sources, target = self.flow.joins[index]
            waits.append(f"join {target!r} got {sorted(got)} but still waits for {sorted(sources - got)}")
        return (
            f"flow {self.flow.name!r} stopped before END at step {self.step}: " + "; ".join(waits) + ". "
            "A join runs only when all its sources ran since it last fired: route back to a node that "
            "reaches every source, or use plain edges (add_edge(source, target)) instead of a join"
        )

    # -- checkpoints and results ----
    def save(
        self, status: str, records: tuple[StepRecord, ...] | None = None, interrupts: tuple[Any, ...] = ()
    ) -> None:
        """Checkpoint the run; a re-save of the same step (interrupt, resume update) keeps its records."""
        checkpointer = self.checkpointer
        if checkpointer is None:
            return
        self.unsaved_input = None  # any later checkpoint supersedes the input row
        if records is None:
            records = self.step_records
        else:
            self.step_records = records
        arrived = {k: tuple(sorted(v)) for k, v in self.arrived.items()} if self.arrived else _NO_ARRIVALS
        checkpointer.save(
            Checkpoint(
                self.run_id,
                self.step,
                self.state,
                tuple(self.next),
                arrived,
                status,
                self.name,
                records,
                interrupts,
            )
        )

    def result(
        self,
        status: str = "done",
        interrupted_before: str | None = None,
        interrupts: tuple[Interrupt, ...] = (),
        interrupted_after: str | None = None,
    ) -> RunResult:
        self.status = status
        state = self.schema.view(self.state)
        return RunResult(
            state, self.trace, self.run_id, status, interrupted_before, interrupts, interrupted_after
        )

    def pause(self, interrupts: list[Interrupt]) -> RunResult:
        """An ``interrupt()`` stopped this step: checkpoint it as interrupted (finished tasks are stored as
        task writes already) and return the paused result. A subflow passes the interrupt to its parent."""
        if self.root is not self:  # a subflow: keep its progress (when checkpointed), let the parent pause
            if self.checkpointer is not None:
                self.save("interrupted", interrupts=tuple(interrupts))
            raise NodeInterrupt(interrupts)
        if self.checkpointer is None:
            raise FlowError(
                f"node {interrupts[0].node!r} of flow {self.name!r} called interrupt() but the flow has no "
                "checkpointer to keep the paused run; compile(checkpointer=InMemoryCheckpointer()) "
                "(or SQLiteCheckpointer) to resume it later"
            )
        paused = tuple(interrupts)
        self.save("interrupted", interrupts=paused)
        if self.emit is not None:
            self.emit(StreamEvent("interrupt", [i.to_dict() for i in paused], step=self.step + 1))
        return self.result("interrupted", interrupts=paused)

    def check_limit(self) -> None:
        limit = self.flow.max_steps
        if limit is not None and self.step >= limit:
            raise StepLimitError(
                f"flow {self.flow.name!r} ran {self.step} steps (max_steps={limit}) and still had "
                f"{self.next} to run. Check the loop's exit condition or raise max_steps."
            )

    def interrupt(self, skip: bool) -> str | None:
        stops = self.flow.interrupt_before
        if skip or not stops:
            return None
        for name in self.next:
            node = name if type(name) is str else name.node
            if node in stops:
                return node
        return None

    def step_failed(self, error: Exception) -> bool:
        """A step raised ``error``: an ``interrupt()`` pauses the run (True; ``self.paused`` holds the
        result), anything else fails it (False; the caller re-raises ``error``, which now carries the trace).
        Shared by every step loop (sync, fused, async), and only on their exception path."""
        if isinstance(error, NodeInterrupt):
            self.paused = self.pause(error.interrupts)
            return True
        self.fail(error, getattr(error, "records", []))
        return False

    def fail(self, error: BaseException, records: list[StepRecord]) -> BaseException:
        if self.unsaved_input is not None and self.checkpointer is not None:
            self.checkpointer.save(self.unsaved_input)  # make the failed run resumable from its input
            self.unsaved_input = None
        self.trace.records.extend(records)
        self.status, self.error = "error", f"{type(error).__name__}: {error}"
        error.trace = self.trace  # type: ignore[attr-defined]
        return error

    def pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"ragloom-{self.flow.name}")
        return self._pool

    def close(self) -> None:
        """End of the run (done, interrupted or failed): checkpoints durable, worker threads released."""
        if self.checkpointer is not None:
            self.checkpointer.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        observe_run(self)

    def events(self, results: Results) -> list[StepEvent]:
        snapshot = self.schema.view(self.state)
        return [
            StepEvent(cn.name, self.step, update, record, snapshot)
            for cn, update, records in results
            for record in records
        ]


def _after_step(run: Run, results: Results, ran: list[CNode]) -> None:
    step_records = results[0][2] if len(results) == 1 else [r for _, _, recs in results for r in recs]
    run.trace.records.extend(step_records)  # before merging, so a bad update still shows in the trace
    run.merge(results)
    run.step += 1
    run.next = run.plan(ran)
    if run.writes:
        run.writes = _NO_WRITES
    if run.checkpointer is not None:
        run.save("running" if run.next else "done", tuple(step_records))
    if run.emit is not None:
        stream_step(run, results)


def _step_sync(run: Run, ran: list[CNode], args: list[Any] | None) -> Results | None:
    """One step; None when an ``interrupt()`` paused it (``run.paused`` holds the result)."""
    try:
        if args is None and len(ran) == 1 and not ran[0].is_async:
            cn = ran[0]
            update, records = execute_fast(run, cn) if cn.fast else execute_sync(run, cn, shared_sink=True)
            results: Results = [(cn, update, records)]
        else:
            run.current = None
            results = run_tasks_sync(run, ran, args)
        _after_step(run, results, ran)
    except Exception as e:
        if run.step_failed(e):
            return None
        raise
    finally:
        run.current = None
    return results


def _stop_after(run: Run, ran: list[CNode]) -> RunResult | None:
    """``interrupt_after``: pause once a listed node has run (and the run is not over)."""
    after = run.flow.interrupt_after
    if not after or not run.next:
        return None
    for cn in ran:
        if cn.name in after:
            run.save("interrupted")
            return run.result("interrupted", interrupted_after=cn.name)
    return None


def drive_sync(run: Run, events: bool, resumed: bool = False) -> Generator[StepEvent, None, RunResult]:
    """The sync step loop with StepEvents (``stream``): a sink and the task scope are opened per step, never
    across a ``yield``. ``run_sync`` is the same loop without events."""
    nodes, after = run.flow.cnodes, run.flow.interrupt_after
    skip = resumed
    try:
        while run.next:
            stop = _before_step(run, skip)
            if stop is not None:
                return stop
            skip = False
            ran, args = task_list(run) if run.sends else ([nodes[name] for name in run.next], None)
            token = set_task(run)
            try:
                with usage_sink(run.on_usage):
                    results = _step_sync(run, ran, args)
            finally:
                reset_task(token)
            if results is None:
                return run.paused  # type: ignore[return-value]
            yield from run.events(results)
            if after and (stopped := _stop_after(run, ran)) is not None:
                return stopped
    finally:
        run.close()
    return run.result()


def _before_step(run: Run, skip: bool) -> RunResult | None:
    """``interrupt_before`` and the step limit, checked before each step."""
    if run.flow.interrupt_before:
        stop = run.interrupt(skip)
        if stop is not None:
            run.save("interrupted")
            return run.result("interrupted", stop)
    if run.flow.max_steps is not None and run.step >= run.flow.max_steps:
        run.check_limit()
    return None


def run_sync(run: Run, resumed: bool = False) -> RunResult:
    """Run to the end without events (the fast path of ``invoke``): one usage sink and one task scope (the
    run itself) serve every step; the loop is a plain function, not a generator."""
    nodes, stops, limit = run.flow.cnodes, run.flow.interrupt_before, run.flow.max_steps
    after = run.flow.interrupt_after
    skip = resumed
    task_token, sink_token = _TASK.set(run), push_sink(run.on_usage)
    try:
        while run.next:
            if stops or (limit is not None and run.step >= limit):
                stop = _before_step(run, skip)
                if stop is not None:
                    return stop
            skip = False
            if run.sends:
                ran, args = task_list(run)
            else:
                todo = run.next
                if len(todo) == 1 and (cn := nodes[todo[0]]).fast:  # most steps: one plain node
                    if not one_step(run, cn):
                        return run.paused  # type: ignore[return-value]
                    if after and (stopped := _stop_after(run, [cn])) is not None:
                        return stopped
                    continue
                ran, args = [nodes[name] for name in todo], None
            if _step_sync(run, ran, args) is None:
                return run.paused  # type: ignore[return-value]
            if after and (stopped := _stop_after(run, ran)) is not None:
                return stopped
    finally:
        run.close()
        pop_sink(sink_token)
        _TASK.reset(task_token)
    return run.result()
