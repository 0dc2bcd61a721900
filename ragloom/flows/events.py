"""StreamEvent: what ``stream(..., mode=...)`` yields, one type for every mode so that a server can send
any of them as JSON (``event.to_dict()``).

Modes: ``values`` (the state after each step), ``updates`` (each node's update), ``tokens`` (LLM text pieces
from any node), ``custom`` (what a node passes to ``emit``), ``events`` (one record per node execution:
timing, attempts, errors) and, always, ``interrupt`` (the run paused; data lists the pending interrupts).
``ns`` is the subflow path of the node ("" for the top-level flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODES = ("values", "updates", "tokens", "custom", "events")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    mode: str
    data: Any
    node: str = ""
    step: int = 0
    ns: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (pydantic models and dataclasses with ``to_dict`` are converted)."""
        return {
            "mode": self.mode,
            "data": jsonable(self.data),
            "node": self.node,
            "step": self.step,
            "ns": self.ns,
        }


def jsonable(value: Any) -> Any:
    """Best-effort conversion to JSON types: models dumped, tuples/sets as lists, unknown objects as repr."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    dump = getattr(value, "model_dump", None) or getattr(value, "to_dict", None)
    if callable(dump):
        return jsonable(dump())
    return repr(value)


def stream_step(run: Any, results: list[tuple[Any, Any, list[Any]]]) -> None:
    """Emit the step's ``updates``, ``events`` and ``values`` stream events (only when someone streams)."""
    emit, ns = run.root.emit, run.prefix.rstrip("/")
    if emit is None:
        return
    for cn, update, records in results:
        emit(StreamEvent("updates", {cn.name: update}, cn.name, run.step, ns))
        for record in records:
            emit(StreamEvent("events", record.to_dict(), cn.name, run.step, ns))
    emit(StreamEvent("values", dict(run.state), "", run.step, ns))
