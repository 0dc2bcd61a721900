"""Evaluate document pipelines on a files dataset (docs-a layout): ingest, query, score, time.

A *system* (:class:`FileSystem`) ingests a folder of files once and then offers one or more retrievers
over its own chunks (ragloom: bm25, dense, hybrid; a benchmark peer: whatever it builds).
:func:`evaluate_files` times the ingestion (read + chunk + embed + index), runs every query through every
retriever, and scores the hits with the pure functions of :mod:`ragloom.eval.answers`, so every system is
measured by the same code on what it actually indexed. Chunk statistics (chunks over the embedder's window,
markup chunks) come from :mod:`ragloom.eval.chunk_stats`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ragloom.core.protocols import Retriever, TokenCounter
from ragloom.core.types import Chunk, Hit
from ragloom.eval.answers import answer_at_budget, answer_at_k, page_at_k, source_at_k
from ragloom.eval.filesets import FilesDataset
from ragloom.eval.harness import ResultJSON
from ragloom.eval.metrics import mean

__all__ = [
    "ANSWER_BUDGETS",
    "ANSWER_KS",
    "FileEvalResult",
    "FileSystem",
    "count_pages",
    "evaluate_files",
    "score_file_query",
]

ANSWER_BUDGETS = (256, 512, 1024)
ANSWER_KS = (1, 5, 10)
#: Hits asked per query: enough chunks to fill the largest budget even when chunks are small.
RETRIEVE_DEPTH = 50


@runtime_checkable
class FileSystem(Protocol):
    """Something that ingests a folder of files once and then answers queries with several retrievers."""

    name: str

    def ingest(self, files_dir: Path) -> Sequence[Chunk]:
        """Read, chunk, embed and index every file under ``files_dir``; return the chunks it indexed."""
        ...

    def retrievers(self) -> Mapping[str, Retriever]:
        """The retrievers over the ingested chunks, by pipeline name (``bm25``, ``dense``, ``hybrid``…)."""
        ...


@dataclass
class FileEvalResult(ResultJSON):
    """One retriever of one system on one files dataset: metric means, ingestion and query timings."""

    dataset: str
    system: str
    pipeline: str
    n_queries: int
    metrics: dict[str, float]
    ingest_seconds: float
    pages: int
    pages_per_s: float
    chunks: int
    latency_ms_p50: float
    latency_ms_p95: float
    chunk_stats: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)


def score_file_query(
    hits: Sequence[Hit],
    answers: Sequence[str],
    source: str,
    page: int | None,
    counter: TokenCounter,
    budgets: Sequence[int] = ANSWER_BUDGETS,
    ks: Sequence[int] = ANSWER_KS,
) -> dict[str, float]:
    """All metrics of one query: answer@B, answer@k, source@k, page@k (see :mod:`ragloom.eval.answers`)."""
    out: dict[str, float] = {}
    for budget in budgets:
        out[f"answer@{budget}"] = answer_at_budget(hits, answers, budget, counter)
    for k in ks:
        out[f"answer@{k}"] = answer_at_k(hits, answers, k)
    for k in ks:
        out[f"source@{k}"] = source_at_k(hits, source, k)
    for k in ks:
        out[f"page@{k}"] = page_at_k(hits, source, page, k)
    return out


def count_pages(files_dir: Path) -> int:
    """Physical pages of the folder's files: a PDF's page count (pypdfium2), 1 for every other file.

    Counted independently of the system under test, so pages/s compares systems on the same number.
    """
    total = 0
    for path in sorted(p for p in Path(files_dir).rglob("*") if p.is_file()):
        total += _pdf_pages(path) if path.suffix.lower() == ".pdf" else 1
    return total


def _pdf_pages(path: Path) -> int:
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError:  # unreadable: counts as one page; the system under test reports it
        return 1
    try:
        return len(pdf)
    finally:
        pdf.close()


def evaluate_files(
    system: FileSystem,
    dataset: FilesDataset,
    counter: TokenCounter | None = None,
    pipelines: Sequence[str] | None = None,
    keep_per_query: bool = False,
    window_counter: TokenCounter | None = None,
) -> list[FileEvalResult]:
    """Ingest ``dataset.files_dir`` with ``system`` (timed), then score its retrievers (or ``pipelines``).

    ``counter`` is the budget tokenizer (default: the selectors' one, the local LLM's tokens).
    ``window_counter``: the embedder's tokenizer; when given, every result carries
    :func:`~ragloom.eval.chunk_stats.chunk_stats` of the system's chunks.
    """
    from ragloom.eval.chunk_stats import chunk_stats
    from ragloom.retrieval.select.base import resolve_token_counter

    budget_counter = resolve_token_counter(counter)
    started = time.perf_counter()
    chunks = list(system.ingest(dataset.files_dir))
    ingest_seconds = time.perf_counter() - started
    pages = count_pages(dataset.files_dir)
    stats = chunk_stats([c.text for c in chunks], window_counter) if window_counter is not None else {}
    available = system.retrievers()
    names = list(pipelines) if pipelines is not None else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        from ragloom.core.errors import ConfigError

        raise ConfigError(f"system {system.name!r} has no pipeline {unknown}; it has {', '.join(available)}")
    results = []
    for name in names:
        per_query, latencies = _run_queries(available[name], dataset, budget_counter)
        results.append(
            FileEvalResult(
                dataset=dataset.files_dir.parent.name,
                system=system.name,
                pipeline=name,
                n_queries=len(per_query),
                metrics={m: mean(v[m] for v in per_query.values()) for m in _metric_names(per_query)},
                ingest_seconds=ingest_seconds,
                pages=pages,
                pages_per_s=pages / ingest_seconds if ingest_seconds > 0 else float("inf"),
                chunks=len(chunks),
                latency_ms_p50=_percentile_ms(latencies, 50),
                latency_ms_p95=_percentile_ms(latencies, 95),
                chunk_stats=dict(stats),
                notes=list(getattr(system, "notes", [])),
                per_query=per_query if keep_per_query else {},
            )
        )
    return results


def _run_queries(
    retriever: Retriever, dataset: FilesDataset, counter: TokenCounter
) -> tuple[dict[str, dict[str, float]], list[float]]:
    per_query: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    for qid, text in dataset.queries.items():
        t0 = time.perf_counter()
        hits = retriever.retrieve(text, RETRIEVE_DEPTH)
        latencies.append(time.perf_counter() - t0)
        evidence = dataset.evidence[qid]
        per_query[qid] = score_file_query(hits, dataset.answers[qid], evidence.source, evidence.page, counter)
    return per_query, latencies


def _metric_names(per_query: dict[str, dict[str, float]]) -> list[str]:
    return list(dict.fromkeys(name for values in per_query.values() for name in values))


def _percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies) * 1000.0, q)) if latencies else 0.0
