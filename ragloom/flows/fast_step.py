"""The one-node step, fused: what most steps of most flows are (a chain link, a loop iteration).

A step that runs one plain sync node does the work of ``execute_fast``, ``_after_step``, ``Run.merge`` and
``Run.plan`` in two frames instead of a dozen: the engine's own cost is a few µs per step, and about a third
of it was calls, temporary lists and re-read attributes. The general path (several nodes, Sends, async
nodes, retries, caches) stays in :mod:`ragloom.flows.runner`; whatever this path does not handle it hands
to the general functions, so both give the same state, trace, checkpoints, events and errors.

Also here: calling a router and resolving what it returned, shared by both paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragloom.core.errors import NodeExecutionError
from ragloom.flows.builder import END
from ragloom.flows.control import Send
from ragloom.flows.events import stream_step
from ragloom.flows.node_exec import CNode, call_timed
from ragloom.flows.trace import StepRecord

if TYPE_CHECKING:
    from ragloom.flows.runner import Run

_NO_WRITES: dict[int, Any] = {}  # shared, never mutated


def one_step(run: Run, cn: CNode) -> bool:
    """Run ``cn`` (``cn.fast``) as the whole step, merge, plan, checkpoint; False when ``interrupt()``
    paused it (``run.paused`` holds the result). Errors are recorded on the run and raised, as
    ``_step_sync`` does."""
    record = StepRecord(cn.name, run.step + 1)
    run.current = record
    try:
        update = call_timed(run, cn, record)
        run.trace.records.append(record)  # before merging, so a bad update still shows in the trace
        if update is not None:
            run.apply(cn.name, update)
        run.step += 1
        run.next = nxt = plan_one(run, cn)
        if run.writes:
            run.writes = _NO_WRITES
        if run.checkpointer is not None:
            run.save("running" if nxt else "done", (record,))
        if run.emit is not None:
            stream_step(run, [(cn, update, [record])])
    except Exception as e:
        if run.step_failed(e):
            return False
        raise
    finally:
        run.current = None
    return True


def plan_one(run: Run, cn: CNode) -> list[Any]:
    """``run.plan([cn])`` for the shapes that need no bookkeeping: plain edges, or one router whose pick is
    one of its declared labels; anything else (joins, Sends, stalled joins, lists of picks) goes to
    ``run.plan`` or its tail, ``run.planned``."""
    if run.node_sends is not None or cn.joins or run.arrived:
        return run.plan([cn])
    routers = cn.routers
    if not routers:
        return list(cn.plain_next)
    if len(routers) != 1 or cn.succ:
        return run.plan([cn])
    router, targets = routers[0]
    picked = call_router(run, cn.name, router, run.schema.view(run.state))
    if type(picked) is str:
        target = targets.get(picked)
        if target is not None:
            return [] if target == END else [target]
    nxt: dict[str, None] = {}
    add_routes(run, cn.name, picked, targets, nxt)
    return run.planned(nxt)


def call_router(run: Run, source: str, router: Any, view: Any) -> Any:
    try:
        return router(view)
    except Exception as e:
        raise NodeExecutionError(
            f"the router after node {source!r} of flow {run.flow.name!r} raised {type(e).__name__}: {e}",
            node=source,
        ) from e


def add_routes(run: Run, source: str, picked: Any, targets: dict[str, str], nxt: dict[str, None]) -> None:
    """What a router's return value means, checked (every label before any is used): target node names (or
    END) go into ``nxt``, Sends to the run's sends of this step."""
    if type(picked) is str and picked in targets:  # the common case: one declared label
        nxt[targets[picked]] = None
        return
    labels = [] if picked is None else [picked] if isinstance(picked, (str, Send)) else list(picked)
    out: list[Any] = []
    nodes = run.flow.nodes
    for label in labels:
        if isinstance(label, Send):
            out.append(label)
            continue
        target = targets.get(label) if targets else None
        if target is None:
            target = label if label in nodes or label == END else None
            if targets and label not in targets.values():
                target = None
        if target is None:
            allowed = sorted(targets) if targets else sorted(nodes)
            raise NodeExecutionError(
                f"the router after node {source!r} returned {label!r}, which is not one of its targets "
                f"{allowed}; return one of them (or END) or add it to targets=",
                node=source,
            )
        out.append(target)
    for target in out:
        if type(target) is str:
            nxt[target] = None
        else:
            run._add_send(target)
