"""Retention: which checkpoints ``prune`` removes, decided once for every checkpointer.

Each checkpointer lists its runs (steps with their status, and when the run last saved a checkpoint) and
deletes what :func:`plan` returns, so memory, SQLite and PostgreSQL prune by the same rules:

- ``keep_last=N`` keeps the newest N checkpoints of each run (time travel within a window).
- ``older_than=timedelta`` removes runs idle for longer (their last checkpoint is older): a finished run goes
  entirely, an unfinished one keeps its latest checkpoint.
- Both given: a checkpoint goes when either rule removes it.
- The latest checkpoint of an unfinished run (running, interrupted, failed) is kept unless
  ``include_unfinished=True``: pruning must never make a paused run impossible to resume.
- Subflow runs (``"<parent id>/<task id>"``) follow their root run: ``run_ids`` selects them with their root,
  and those left without a root run are removed entirely.

Task writes of removed steps go with them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ragloom.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Retention:
    """An automatic policy: applied by a checkpointer after each run returns (``flush``)."""

    keep_last: int | None = None
    older_than: dt.timedelta | None = None


@dataclass(slots=True)
class RunInfo:
    """One stored run: its steps (oldest first), the status of its latest checkpoint, when it last saved."""

    steps: list[int]
    status: str
    last_saved: float  # seconds since the epoch


def root_of(run_id: str) -> str:
    return run_id.split("/", 1)[0]


def check(keep_last: int | None, older_than: dt.timedelta | None) -> None:
    if keep_last is None and older_than is None:
        raise ConfigError("prune(): give keep_last=N and/or older_than=timedelta")
    if keep_last is not None and keep_last < 0:
        raise ConfigError(f"prune(keep_last={keep_last}): must be 0 or more")


def plan(
    runs: dict[str, RunInfo],
    keep_last: int | None = None,
    older_than: dt.timedelta | None = None,
    run_ids: Iterable[str] | None = None,
    include_unfinished: bool = False,
    now: float | None = None,
) -> dict[str, list[int]]:
    """The steps to delete, per run id (a run whose every step is listed goes entirely)."""
    check(keep_last, older_than)
    wanted = set(run_ids) if run_ids is not None else None
    now = time.time() if now is None else now
    cutoff = now - older_than.total_seconds() if older_than is not None else None
    out: dict[str, list[int]] = {}
    for run_id, info in runs.items():
        root = root_of(run_id)
        if wanted is not None and run_id not in wanted and root not in wanted:
            continue
        if run_id != root and root not in runs:  # an orphaned subflow run: its parent is gone
            out[run_id] = list(info.steps)
            continue
        doomed = set()
        if keep_last is not None:
            doomed.update(info.steps[: max(len(info.steps) - keep_last, 0)])
        if cutoff is not None and info.last_saved < cutoff:
            doomed.update(info.steps)
        if info.steps and info.status != "done" and not include_unfinished:
            doomed.discard(info.steps[-1])
        if doomed:
            out[run_id] = sorted(doomed)
    # subflow runs of a root run deleted entirely go with it
    gone = {r for r, steps in out.items() if len(steps) == len(runs[r].steps) and r == root_of(r)}
    for run_id, info in runs.items():
        if run_id != root_of(run_id) and root_of(run_id) in gone:
            out[run_id] = list(info.steps)
    return out
