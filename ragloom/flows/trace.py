"""Trace of a run: one StepRecord per node execution (attempt), plus the RunResult and StepEvent records.

Records are cheap slotted dataclasses filled with ``time.perf_counter`` offsets; wall-clock times are derived
from one ``time.time()`` anchor taken at the start of the run.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragloom.core.types import Usage
from ragloom.core.usage import reported_call_timing

_NO_USAGE = Usage()  # shared: Usage is frozen


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One LLM call charged to a step: model, usage, wall-clock end and (when timed) duration in seconds."""

    model: str
    usage: Usage
    end: float
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        u = self.usage
        return {
            "model": self.model,
            "prompt_tokens": u.prompt_tokens,
            "completion_tokens": u.completion_tokens,
            "cost_usd": u.cost_usd,
            "end": self.end,
            "seconds": self.seconds,
        }


@dataclass(slots=True)
class StepRecord:
    """One execution of one node: ``start``/``end`` are wall-clock seconds (epoch), ``duration`` seconds."""

    node: str
    step: int
    start: float = 0.0
    end: float = 0.0
    changed: tuple[str, ...] = ()
    error: str | None = None
    usage: Usage = _NO_USAGE
    attempt: int = 1
    cached: bool = False
    children: tuple[StepRecord, ...] = ()  # the steps of a subflow node
    llm_calls: list[LLMCall] = field(default_factory=list)  # each call, for per-call spans and stats

    @property
    def duration(self) -> float:
        return self.end - self.start

    def add_usage(self, usage: Usage, model: str = "") -> None:
        """Usage listener (see ragloom.core.usage.usage_sink)."""
        self.usage = self.usage + usage
        if usage.calls:
            end, seconds = reported_call_timing()
            self.llm_calls.append(LLMCall(model, usage, end or time.time(), seconds))

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "step": self.step,
            "start": self.start,
            "end": self.end,
            "duration": self.duration,
            "changed": list(self.changed),
            "error": self.error,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": self.usage.cost_usd,
            "llm_calls": self.usage.calls,
            "attempt": self.attempt,
            "cached": self.cached,
            "children": [c.to_dict() for c in self.children],
            "calls": [c.to_dict() for c in self.llm_calls],
        }


class Trace:
    """The records of one run in execution order (within a step: the order the nodes were scheduled)."""

    def __init__(self, run_id: str = "", flow: str = "", records: list[StepRecord] | None = None) -> None:
        self.run_id = run_id
        self.flow = flow
        self.records: list[StepRecord] = records if records is not None else []

    def __iter__(self) -> Iterator[StepRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> StepRecord:
        return self.records[index]

    @property
    def nodes(self) -> list[str]:
        """Node names in execution order (one per record, failed attempts included)."""
        return [r.node for r in self.records]

    @property
    def steps(self) -> list[list[str]]:
        """Node names grouped by step: ``[["a"], ["b", "c"], ["join"]]``."""
        grouped: dict[int, list[str]] = {}
        for r in self.records:
            grouped.setdefault(r.step, []).append(r.node)
        return [grouped[k] for k in sorted(grouped)]

    @property
    def usage(self) -> Usage:
        total = Usage()
        for r in self.records:
            total = total + r.usage
        return total

    @property
    def duration(self) -> float:
        if not self.records:
            return 0.0
        return max(r.end for r in self.records) - min(r.start for r in self.records)

    def to_jsonl(self, path: str | Path | None = None) -> str:
        """One JSON object per record; written to ``path`` when given, returned in any case."""
        text = "".join(json.dumps({"run_id": self.run_id, **r.to_dict()}) + "\n" for r in self.records)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _rows(self) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for r in self.records:
            status = "cached" if r.cached else (f"error: {r.error}" if r.error else "ok")
            rows.append(
                (
                    str(r.step),
                    r.node,
                    f"{r.duration * 1000:.2f}",
                    str(r.attempt),
                    str(r.usage.total_tokens),
                    f"{r.usage.cost_usd:.6f}",
                    ",".join(r.changed),
                    status,
                )
            )
        return rows

    _HEADER = ("step", "node", "ms", "attempt", "tokens", "cost $", "changed", "status")

    def summary(self) -> str:
        """A table (node, time, tokens, cost, …) with a totals row, rendered by rich as plain text."""
        from io import StringIO

        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"flow {self.flow!r} run {self.run_id}")
        for name in self._HEADER:
            table.add_column(name, justify="right" if name in ("step", "ms", "tokens", "cost $") else "left")
        for row in self._rows():
            table.add_row(*row)
        usage = self.usage
        table.add_row(
            "",
            "total",
            f"{self.duration * 1000:.2f}",
            "",
            str(usage.total_tokens),
            f"{usage.cost_usd:.6f}",
            "",
            "",
            style="bold",
        )
        buffer = StringIO()
        Console(file=buffer, width=120, color_system=None).print(table)
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADER)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in self._rows()
        )
        usage = self.usage
        total = (
            f"<tr><td></td><td><b>total</b></td><td>{self.duration * 1000:.2f}</td><td></td>"
            f"<td>{usage.total_tokens}</td><td>{usage.cost_usd:.6f}</td><td></td><td></td></tr>"
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}{total}</tbody></table>"

    def __repr__(self) -> str:
        return f"Trace(run_id={self.run_id!r}, steps={len(self.records)})"


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What ``stream()`` yields after each node execution: the node's update and its trace record.

    ``state`` is the state after the whole step (all nodes of that superstep merged).
    """

    node: str
    step: int
    update: dict[str, Any] | None
    record: StepRecord
    state: Any


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of ``invoke``/``resume``: final state (the user's type), trace, run id and status.

    A paused run says why: ``interrupted_before``/``interrupted_after`` a node, or ``interrupts`` (the pending
    ``interrupt(value)`` calls: answer them with ``resume(run_id, value=...)``).
    """

    state: Any
    trace: Trace
    run_id: str
    status: str  # "done" | "interrupted"
    interrupted_before: str | None = None
    interrupts: tuple[Any, ...] = ()
    interrupted_after: str | None = None
