"""Run observers: code told when a top-level run ends (done, interrupted or failed), e.g. trace exporters.

Why a hook at the end of a run rather than callbacks around every step: the trace already holds every step's
wall-clock start and end, usage and errors, so an exporter can rebuild the span tree afterwards with exact
timestamps, and a run with no observer pays one empty-tuple check (the engine's per-step cost is a few µs).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ragloom.flows.trace import Trace

__all__ = ["RunEnd", "add_run_observer", "notify_run_end", "remove_run_observer"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunEnd:
    """What an observer gets: the run's trace, id, flow name and how it ended."""

    trace: Trace
    run_id: str
    flow: str
    status: str  # "done", "interrupted", "error", "cancelled"
    error: str | None = None


RunObserver = Callable[[RunEnd], None]

_observers: tuple[RunObserver, ...] = ()
_lock = threading.Lock()


def add_run_observer(observer: RunObserver) -> RunObserver:
    """Call ``observer`` at the end of every top-level run (subflows are part of their parent's trace)."""
    global _observers
    with _lock:
        _observers = (*_observers, observer)
    return observer


def remove_run_observer(observer: RunObserver) -> None:
    global _observers
    with _lock:
        _observers = tuple(o for o in _observers if o is not observer)


def has_observers() -> bool:
    return bool(_observers)


def notify_run_end(end: RunEnd) -> None:
    """Tell every observer; an observer's failure is logged, never the run's failure."""
    for observer in _observers:
        try:
            observer(end)
        except Exception:  # an exporter that cannot reach its collector must not fail the user's run
            _log.exception("run observer %r failed", observer)


def observe_run(run: Any) -> None:
    """Called by the runner when a run closes (in its ``finally``, so an error in flight is the outcome)."""
    if not _observers or getattr(run, "root", run) is not run:  # a subflow: part of its parent's trace
        return
    status, error = run.status, run.error
    in_flight = sys.exc_info()[1]
    if isinstance(in_flight, GeneratorExit):  # the caller stopped reading a stream
        status = "cancelled"
    elif in_flight is not None and status != "interrupted":
        status, error = "error", error or f"{type(in_flight).__name__}: {in_flight}"
    elif status == "running":  # closed without an error: the sync loop builds its result after close
        status = "done"
    notify_run_end(RunEnd(run.trace, run.run_id, run.name, status, error))
