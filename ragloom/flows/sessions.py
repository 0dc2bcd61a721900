"""Starting, continuing and branching runs: fresh runs, threads (a run id whose state carries over to the
next input), resuming (with answers to pending ``interrupt()`` calls), history and forks (time travel).

Kept apart from CompiledFlow so that the compiled object stays a small immutable facade.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import FlowError
from ragloom.flows.builder import START
from ragloom.flows.checkpoint import Checkpoint, Checkpointer
from ragloom.flows.fast_step import plan_one
from ragloom.flows.runner import Run

if TYPE_CHECKING:
    from ragloom.flows.compiled import CompiledFlow

UNSET: Any = object()


def _checkpointer(flow: CompiledFlow, what: str) -> Checkpointer:
    if flow.checkpointer is None:
        raise FlowError(f"flow {flow.name!r} has no checkpointer; compile(checkpointer=...) to {what}")
    return flow.checkpointer


def start_run(
    flow: CompiledFlow,
    values: Any,
    context: Mapping[str, Any] | None,
    run_id: str | None,
    thread_id: str | None = None,
) -> Run:
    if thread_id is not None:
        return _continue_thread(flow, values, context, thread_id)
    fresh = run_id is None  # a new uuid cannot collide: skip the look-up (one query per run saved)
    run_id = run_id or os.urandom(16).hex()  # as random as uuid4().hex, several times cheaper
    checkpointer = flow.checkpointer
    if not fresh and checkpointer is not None and checkpointer.latest(run_id) is not None:
        raise FlowError(
            f"run {run_id!r} already exists in {checkpointer!r}; continue it with resume({run_id!r}), "
            "pass a new run_id, or use thread_id= for a conversation that continues across runs"
        )
    run = Run(flow, run_id, dict(context or {}), flow.schema.initial(values), checkpointer=checkpointer)
    run.next = plan_one(run, flow.cnodes[START])
    if fresh and run.next and checkpointer is not None:
        # nobody can resume a run whose generated id they never saw, so the input row is only written if
        # the first step fails (the error carries the run id); otherwise step 1's row supersedes it
        run.unsaved_input = Checkpoint(
            run_id, 0, dict(run.state), tuple(run.next), {}, "running", flow.name, ()
        )
    else:
        run.save("running" if run.next else "done")
    return run


def _continue_thread(
    flow: CompiledFlow, values: Any, context: Mapping[str, Any] | None, thread_id: str
) -> Run:
    """A new turn of a thread: the last state, the input merged into it through the reducers (so a
    ``messages`` key appends), then the flow from START again. Steps keep counting, so the history of the
    thread holds every turn."""
    checkpointer = _checkpointer(flow, "keep threads")
    last = checkpointer.latest(thread_id)
    if last is None:
        return start_run(flow, values, context, thread_id)
    if last.status != "done":
        raise FlowError(
            f"thread {thread_id!r} is {last.status} at step {last.step}; resume({thread_id!r}) it before "
            "sending the next input"
        )
    run = Run(
        flow, thread_id, dict(context or {}), dict(last.state), step=last.step + 1, checkpointer=checkpointer
    )
    given = values if isinstance(values, Mapping) else flow.schema.dump(values)
    run.apply("input", dict(given))
    run.next = run.plan([flow.cnodes[START]])
    run.save("running" if run.next else "done")
    return run


def resume_values(last: Checkpoint, value: Any) -> dict[str, Any]:
    """Map ``resume(value=...)`` onto the pending interrupt ids: a mapping keyed by ids answers each,
    anything else answers the only pending interrupt."""
    if value is UNSET:
        return {}
    pending = [i.id for i in last.interrupts]
    if not pending:
        raise FlowError(
            f"run {last.run_id!r} has no pending interrupt() to answer (status {last.status!r}); "
            "resume it without value=, or with update= to edit the state"
        )
    if isinstance(value, Mapping) and value and set(value) <= set(pending):
        return dict(value)
    if len(pending) == 1:
        return {pending[0]: value}
    raise FlowError(
        f"run {last.run_id!r} has {len(pending)} pending interrupts {pending}; resume with "
        "value={interrupt_id: answer, ...}"
    )


def resume_run(
    flow: CompiledFlow,
    run_id: str,
    update: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None,
    value: Any = UNSET,
) -> Run:
    checkpointer = _checkpointer(flow, "resume runs")
    last = checkpointer.latest(run_id)
    if last is None:
        raise FlowError(
            f"no checkpoint for run {run_id!r} in {checkpointer!r}; was it started with this checkpointer?"
        )
    run = _run_at(flow, run_id, last, dict(context or {}), checkpointer)
    run.resume_values = resume_values(last, value)
    if update:
        run.apply("resume", dict(update))
        run.save("running" if run.next else "done", interrupts=last.interrupts)
    return run


def fork_run(
    flow: CompiledFlow, run_id: str, step: int, update: Mapping[str, Any] | None, new_run_id: str | None
) -> str:
    """Copy run ``run_id`` up to checkpoint ``step`` into a new run (optionally editing the state there);
    the original stays intact. Returns the new run id: ``resume`` it to continue from that step."""
    checkpointer = _checkpointer(flow, "fork runs")
    history = checkpointer.history(run_id)
    kept = [cp for cp in history if cp.step <= step]
    if not kept or kept[-1].step != step:
        raise FlowError(
            f"run {run_id!r} has no checkpoint at step {step}; its steps are {[cp.step for cp in history]}"
        )
    new_id = new_run_id or uuid.uuid4().hex
    if checkpointer.latest(new_id) is not None:
        raise FlowError(f"run {new_id!r} already exists; fork into a new run id")
    for cp in kept:
        status = "interrupted" if cp is kept[-1] and cp.interrupts else "running" if cp.next else "done"
        checkpointer.save(
            Checkpoint(
                new_id, cp.step, cp.state, cp.next, cp.arrived, status, cp.flow, cp.records, cp.interrupts
            )
        )
    if update:
        base = kept[-1]
        run = Run(flow, new_id, {}, dict(base.state), step=base.step, checkpointer=checkpointer)
        run.next = list(base.next)
        run.arrived = {k: set(v) for k, v in base.arrived.items()}
        run.step_records = base.records
        run.apply("fork", dict(update))
        run.save("running" if run.next else "done", interrupts=base.interrupts)
    checkpointer.flush()
    return new_id


def sub_run(
    flow: CompiledFlow, sub_id: str, resources: Any, inputs: dict[str, Any], checkpointer: Checkpointer
) -> Run:
    """A subflow's run checkpointed as ``sub_id`` under its parent's run: continued from its last checkpoint
    when there is one (the parent's node ran it before and was interrupted or killed), else started."""
    last = checkpointer.latest(sub_id)
    if last is None:
        run = Run(flow, sub_id, resources, flow.schema.initial(inputs), checkpointer=checkpointer)
        run.next = run.plan([flow.cnodes[START]])
        run.save("running" if run.next else "done")
        return run
    return _run_at(flow, sub_id, last, resources, checkpointer)


def _run_at(
    flow: CompiledFlow, run_id: str, last: Checkpoint, resources: Any, checkpointer: Checkpointer
) -> Run:
    """The run as its last checkpoint left it, ready to continue: state, step, join arrivals, trace so far,
    the tasks to run next and the writes of those that finished before it stopped. Shared by ``resume_run``
    and ``sub_run``."""
    run = Run(
        flow,
        run_id,
        resources,
        dict(last.state),
        step=last.step,
        arrived={k: set(v) for k, v in last.arrived.items()},
        records=checkpointer.records(run_id),
        checkpointer=checkpointer,
    )
    run.next = list(last.next)
    run.sends = any(type(t) is not str for t in run.next)
    run.step_records = last.records
    if last.status != "done" and len(run.next) > 1:
        run.writes = checkpointer.writes(run_id, last.step)
    return run
