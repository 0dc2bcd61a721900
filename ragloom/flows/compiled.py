"""CompiledFlow: the validated, immutable, runnable form of a Flow (``flow.compile()``).

Compilation turns the builder's lists into lookup tables (per node: plain successors, joins it feeds,
routers) so that the runner does no graph search while running.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ragloom.core.errors import FlowError
from ragloom.flows.async_runner import drive_async
from ragloom.flows.batch import arun_batch, run_batch
from ragloom.flows.builder import END, START, Flow
from ragloom.flows.checkpoint import Checkpoint, Checkpointer, InMemoryCheckpointer
from ragloom.flows.control import current_task
from ragloom.flows.node_exec import CNode, SubflowUpdate
from ragloom.flows.reducers import delta, is_delta
from ragloom.flows.runner import Run, drive_sync, run_sync
from ragloom.flows.sessions import UNSET, fork_run, resume_run, start_run, sub_run
from ragloom.flows.state import StateSchema
from ragloom.flows.streaming import astream_run, stream_run
from ragloom.flows.trace import RunResult, StepEvent, StepRecord
from ragloom.flows.validate import validate


def _snapshot(flow: Flow) -> Flow:
    copy = Flow(flow.state_schema, name=flow.name, max_steps=flow.max_steps)
    copy.nodes = dict(flow.nodes)
    copy.edges = list(flow.edges)
    copy.routers = list(flow.routers)
    copy.interrupt_before, copy.interrupt_after = flow.interrupt_before, flow.interrupt_after
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
            retry_on=spec.retry_on,
            cache_ttl=spec.cache_ttl,
            input_map=spec.input_map,
            output_map=spec.output_map,
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
        cn.plain_next = tuple(t for t in cn.succ if t != END)
    return cnodes, tuple(joins)


class CompiledFlow:
    """A runnable flow: ``invoke``/``ainvoke``/``stream``/``astream``/``resume``. Immutable; also a node."""

    __slots__ = (
        "builder", "cache", "checkpointer", "cnodes", "has_async", "interrupt_after", "interrupt_before",
        "joins", "max_steps", "name", "nodes", "schema",
    )  # fmt: skip

    builder: Flow
    checkpointer: Checkpointer | None
    cnodes: Mapping[str, CNode]
    has_async: bool
    interrupt_before: frozenset[str]
    interrupt_after: frozenset[str]
    cache: Any
    joins: tuple[tuple[frozenset[str], str], ...]
    max_steps: int | None
    name: str
    nodes: Mapping[str, CNode]
    schema: StateSchema

    def __init__(
        self,
        flow: Flow,
        checkpointer: Checkpointer | None = None,
        interrupt_before: Iterable[str] = (),
        interrupt_after: Iterable[str] = (),
        cache: Any = None,
    ) -> None:
        interrupt_before, interrupt_after = tuple(interrupt_before), tuple(interrupt_after)
        validate(flow, interrupt_before + interrupt_after)
        cnodes, joins = _tables(flow)
        if (interrupt_before or interrupt_after) and checkpointer is None:
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
        init(self, "interrupt_after", frozenset(interrupt_after))
        init(self, "cache", cache)
        init(self, "has_async", has_async)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"CompiledFlow {self.name!r} is immutable; change the Flow and compile() again")

    # -- sync API ----
    def invoke(
        self,
        values: Any,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        thread_id: str | None = None,
    ) -> RunResult:
        """Run to the end (or to an interrupt); ``context`` becomes ``RunContext.resources``.

        ``thread_id``: continue that thread's last state with ``values`` merged in (multi-turn memory).
        """
        return run_sync(start_run(self, values, context, run_id, thread_id))

    def stream(
        self,
        values: Any,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        mode: str | Sequence[str] | None = None,
        thread_id: str | None = None,
    ) -> Iterator[Any]:
        """Run and yield one StepEvent per node execution; with ``mode`` ("values", "updates", "tokens",
        "custom", "events" or a list of them) yield StreamEvents instead, live from a worker thread."""
        run = start_run(self, values, context, run_id, thread_id)
        if mode is None:
            yield from drive_sync(run, events=True)
        else:
            yield from stream_run(run, mode)

    def resume(
        self,
        run_id: str,
        update: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        value: Any = UNSET,
    ) -> RunResult:
        """Continue a crashed or interrupted run from its last checkpoint; ``update`` edits the state first.

        ``value`` answers the pending ``interrupt()`` (or a mapping interrupt id -> answer for several).
        Completed steps are not run again, nor finished tasks of a parallel step; the returned trace holds
        the records of the saved steps too.
        """
        return run_sync(resume_run(self, run_id, update, context, value), resumed=True)

    def stream_resume(
        self,
        run_id: str,
        update: Mapping[str, Any] | None = None,
        *,
        value: Any = UNSET,
        mode: Any = "updates",
    ) -> Iterator[Any]:
        """``resume`` with StreamEvents (see ``stream``)."""
        yield from stream_run(resume_run(self, run_id, update, None, value), mode, resumed=True)

    def get_state(self, run_id: str) -> Any:
        """The state of a run at its last checkpoint (the user's type)."""
        last = self.checkpointer.latest(run_id) if self.checkpointer is not None else None
        if last is None:
            raise FlowError(f"no checkpoint for run {run_id!r}")
        return self.schema.view(last.state)

    def pending_interrupts(self, run_id: str) -> tuple[Any, ...]:
        """The ``Interrupt`` objects a paused run waits on (empty when none)."""
        last = self.checkpointer.latest(run_id) if self.checkpointer is not None else None
        return last.interrupts if last is not None else ()

    def history(self, run_id: str) -> list[Checkpoint]:
        """Every checkpoint of a run, oldest first: ``cp.step``, ``cp.state``, ``cp.next``, ``cp.status``."""
        if self.checkpointer is None:
            raise FlowError(f"flow {self.name!r} has no checkpointer; compile(checkpointer=...) for history")
        return self.checkpointer.history(run_id)

    def fork(
        self,
        run_id: str,
        step: int,
        update: Mapping[str, Any] | None = None,
        new_run_id: str | None = None,
    ) -> str:
        """Time travel: a new run with ``run_id``'s checkpoints up to ``step`` (state edited by ``update``);
        returns its id, to ``resume``. The original run is left intact."""
        return fork_run(self, run_id, step, update, new_run_id)

    def batch(
        self,
        inputs: Sequence[Any],
        context: Mapping[str, Any] | None = None,
        *,
        max_concurrency: int = 4,
        executor: Any = None,
    ) -> list[RunResult | BaseException]:
        """Run many inputs concurrently; item i is the RunResult of input i or the exception it raised.
        ``executor`` (:func:`ragloom.scale.make_executor`, e.g. Ray) runs them on its workers instead, each
        compiling this flow's YAML once."""
        if executor is not None:
            from ragloom.scale.flows import batch_on

            return batch_on(executor, self, inputs, context)
        return run_batch(self, inputs, context, max_concurrency)

    async def abatch(
        self,
        inputs: Sequence[Any],
        context: Mapping[str, Any] | None = None,
        *,
        max_concurrency: int = 4,
    ) -> list[RunResult | BaseException]:
        return await arun_batch(self, inputs, context, max_concurrency)

    # -- async API ----
    async def ainvoke(
        self,
        values: Any,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        thread_id: str | None = None,
    ) -> RunResult:
        return await _afinish(drive_async(start_run(self, values, context, run_id, thread_id)))

    async def astream(
        self,
        values: Any,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        *,
        mode: str | Sequence[str] | None = None,
        thread_id: str | None = None,
    ) -> AsyncIterator[Any]:
        """Async ``stream``: StepEvents, or with ``mode`` StreamEvents (the run goes to a worker thread)."""
        run = start_run(self, values, context, run_id, thread_id)
        if mode is not None:
            async for event in astream_run(run, mode):
                yield event
            return
        async for item in drive_async(run):
            if isinstance(item, StepEvent):
                yield item

    async def aresume(
        self,
        run_id: str,
        update: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        value: Any = UNSET,
    ) -> RunResult:
        return await _afinish(drive_async(resume_run(self, run_id, update, context, value), resumed=True))

    # -- as a node of another flow ----
    def _sub_run(
        self, parent_state: dict[str, Any], resources: Any, run_id: str, cn: CNode | None = None
    ) -> tuple[Run, dict[str, Any]]:
        """A run of this flow inside a parent's node: inputs by shared key names or ``input_map``; interrupts
        and stream events go to the parent's top-level run, namespaced by the parent task."""
        input_map = cn.input_map if cn is not None else None
        if input_map is None:
            inputs = {k: v for k, v in parent_state.items() if k in self.schema.keys}
        else:
            inputs = {
                child: parent_state[parent] for parent, child in input_map.items() if parent in parent_state
            }
        parent = current_task()
        root = parent.run.root if parent is not None else None
        if root is not None and root.checkpointer is not None:
            # checkpointed under the parent's run: an interrupted or crashed subflow continues where it
            # stopped when its node runs again, instead of starting over
            prefix = parent.ident() + "/"  # type: ignore[union-attr]
            run = sub_run(self, f"{root.run_id}/{prefix.rstrip('/')}", resources, inputs, root.checkpointer)
        else:
            run = Run(self, run_id, resources, self.schema.initial(inputs))
            run.next = run.plan([self.cnodes[START]])
            prefix = parent.ident() + "/" if parent is not None else ""
        if root is not None:
            run.root, run.emit, run.prefix = root, root.emit, prefix
        return run, inputs

    @staticmethod
    def _sub_update(
        run: Run, inputs: dict[str, Any], parent_keys: Any, cn: CNode | None = None
    ) -> SubflowUpdate:
        """The parent's update: changed shared keys, as deltas where the parent key has a builtin reducer."""
        if cn is not None and cn.output_map is not None:
            return _mapped_update(run, inputs, parent_keys, cn)
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
        self,
        parent_state: dict[str, Any],
        resources: Any,
        run_id: str,
        parent_keys: Mapping[str, Any],
        cn: CNode | None = None,
    ) -> tuple[SubflowUpdate, list[StepRecord]]:
        run, inputs = self._sub_run(parent_state, resources, run_id, cn)
        run_sync(run, resumed=True)
        return self._sub_update(run, inputs, parent_keys, cn), run.trace.records

    async def _arun_as_node(
        self,
        parent_state: dict[str, Any],
        resources: Any,
        run_id: str,
        parent_keys: Mapping[str, Any],
        cn: CNode | None = None,
    ) -> tuple[SubflowUpdate, list[StepRecord]]:
        run, inputs = self._sub_run(parent_state, resources, run_id, cn)
        await _afinish(drive_async(run, resumed=True))
        return self._sub_update(run, inputs, parent_keys, cn), run.trace.records

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


def _mapped_update(run: Run, inputs: dict[str, Any], parent_keys: Any, cn: CNode) -> SubflowUpdate:
    """``output_map``: each mapped subflow key's final value goes to its parent key through the parent's
    reducer (unchanged values of keys that came in through ``input_map`` are left out)."""
    update = SubflowUpdate()
    came_from = {child: parent for parent, child in (cn.input_map or {}).items()}
    for child, parent in (cn.output_map or {}).items():
        if child not in run.state:
            continue
        value = run.state[child]
        if came_from.get(child) == parent and child in inputs and inputs[child] == value:
            continue
        if parent not in parent_keys:
            raise FlowError(
                f"subflow node {cn.name!r}: output_map sends {child!r} to {parent!r}, which is not a key of "
                f"the parent state ({sorted(parent_keys)})"
            )
        update[parent] = value
    return update


async def _afinish(agen: AsyncIterator[Any]) -> RunResult:
    result = None
    async for item in agen:
        result = item
    if not isinstance(result, RunResult):
        raise FlowError("the run ended without a result")
    return result
