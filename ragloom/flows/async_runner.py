"""The async step loop (``ainvoke``/``astream``/``aresume``): the twin of ``run_sync``/``drive_sync``, one
coroutine per task so async nodes share the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from ragloom.flows.control import Task, reset_task, set_task
from ragloom.flows.node_exec import CNode, execute_async
from ragloom.flows.runner import Results, Run, _after_step, _stop_after
from ragloom.flows.tasks import run_tasks_async, task_list
from ragloom.flows.trace import RunResult, StepEvent


async def _step_async(run: Run, ran: list[CNode], args: list[Any] | None) -> Results | RunResult:
    try:
        if len(ran) == 1 and args is None:
            token = set_task(Task(run, ran[0].name, run.step + 1))
            try:
                update, records = await execute_async(run, ran[0])
            finally:
                reset_task(token)
            results: Results = [(ran[0], update, records)]
        else:
            results = await run_tasks_async(run, ran, args)
        _after_step(run, results, ran)
    except Exception as e:
        if run.step_failed(e):
            return run.paused  # type: ignore[return-value]
        raise
    return results


async def drive_async(run: Run, resumed: bool = False) -> AsyncIterator[StepEvent | RunResult]:
    """The async step loop; yields StepEvents and, last, the RunResult."""
    skip = resumed
    try:
        while run.next:
            stop = run.interrupt(skip)
            if stop is not None:
                run.save("interrupted")
                run.close()
                yield run.result("interrupted", stop)
                return
            skip = False
            run.check_limit()
            ran, args = task_list(run)
            results = await _step_async(run, ran, args)
            if isinstance(results, RunResult):
                run.close()
                yield results
                return
            for event in run.events(results):
                yield event
            stopped = _stop_after(run, ran)
            if stopped is not None:
                run.close()
                yield stopped
                return
    finally:
        run.close()
    yield run.result()
