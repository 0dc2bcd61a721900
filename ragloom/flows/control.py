"""What a node or router can say to the engine besides a state update: ``Send`` (map fan-out), ``interrupt``
(pause for a human) and ``emit`` (a custom stream event).

``interrupt`` and ``emit`` find their run through a context variable holding the current :class:`Task`, so a
node needs no extra argument. On the one-node fast path the runner sets the variable once per run and the
task reads its node and step from the run lazily: nothing is paid per step unless a node calls them.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import FlowError

if TYPE_CHECKING:
    from ragloom.flows.runner import Run

__all__ = ["Interrupt", "NodeInterrupt", "Send", "emit", "interrupt"]


@dataclass(frozen=True, slots=True)
class Send:
    """Run ``node`` once with ``arg`` as its input (instead of the state); returned by a router, in a list,
    to fan one node out over items: ``[Send("summarise", {"doc": d}) for d in state.docs]``.

    Each Send is its own task of the next step: the instances run concurrently, their updates merge through
    the reducers, and each finished instance is checkpointed on its own (a crash re-runs only the others).
    ``arg`` must be picklable/JSON-able when a checkpointer stores the run.
    """

    node: str
    arg: Any


@dataclass(frozen=True, slots=True)
class Interrupt:
    """A pending ``interrupt(value)``: ``id`` names it in ``resume(run_id, value={id: answer})``.

    ``node`` is the node that asked, ``ns`` the subflow path to it ("" at the top level).
    """

    id: str
    node: str
    value: Any
    ns: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "node": self.node, "value": self.value, "ns": self.ns}


class NodeInterrupt(Exception):
    """Raised by ``interrupt()`` to unwind the node; the runner turns it into a paused run.

    A node must not swallow it (``except Exception`` around ``interrupt()`` would): re-raise it.
    """

    def __init__(self, interrupts: list[Interrupt]) -> None:
        super().__init__(f"interrupted: {[i.id for i in interrupts]}")
        self.interrupts = interrupts


class Task:
    """One node execution as ``interrupt``/``emit`` see it (a task of a multi-task step). On the one-node
    fast path the Run itself plays this part (same ``run``/``where``/``ident``/``calls``), reading the
    node and step from its current record."""

    __slots__ = ("calls", "index", "node", "run", "step")
    node: str
    step: int

    def __init__(self, run: Run, node: str, step: int, index: int = 0) -> None:
        self.run = run
        self.node = node
        self.step = step
        self.index = index
        self.calls: dict[tuple[int, str], int] | None = None

    def where(self) -> tuple[str, int]:
        return self.node, self.step

    def ident(self) -> str:
        """Stable across re-runs of the same step: node, step, task index and the subflow prefix."""
        node, step = self.where()
        return f"{self.run.prefix}{node}@{step}" + (f".{self.index}" if self.index else "")


_TASK: contextvars.ContextVar[Any] = contextvars.ContextVar("ragloom_flow_task", default=None)


def current_task() -> Task | None:
    """The running task (a Task, or the Run on the one-node fast path), None outside a flow node."""
    return _TASK.get()  # type: ignore[no-any-return]


def set_task(task: Any) -> contextvars.Token[Any]:
    return _TASK.set(task)


def reset_task(token: contextvars.Token[Any]) -> None:
    _TASK.reset(token)


def interrupt(value: Any = None) -> Any:
    """Pause the run and show ``value`` to the caller; returns the value given to ``resume`` on the re-run.

    The node runs again from its start when resumed (like LangGraph): keep side effects after the
    ``interrupt`` call or make them idempotent. Several calls in one node are matched by order.
    """
    task = _TASK.get()
    if task is None:
        raise FlowError("interrupt() was called outside a running flow node")
    node, step = task.where()
    key = (step, node)
    if task.calls is None:
        task.calls = {}
    k = task.calls.get(key, 0)
    task.calls[key] = k + 1
    ident = task.ident() + (f"#{k}" if k else "")
    answers = task.run.root.resume_values
    if ident in answers:
        return answers[ident]
    raise NodeInterrupt([Interrupt(ident, node, value, task.run.prefix.rstrip("/"))])


def emit(data: Any) -> None:
    """Send a custom event to ``stream(..., mode="custom")`` consumers (a no-op when nobody streams)."""
    task = _TASK.get()
    if task is None:
        return
    root = task.run.root
    if root.emit is not None:
        from ragloom.flows.events import StreamEvent

        node, step = task.where()
        root.emit(StreamEvent("custom", data, node, step, task.run.prefix.rstrip("/")))


def get_stream_writer() -> Any:
    """LangGraph-style alias: a function that emits custom stream events (see :func:`emit`)."""
    return emit
