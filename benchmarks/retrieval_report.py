"""The retrieval benchmark's output: result tables, the issue's bars and the incrementally saved JSON.

Split out of ``retrieval.py`` so that what is printed and written to ``benchmarks/results/`` lives in one
place, apart from the code that tunes and measures; ``retrieval.py`` only sequences the phases.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragloom.eval.harness import EvalResult

try:  # run as a script (python benchmarks/retrieval.py) or as a module (python -m benchmarks.retrieval)
    from common import print_table, write_results
    from retrieval_measure import rate_for
    from retrieval_specs import PRIMARY, SHOWN, Bench
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.common import print_table, write_results  # type: ignore[no-redef]
    from benchmarks.retrieval_measure import rate_for  # type: ignore[no-redef]
    from benchmarks.retrieval_specs import PRIMARY, SHOWN, Bench  # type: ignore[no-redef]


def check_bars(tests: dict[str, list[EvalResult]], speed: dict[str, float] | None) -> list[list[Any]]:
    """The issue's bars (a)-(d), each with the measured values and whether it holds."""
    rows: list[list[Any]] = []
    for name, results in tests.items():
        by = {r.pipeline: r.metrics.get(PRIMARY[name], 0.0) for r in results}
        if "hybrid" not in by:
            continue
        singles = max(by.get("bm25", 0.0), by.get("dense", 0.0), by.get("dense-late", 0.0))
        rows.append(
            [
                f"(a) {name}: hybrid > best single ({PRIMARY[name]})",
                f"{by['hybrid']:.4f} vs {singles:.4f}",
                by["hybrid"] > singles,
            ]
        )
    if "scifact" in tests:
        n_full = max(r.n_queries for r in tests["scifact"])  # reranked rows may cover only a subset
        full = [(r.pipeline, r.metrics["nDCG@10"]) for r in tests["scifact"] if r.n_queries == n_full]
        best_name, best = max(full, key=lambda x: x[1])
        label = f"(b) SciFact nDCG@10 >= 0.71 (best pipeline, all {n_full} test queries)"
        rows.append([label, f"{best:.4f} ({best_name})", best >= 0.71])
    if "squad-articles-a" in tests:
        by = {r.pipeline: r.metrics["span-hit@1"] for r in tests["squad-articles-a"]}
        for tag in ("", " [w200]"):
            if f"dense{tag}" not in by or f"dense-late{tag}" not in by:
                continue
            naive, late = by[f"dense{tag}"], by[f"dense-late{tag}"]
            label = f"(c) late - naive span-hit@1 >= 0.03, {'paragraphs' if not tag else '200-word windows'}"
            rows.append([label, f"{late:.4f} - {naive:.4f} = {late - naive:+.4f}", late - naive >= 0.03])
    if speed:
        rows.append(
            [
                "(d) ragloom BM25 q/s >= bm25s",
                f"{speed['ragloom']:,.0f} vs {speed['bm25s']:,.0f}",
                speed["ragloom"] >= speed["bm25s"],
            ]
        )
        ratio = speed["ragloom"] / speed["rank-bm25"]
        rows.append(["(d) ragloom BM25 >= 100x rank-bm25", f"{ratio:,.0f}x", ratio >= 100])
    return rows


def result_rows(
    name: str, results: list[EvalResult], rates: dict[str, float], late_hybrid: bool
) -> list[list[Any]]:
    rows = []
    for r in results:
        metrics = [r.metrics.get(m) for m in SHOWN]
        rows.append(
            [
                r.pipeline,
                *metrics,
                rate_for(r.pipeline, rates, late_hybrid),
                r.latency_ms_p50,
                r.latency_ms_p95,
            ]
        )
    return rows


class Report:
    """Collects tables and results; rewrites the JSON after every phase so a cut-off run keeps its numbers."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.started = time.perf_counter()
        self.tables: list[str] = []
        self.payload: dict[str, Any] = {"datasets": {}}
        self.tests: dict[str, list[EvalResult]] = {}
        self.rates: dict[str, dict[str, float]] = {}

    def log(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f}s] {message}", flush=True)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append(print_table(title, columns, rows))

    def dataset_table(self, bench: Bench, late_hybrid: bool) -> None:
        title = f"{bench.name}: test split ({len(bench.test.queries)} queries, {len(bench.docs)} documents)"
        cols = ["pipeline", *SHOWN, "index docs/s", "p50 ms", "p95 ms"]
        rates = self.rates[bench.name]
        rows = result_rows(bench.name, self.tests[bench.name], rates, late_hybrid and bench.chunked)
        self.table(title, cols, rows)
        self.payload["datasets"][bench.name] = {
            "results": [r.to_dict() for r in self.tests[bench.name]],
            "index_docs_per_s": self.rates[bench.name],
            "chunked": bench.chunked,
        }

    def save(self) -> Path:
        self.payload.update(
            {"tables_markdown": self.tables, "wall_seconds": time.perf_counter() - self.started}
        )
        return write_results(self.out, self.payload)
