"""Checkpoints: the state of a run after every step, so a crashed or interrupted run can be resumed.

A checkpoint holds the state dict, the nodes scheduled next, the partial arrivals at joins, and the trace
records of the step that produced it (so a resumed run can rebuild its full trace).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from ragloom.flows.trace import StepRecord


@dataclass(slots=True)
class Checkpoint:
    """The run after ``step`` completed steps. ``status``: "running", "interrupted" or "done".

    Read-only by convention (not ``frozen``: one is built per step and frozen dataclasses are slow to build).
    """

    run_id: str
    step: int
    state: dict[str, Any]
    next: tuple[str, ...]
    arrived: dict[int, tuple[str, ...]] = field(default_factory=dict)
    status: str = "running"
    flow: str = ""
    records: tuple[StepRecord, ...] = ()


class Checkpointer(Protocol):
    """Stores checkpoints. ``save`` replaces a checkpoint with the same (run_id, step).

    ``latest`` returns the newest checkpoint of a run (None for an unknown run); ``records`` the trace records
    of all its saved steps, in order (a resumed run's trace starts with them).
    """

    def save(self, checkpoint: Checkpoint) -> None: ...

    def latest(self, run_id: str) -> Checkpoint | None: ...

    def records(self, run_id: str) -> list[StepRecord]: ...

    def flush(self) -> None:
        """Make every saved checkpoint durable (called when a run returns or fails)."""
        ...


class InMemoryCheckpointer:
    """Checkpoints in memory (lost with the process): for interrupts/human-in-the-loop and tests.

    Keeps the latest checkpoint of each run plus the trace records of every step (not every state, so that
    long runs do not accumulate one state copy per step).
    """

    def __init__(self) -> None:
        self._latest: dict[str, Checkpoint] = {}
        self._records: dict[str, list[StepRecord]] = {}
        self._lock = threading.Lock()

    def save(self, checkpoint: Checkpoint) -> None:
        # the runner mutates its state dict in place, so keep a shallow copy
        stored = Checkpoint(
            checkpoint.run_id,
            checkpoint.step,
            dict(checkpoint.state),
            checkpoint.next,
            checkpoint.arrived,
            checkpoint.status,
            checkpoint.flow,
            checkpoint.records,
        )
        with self._lock:
            previous = self._latest.get(checkpoint.run_id)
            records = self._records.setdefault(checkpoint.run_id, [])
            if previous is None or previous.step != checkpoint.step:  # a re-save of one step adds nothing
                records.extend(checkpoint.records)
            self._latest[checkpoint.run_id] = stored

    def latest(self, run_id: str) -> Checkpoint | None:
        with self._lock:
            return self._latest.get(run_id)

    def records(self, run_id: str) -> list[StepRecord]:
        with self._lock:
            return list(self._records.get(run_id, ()))

    def flush(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"InMemoryCheckpointer(runs={len(self._latest)})"
