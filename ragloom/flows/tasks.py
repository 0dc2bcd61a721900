"""Running the tasks of one step when it is not the one-sync-node fast path: several nodes,
``Send`` instances, async nodes, or a resumed step some of whose tasks already finished.

Each finished task of a multi-task step is stored with the checkpointer at once (``put_write``), so a crash
or an ``interrupt()`` in one branch never loses, nor re-runs, the branches that finished. Tasks that raise
``NodeInterrupt`` are collected; when the others are done the step raises one NodeInterrupt with all of
them (several pending interrupts at once).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING, Any

from ragloom.flows.checkpoint import TaskWrite
from ragloom.flows.control import NodeInterrupt, Task, reset_task, set_task
from ragloom.flows.node_exec import NO_ARG, CNode, execute_async, execute_sync, run_coroutine_sync
from ragloom.flows.trace import StepRecord

if TYPE_CHECKING:
    from ragloom.flows.runner import Run

Results = list[tuple[CNode, Any, list[StepRecord]]]


def task_list(run: Run) -> tuple[list[CNode], list[Any] | None]:
    """The CNodes of ``run.next`` and, when it holds Sends, each task's own input (NO_ARG for plain nodes)."""
    nodes = run.flow.cnodes
    if not run.sends:
        return [nodes[name] for name in run.next], None
    ran, args = [], []
    for task in run.next:
        if type(task) is str:
            ran.append(nodes[task])
            args.append(NO_ARG)
        else:
            ran.append(nodes[task.node])
            args.append(task.arg)
    return ran, args


def _store(run: Run, index: int, cn: CNode, update: Any, records: list[StepRecord]) -> None:
    if run.checkpointer is not None and len(run.next) > 1:
        run.checkpointer.put_write(run.run_id, run.step, index, TaskWrite(cn.name, update, tuple(records)))


def _one_sync(run: Run, index: int, cn: CNode, arg: Any) -> tuple[Any, list[StepRecord]]:
    token = set_task(Task(run, cn.name, run.step + 1, index))
    try:
        update, records = execute_sync(run, cn, arg=arg)
    finally:
        reset_task(token)
    _store(run, index, cn, update, records)
    return update, records


async def _one_async(run: Run, index: int, cn: CNode, arg: Any) -> tuple[Any, list[StepRecord]]:
    token = set_task(Task(run, cn.name, run.step + 1, index))
    try:
        update, records = await execute_async(run, cn, arg=arg)
    finally:
        reset_task(token)
    _store(run, index, cn, update, records)
    return update, records


def _collect(run: Run, ran: list[CNode], outcomes: list[Any]) -> Results:
    """Results in task order; raises the first error, else one NodeInterrupt with every pending interrupt."""
    results: Results = []
    error: BaseException | None = None
    pending = []
    for cn, outcome in zip(ran, outcomes, strict=True):
        if isinstance(outcome, NodeInterrupt):
            pending.extend(outcome.interrupts)
        elif isinstance(outcome, BaseException):
            error = error or outcome
        else:
            results.append((cn, outcome[0], outcome[1]))
    if error is not None:
        raise _with_completed(error, results)
    if pending:
        raise NodeInterrupt(pending)
    return results


def _with_completed(error: BaseException, results: Results) -> BaseException:
    """A failed parallel step's trace also shows the nodes that completed in it (run.fail reads .records)."""
    done = [record for _, _, records in results for record in records]
    if done:
        error.records = done + list(getattr(error, "records", []))  # type: ignore[attr-defined]
    return error


def _reused(run: Run, index: int) -> tuple[Any, list[StepRecord]] | None:
    write = run.writes.get(index) if run.writes else None
    return None if write is None else (write.update, list(write.records))


def run_tasks_sync(run: Run, ran: list[CNode], args: list[Any] | None) -> Results:
    """Run the step's tasks concurrently from sync code: threads for sync nodes, a loop for async ones."""
    if any(cn.is_async or (cn.subflow is not None and cn.subflow.has_async) for cn in ran):
        return list(run_coroutine_sync(run_tasks_async(run, ran, args)))
    if run.unsaved_input is not None and run.checkpointer is not None:
        run.save("running")  # task writes refer to this step's checkpoint: it must exist first
    pool = run.pool()
    outcomes: list[Any] = []
    futures: list[Any] = []
    for i, cn in enumerate(ran):
        done = _reused(run, i)
        arg = NO_ARG if args is None else args[i]
        futures.append(
            done
            if done is not None
            else pool.submit(contextvars.copy_context().run, _one_sync, run, i, cn, arg)
        )
    for future in futures:
        if isinstance(future, tuple):
            outcomes.append(future)
            continue
        try:
            outcomes.append(future.result())
        except BaseException as e:
            outcomes.append(e)
    return _collect(run, ran, outcomes)


async def run_tasks_async(run: Run, ran: list[CNode], args: list[Any] | None) -> Results:
    if run.unsaved_input is not None and run.checkpointer is not None:
        run.save("running")

    async def reused(value: Any) -> Any:
        return value

    coros = []
    for i, cn in enumerate(ran):
        done = _reused(run, i)
        arg = NO_ARG if args is None else args[i]
        coros.append(reused(done) if done is not None else _one_async(run, i, cn, arg))
    outcomes = await asyncio.gather(*coros, return_exceptions=True)
    return _collect(run, ran, list(outcomes))
