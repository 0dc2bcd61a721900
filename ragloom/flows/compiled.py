"""CompiledFlow: the validated, immutable, runnable form of a Flow (``flow.compile()``).

Compilation turns the builder's lists into lookup tables (per node: plain successors, joins it feeds,
routers) so that the runner does no graph search while running.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from ragloom.core.errors import FlowError
from ragloom.flows.builder import START, Flow
from ragloom.flows.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer
from ragloom.flows.node_exec import CNode, SubflowUpdate
from ragloom.flows.reducers import delta, is_delta
from ragloom.flows.runner import Run, drive_async, drive_sync, run_sync
from ragloom.flows.state import StateSchema
from ragloom.flows.trace import RunResult, StepEvent, StepRecord
from ragloom.flows.validate import validate


def _snapshot(flow: Flow) -> Flow:
    copy = Flow(flow.state_schema, name=flow.name, max_steps=flow.max_steps)
    copy.nodes = dict(flow.nodes)
    copy.edges = list(flow.edges)
    copy.routers = list(flow.routers)
    return copy


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


def _tables(flow: Flow) -> tuple[dict[str, CNode], tuple[tuple[frozenset[str], str], ...]]:
    cnodes: dict[str, CNode] = {START: CNode(START, None)}
    for spec in flow.nodes.values():
        sub = spec.fn if isinstance(spec.fn, CompiledFlow) else None
        cnodes[spec.name] = CNode(
            spec.name,
            spec.fn,
            is_async=sub is None and _is_async(spec.fn),
            subflow=sub,
            retries=spec.retries,
            backoff=spec.backoff,
            timeout=spec.timeout,
            cache_key=spec.cache_key,
            takes_context=spec.takes_context,
        )
    succ: dict[str, list[str]] = {name: [] for name in cnodes}
    joins_of: dict[str, list[int]] = {name: [] for name in cnodes}
    joins: list[tuple[frozenset[str], str]] = []
    for edge in flow.edges:
        if len(edge.sources) == 1:
            if edge.target not in succ[edge.sources[0]]:
                succ[edge.sources[0]].append(edge.target)
            continue
        for source in edge.sources:
            joins_of[source].append(len(joins))
        joins.append((frozenset(edge.sources), edge.target))
    routers: dict[str, list[tuple[Any, dict[str, str]]]] = {name: [] for name in cnodes}
    for router in flow.routers:
        routers[router.source].append((router.router, dict(router.targets)))
    for name, cn in cnodes.items():
        cn.succ, cn.joins, cn.routers = tuple(succ[name]), tuple(joins_of[name]), tuple(routers[name])
    return cnodes, tuple(joins)


class CompiledFlow:
    """A runnable flow: ``invoke``/``ainvoke``/``stream``/``astream``/``resume``. Immutable; also a node."""

    __slots__ = (
        "builder", "checkpointer", "cnodes", "has_async", "interrupt_before", "joins", "max_steps", "name",
        "nodes", "schema",
    )  # fmt: skip

    builder: Flow
    checkpointer: Checkpointer | None
    cnodes: Mapping[str, CNode]
    has_async: bool
    interrupt_before: frozenset[str]
    joins: tuple[tuple[frozenset[str], str], ...]
    max_steps: int | None
    name: str
    nodes: Mapping[str, CNode]
    schema: StateSchema

    def __init__(
        self, flow: Flow, checkpointer: Checkpointer | None = None, interrupt_before: Iterable[str] = ()
    ) -> None:
        interrupt_before = tuple(interrupt_before)
        validate(flow, interrupt_before)
        cnodes, joins = _tables(flow)
        if interrupt_before and checkpointer is None:
            checkpointer = InMemoryCheckpointer()  # an interrupted run must be kept somewhere to be resumed
        has_async = any(
            cn.is_async or (cn.subflow is not None and cn.subflow.has_async) for cn in cnodes.values()
        )
        init = object.__setattr__
        init(self, "builder", _snapshot(flow))
        init(self, "name", flow.name)
        init(self, "max_steps", flow.max_steps)
        init(self, "schema", StateSchema(flow.state_schema))
        init(self, "cnodes", MappingProxyType(cnodes))
        init(self, "nodes", MappingProxyType({k: v for k, v in cnodes.items() if k != START}))
        init(self, "joins", joins)
        init(self, "checkpointer", checkpointer)
        init(self, "interrupt_before", frozenset(interrupt_before))
        init(self, "has_async", has_async)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"CompiledFlow {self.name!r} is immutable; change the Flow and compile() again")

    # -- starting and resuming runs ----
    def _start(self, values: Any, context: Mapping[str, Any] | None, run_id: str | None) -> Run:
        fresh = run_id is None  # a new uuid cannot collide: skip the look-up (one query per run saved)
        run_id = run_id or uuid.uuid4().hex
        if not fresh and self.checkpointer is not None and self.checkpointer.latest(run_id) is not None:
            raise FlowError(
                f"run {run_id!r} already exists in {self.checkpointer!r}; "
                f"continue it with resume({run_id!r}) "
                "or pass a new run_id"
            )
        run = Run(
            self, run_id, dict(context or {}), self.schema.initial(values), checkpointer=self.checkpointer
        )
        run.next = run.plan([self.cnodes[START]])
        if fresh and run.next and self.checkpointer is not None:
            # nobody can resume a run whose generated id they never saw, so the input row is only written if
            # the first step fails (the error carries the run id); otherwise step 1's row supersedes it
            run.unsaved_input = Checkpoint(
                run_id, 0, dict(run.state), tuple(run.next), {}, "running", self.name, ()
            )
        else:
            run.save("running" if run.next else "done")
        return run

    def _resume(
        self, run_id: str, update: Mapping[str, Any] | None, context: Mapping[str, Any] | None
    ) -> Run:
        if self.checkpointer is None:
            raise FlowError(
                f"flow {self.name!r} has no checkpointer; compile(checkpointer=...) to resume runs"
            )
        last = self.checkpointer.latest(run_id)
        if last is None:
            raise FlowError(
                f"no checkpoint for run {run_id!r} in {self.checkpointer!r}; "
                "was it started with this checkpointer?"
            )
        run = Run(
            self,
            run_id,
            dict(context or {}),
            dict(last.state),
            step=last.step,
            arrived={k: set(v) for k, v in last.arrived.items()},
            records=self.checkpointer.records(run_id),
            checkpointer=self.checkpointer,
        )
        run.next = list(last.next)
        run.step_records = last.records
        if update:
            run.apply("resume", dict(update))
            run.save("running" if run.next else "done")
        return run

    # -- sync API ----
    def invoke(
        self, values: Any, context: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> RunResult:
        """Run to the end (or to an interrupt); ``context`` becomes ``RunContext.resources``."""
        return run_sync(self._start(values, context, run_id))

    def stream(
        self, values: Any, context: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> Iterator[StepEvent]:
        """Run and yield one StepEvent per node execution, as the steps complete."""
        yield from drive_sync(self._start(values, context, run_id), events=True)

    def resume(
        self, run_id: str, update: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None
    ) -> RunResult:
        """Continue a crashed or interrupted run from its last checkpoint; ``update`` edits the state first.

        Completed steps are not run again; the returned trace holds the records of the saved steps too.
        """
        return run_sync(self._resume(run_id, update, context), resumed=True)

    def get_state(self, run_id: str) -> Any:
        """The state of a run at its last checkpoint (the user's type)."""
        last = self.checkpointer.latest(run_id) if self.checkpointer is not None else None
        if last is None:
            raise FlowError(f"no checkpoint for run {run_id!r}")
        return self.schema.view(last.state)

    # -- async API ----
    async def ainvoke(
        self, values: Any, context: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> RunResult:
        return await _afinish(drive_async(self._start(values, context, run_id)))

    async def astream(
        self, values: Any, context: Mapping[str, Any] | None = None, run_id: str | None = None
    ) -> AsyncIterator[StepEvent]:
        async for item in drive_async(self._start(values, context, run_id)):
            if isinstance(item, StepEvent):
                yield item

    async def aresume(
        self, run_id: str, update: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None
    ) -> RunResult:
        return await _afinish(drive_async(self._resume(run_id, update, context), resumed=True))

    # -- as a node of another flow ----
    def _sub_run(
        self, parent_state: dict[str, Any], resources: Any, run_id: str
    ) -> tuple[Run, dict[str, Any]]:
        inputs = {k: v for k, v in parent_state.items() if k in self.schema.keys}
        run = Run(self, run_id, resources, self.schema.initial(inputs))
        run.next = run.plan([self.cnodes[START]])
        run.nested = True
        return run, inputs

    @staticmethod
    def _sub_update(run: Run, inputs: dict[str, Any], parent_keys: Any) -> SubflowUpdate:
        """The parent's update: changed shared keys, as deltas where the parent key has a builtin reducer."""
        update = SubflowUpdate()
        for key, value in run.state.items():
            if key not in parent_keys:
                continue
            old = inputs.get(key)
            if key in inputs and (value is old or value == old):
                continue
            reducer = getattr(parent_keys[key], "reducer", None)
            change = delta(reducer, old, value) if reducer is not None else value
            if reducer is not None and not is_delta(change):
                change = value
                update.overwrite.add(key)
            update[key] = change
        return update

    def _run_as_node(
        self, parent_state: dict[str, Any], resources: Any, run_id: str, parent_keys: Mapping[str, Any]
    ) -> tuple[SubflowUpdate, list[StepRecord]]:
        run, inputs = self._sub_run(parent_state, resources, run_id)
        run_sync(run)
        return self._sub_update(run, inputs, parent_keys), run.trace.records

    async def _arun_as_node(
        self, parent_state: dict[str, Any], resources: Any, run_id: str, parent_keys: Mapping[str, Any]
    ) -> tuple[SubflowUpdate, list[StepRecord]]:
        run, inputs = self._sub_run(parent_state, resources, run_id)
        await _afinish(drive_async(run))
        return self._sub_update(run, inputs, parent_keys), run.trace.records

    # -- display ----
    def to_mermaid(self) -> str:
        return self.builder.to_mermaid()

    def to_yaml(self) -> str:
        return self.builder.to_yaml()

    def _repr_markdown_(self) -> str:
        return self.builder._repr_markdown_()

    def _repr_html_(self) -> str:
        return self.builder._repr_html_()

    def __repr__(self) -> str:
        return f"CompiledFlow({self.name!r}, nodes={list(self.nodes)})"


async def _afinish(agen: AsyncIterator[Any]) -> RunResult:
    result = None
    async for item in agen:
        result = item
    if not isinstance(result, RunResult):
        raise FlowError("the run ended without a result")
    return result
