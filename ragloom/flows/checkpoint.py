"""Checkpoints: the state of a run after every step, so a crashed or interrupted run can be resumed.

A checkpoint holds the state dict, the tasks scheduled next (node names, or ``Send`` objects for map
fan-out), the partial arrivals at joins, the pending ``interrupt()`` calls and the trace records of the step
that produced it (so a resumed run can rebuild its full trace).

Task writes: while a step with several tasks runs, each finished task's update is stored on its own
(``put_write``), keyed by the run, the step the tasks started from and the task's index in ``next``. A run
resumed from that step (after a crash, or after an ``interrupt()`` in one parallel branch) reuses them
(``writes``) and runs only the tasks without one.

For implementers (e.g. a PostgreSQL checkpointer): the runner calls ``save`` once per step (and again for the
same step when it pauses or an update is applied), ``put_write`` from worker threads while a multi-task step
runs, ``flush`` when a run returns or fails, and ``latest``/``history``/``records``/``writes`` only when a run
starts, resumes or forks. A subflow run under a checkpointed run is stored as its own run, with the id
``"<parent run id>/<parent task id>"`` (e.g. ``"abc/review@3"``): prune those with their parent. ``next`` may
hold ``Send`` objects and ``interrupts`` ``Interrupt`` objects (both small frozen dataclasses) that the
payload encoding must round-trip. Conformance: tests/flows/test_flow_checkpoint.py runs every checkpointer.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragloom.flows import retention as _ret
from ragloom.flows.trace import StepRecord

#: the retention rules applied to a checkpointer's runs: the steps to delete per run id
PrunePlan = Callable[[dict[str, _ret.RunInfo]], dict[str, list[int]]]


@dataclass(slots=True)
class Checkpoint:
    """The run after ``step`` completed steps. ``status``: "running", "interrupted" or "done".

    ``next`` holds node names and ``Send`` objects; ``interrupts`` the pending ``Interrupt`` objects of an
    interrupted step. Read-only by convention (not ``frozen``: one is built per step and frozen dataclasses
    are slow to build).
    """

    run_id: str
    step: int
    state: dict[str, Any]
    next: tuple[Any, ...]
    arrived: dict[int, tuple[str, ...]] = field(default_factory=dict)
    status: str = "running"
    flow: str = ""
    records: tuple[StepRecord, ...] = ()
    interrupts: tuple[Any, ...] = ()


@dataclass(slots=True)
class TaskWrite:
    """The outcome of one finished task of a step that has not completed yet (see the module docstring)."""

    node: str
    update: Any
    records: tuple[StepRecord, ...] = ()


class Checkpointer(Protocol):
    """Stores checkpoints. ``save`` replaces a checkpoint with the same (run_id, step).

    ``latest`` returns the newest checkpoint of a run (None for an unknown run); ``history`` every checkpoint
    of a run, oldest first (time travel); ``records`` the trace records of all its saved steps, in order (a
    resumed run's trace starts with them). ``put_write``/``writes`` store and return the finished tasks of
    the step that starts from checkpoint ``step`` (a dict task index -> TaskWrite, empty when none); a write
    must be durable when ``put_write`` returns, whatever the durability mode of checkpoints.
    """

    def save(self, checkpoint: Checkpoint) -> None: ...

    def latest(self, run_id: str) -> Checkpoint | None: ...

    def history(self, run_id: str) -> list[Checkpoint]: ...

    def records(self, run_id: str) -> list[StepRecord]: ...

    def put_write(self, run_id: str, step: int, task: int, write: TaskWrite) -> None: ...

    def writes(self, run_id: str, step: int) -> dict[int, TaskWrite]: ...

    def flush(self) -> None:
        """Make every saved checkpoint durable (called when a run returns or fails)."""
        ...


class Pruning:
    """``prune`` written once for every shipped checkpointer: the rules are checked here (before any I/O) and
    decided by :mod:`ragloom.flows.retention`; the storage lists its runs and deletes what the plan says
    under its own lock or transaction (``_prune``)."""

    def prune(
        self,
        keep_last: int | None = None,
        older_than: dt.timedelta | None = None,
        run_ids: Iterable[str] | None = None,
        include_unfinished: bool = False,
    ) -> int:
        """Delete old checkpoints (rules: :mod:`ragloom.flows.retention`); returns how many were deleted."""
        _ret.check(keep_last, older_than)

        def plan(runs: dict[str, _ret.RunInfo]) -> dict[str, list[int]]:
            return _ret.plan(runs, keep_last, older_than, run_ids, include_unfinished)

        return self._prune(plan)

    def _prune(self, plan: PrunePlan) -> int:
        """Delete the steps ``plan(runs)`` lists for this storage's runs; return how many."""
        raise NotImplementedError


class InMemoryCheckpointer(Pruning):
    """Checkpoints in memory (lost with the process): for interrupts/human-in-the-loop and tests.

    Keeps every checkpoint of each run (shallow state copies: values are shared, not copied), so
    ``history`` and ``fork`` work as with the SQLite checkpointer. Stored as tuples (the fields of
    ``Checkpoint`` after ``run_id``; rebuilt on read): a step's save is then one small tuple.
    """

    def __init__(self, retention: Any = None) -> None:
        self.retention = retention  # a ragloom.flows.retention.Retention applied by flush(), or None
        self._runs: dict[str, list[tuple[Any, ...]]] = {}  # run id -> (step, state, next, ...) per step
        self._writes: dict[tuple[str, int], dict[int, TaskWrite]] = {}
        self._saved: dict[str, float] = {}  # run id -> when it last saved (retention by age)
        self._lock = threading.Lock()

    def save(self, checkpoint: Checkpoint) -> None:
        cp, step, run_id = checkpoint, checkpoint.step, checkpoint.run_id
        # the runner mutates its state dict in place, so keep a shallow copy
        stored = (step, dict(cp.state), cp.next, cp.arrived, cp.status, cp.flow, cp.records, cp.interrupts)
        lock = self._lock
        lock.acquire()  # (acquire/release: half the cost of ``with`` on this once-per-step path)
        try:
            self._saved[run_id] = time.time()
            runs = self._runs.get(run_id)
            if runs is None:
                self._runs[run_id] = [stored]
            elif runs[-1][0] < step:  # the next step
                runs.append(stored)
            elif runs[-1][0] == step:  # a re-save of one step (interrupt, resume update)
                runs[-1] = stored
            else:  # a run re-written from an earlier step
                runs[:] = [row for row in runs if row[0] < step]
                runs.append(stored)
        finally:
            lock.release()

    def latest(self, run_id: str) -> Checkpoint | None:
        with self._lock:
            runs = self._runs.get(run_id)
            return Checkpoint(run_id, *runs[-1]) if runs else None

    def history(self, run_id: str) -> list[Checkpoint]:
        with self._lock:
            return [Checkpoint(run_id, *row) for row in self._runs.get(run_id, ())]

    def records(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            return [r for row in self._runs.get(run_id, ()) for r in row[6]]

    def put_write(self, run_id: str, step: int, task: int, write: TaskWrite) -> None:
        with self._lock:
            self._writes.setdefault((run_id, step), {})[task] = write

    def writes(self, run_id: str, step: int) -> dict[int, TaskWrite]:
        with self._lock:
            return dict(self._writes.get((run_id, step), {}))

    def flush(self) -> None:
        if self.retention is not None:
            self.prune(self.retention.keep_last, self.retention.older_than)

    def run_ids(self) -> list[str]:
        """Every stored run id (subflow runs included), sorted."""
        with self._lock:
            return sorted(self._runs)

    def _prune(self, plan: PrunePlan) -> int:
        with self._lock:
            runs = {
                r: _ret.RunInfo([row[0] for row in rows], rows[-1][4], self._saved.get(r, 0.0))
                for r, rows in self._runs.items()
                if rows
            }
            doomed = plan(runs)
            for run_id, steps in doomed.items():
                gone = set(steps)
                kept = [row for row in self._runs[run_id] if row[0] not in gone]
                if kept:
                    self._runs[run_id] = kept
                else:
                    del self._runs[run_id]
                    self._saved.pop(run_id, None)
                for step in gone:
                    self._writes.pop((run_id, step), None)
            return sum(len(steps) for steps in doomed.values())

    def __repr__(self) -> str:
        return f"InMemoryCheckpointer(runs={len(self._runs)})"


def open_checkpointer(target: str, **options: Any) -> Checkpointer:
    """A checkpointer for a CLI ``--checkpoint`` value: a ``postgresql://`` URL or an SQLite file path."""
    if target.startswith(("postgresql://", "postgres://")):
        from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

        return PostgresCheckpointer(target, **options)
    from ragloom.flows.sqlite_checkpoint import SQLiteCheckpointer

    return SQLiteCheckpointer(target, **options)
