"""Shared helpers for benchmark scripts: timers, latency percentiles, rich tables and the results JSON.

Every benchmark prints its tables and writes ``benchmarks/results/<name>.json`` with
:func:`write_results`, which adds the machine and time of the run so numbers can be compared across runs.
Scripts run as ``python benchmarks/NAME.py`` import it as ``from common import ...`` (their folder is on
``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

__all__ = [
    "RESULTS_DIR",
    "Timer",
    "fmt",
    "percentiles_ms",
    "print_table",
    "queries_per_second",
    "timed",
    "write_results",
]


@dataclass
class Timer:
    """Wall-clock seconds of a ``with timed() as t:`` block, in ``t.seconds`` after the block."""

    seconds: float = 0.0
    _start: float = field(default=0.0, repr=False)


@contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer(_start=time.perf_counter())
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - timer._start


def percentiles_ms(seconds: Sequence[float], qs: Sequence[float] = (50, 95)) -> dict[str, float]:
    """``{"p50": ms, "p95": ms}`` of a list of durations in seconds (nearest-rank on the sorted list)."""
    if not seconds:
        return {f"p{q:g}": 0.0 for q in qs}
    ordered = sorted(seconds)
    out = {}
    for q in qs:
        idx = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
        out[f"p{q:g}"] = ordered[idx] * 1000.0
    return out


def queries_per_second(fn: Callable[[str], Any], queries: Sequence[str], min_seconds: float = 1.0) -> float:
    """Throughput of ``fn`` called one query at a time, repeating until ``min_seconds`` have passed."""
    if not queries:
        return 0.0
    done, started = 0, time.perf_counter()
    while True:
        for q in queries:
            fn(q)
        done += len(queries)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, large numbers with thousands separators, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}f}"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Print a rich table and return the same table as Markdown (for reports and the JSON file)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for i, col in enumerate(columns):
        table.add_column(escape(col), justify="left" if i == 0 else "right")
    cells = [[fmt(v) for v in row] for row in rows]
    for row in cells:
        table.add_row(*(escape(c) for c in row))  # "[w200]" is a cell, not rich markup
    Console(width=max(100, 14 * len(columns))).print(table)
    lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], results_dir: Path = RESULTS_DIR) -> Path:
    """Write ``results/<name>.json`` with the payload plus when and where it ran."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    meta = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    path.write_text(json.dumps({**meta, **payload}, indent=2, default=str) + "\n")
    return path
