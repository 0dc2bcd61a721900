"""Evaluate a retrieval pipeline on a BEIR-layout dataset: index the corpus, run every query, score, time.

The harness knows nothing about how a pipeline retrieves; it needs an object with ``index(documents)`` and
``retrieve(query, k) -> list[Hit]`` (:class:`EvalPipeline`). Pipelines are built by name or from a YAML file
in :mod:`ragloom.eval.pipelines`. Chunk hits become document scores by max over chunks; gold spans are
shifted onto the indexed text (a title may be prepended), so span-hit is exact whatever the pipeline indexes.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragloom.core.types import Document, Hit
from ragloom.eval.datasets import Dataset, GoldSpan, indexable_documents
from ragloom.eval.metrics import (
    doc_scores,
    drop_own_id,
    mean,
    mrr,
    ndcg_at_k,
    rank,
    recall_at_k,
    span_hit_at_k,
)

__all__ = [
    "EvalPipeline",
    "EvalResult",
    "body_offsets",
    "evaluate",
    "mean_metrics",
    "query_metrics",
    "score_query",
]

#: Cut-offs reported for every dataset (R@2/R@5 are HippoRAG's multi-hop numbers).
RECALL_KS = (2, 5, 10, 100)
SPAN_KS = (1, 5, 10)


@runtime_checkable
class EvalPipeline(Protocol):
    """What the harness evaluates: something that indexes documents and answers ``retrieve``."""

    name: str
    with_title: bool

    def index(self, documents: Sequence[Document]) -> None: ...

    def retrieve(self, query: str, k: int = 10) -> list[Hit]: ...


class ResultJSON:
    """``to_dict``/``write_json`` of the result dataclasses (:class:`EvalResult`, ``FileEvalResult``): the
    per-query rows only on request, and strict JSON: a non-finite number (``inf`` docs/s when nothing was
    timed, a ``nan`` metric) is written ``null``, since ``Infinity``/``NaN`` are not JSON and strict readers
    reject the whole file."""

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        data = asdict(self)  # type: ignore[call-overload]  # the subclasses are dataclasses
        if not per_query:
            data.pop("per_query")
        return data

    def write_json(self, path: str | Path, per_query: bool = True) -> None:
        write_strict_json(path, self.to_dict(per_query))


@dataclass
class EvalResult(ResultJSON):
    """Metrics (means over queries) and timings of one pipeline on one dataset split."""

    dataset: str
    pipeline: str
    split: str
    n_queries: int
    n_docs: int
    metrics: dict[str, float]
    index_seconds: float
    index_docs_per_s: float
    latency_ms_p50: float
    latency_ms_p95: float
    queries_per_s: float
    config: dict[str, Any] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)


def write_strict_json(path: str | Path, data: Any) -> None:
    """``data`` as indented strict JSON at ``path`` (folders created), non-finite floats written ``null``."""
    text = json.dumps(_finite_or_null(data), indent=2, allow_nan=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _finite_or_null(value: Any) -> Any:
    """``value`` with every non-finite float (in nested dicts, lists and tuples) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_null(v) for v in value]
    return value


def query_metrics(
    query_id: str,
    hits: Sequence[Hit],
    qrels: dict[str, int] | None,
    spans: Sequence[GoldSpan] | None,
) -> dict[str, float]:
    """All metrics of one query: document metrics when judged by qrels, span-hit@k when gold spans exist."""
    out: dict[str, float] = {}
    if qrels:
        ranked = rank(drop_own_id(doc_scores(hits), query_id))
        out["nDCG@10"] = ndcg_at_k(ranked, qrels, 10)
        out["MRR@10"] = mrr(ranked, qrels, 10)
        for k in RECALL_KS:
            out[f"R@{k}"] = recall_at_k(ranked, qrels, k)
    if spans:
        for k in SPAN_KS:
            out[f"span-hit@{k}"] = span_hit_at_k(hits, spans, k)
    return out


def body_offsets(documents: Sequence[Document]) -> dict[str, int]:
    """Where each indexed document's BEIR ``text`` starts (see :func:`indexable_documents`)."""
    return {d.id: int(d.metadata.get("body_offset", 0)) for d in documents}


def score_query(
    dataset: Dataset, offsets: dict[str, int], query_id: str, hits: Sequence[Hit]
) -> dict[str, float]:
    """:func:`query_metrics` for a query of ``dataset``, gold spans shifted onto the indexed text."""
    spans = [
        GoldSpan(s.doc_id, s.start + offsets.get(s.doc_id, 0), s.end + offsets.get(s.doc_id, 0))
        for s in dataset.spans.get(query_id, ())
    ]
    return query_metrics(query_id, hits, dataset.qrels.get(query_id), spans)


def evaluate(
    pipeline: EvalPipeline,
    dataset: Dataset,
    split: str = "all",
    top_k: int = 100,
    keep_per_query: bool = False,
    progress: bool = False,
    tune_on: Dataset | None = None,
) -> EvalResult:
    """Index ``dataset``'s corpus with ``pipeline``, run its queries (already split/limited), score them.

    The queries run through the one flow evaluator (:func:`ragloom.eval.flow_eval.evaluate_flow`): the
    pipeline is the ``retriever`` resource of a one-step flow, scored by the retrieval metrics (an ``auto``
    fusion is chosen on ``tune_on``, the dev split, first); latency is
    the retrieve step's time per query. ``config["embedding_cache"]`` says whether the on-disk embedding
    cache served the index build (then ``index_docs_per_s`` is not a cold number).
    """
    from ragloom.eval.flow_eval import evaluate_flow, pipeline_flow
    from ragloom.eval.flow_metrics import RETRIEVAL_METRICS

    documents = indexable_documents(dataset, pipeline.with_title)
    offsets = body_offsets(documents)
    computed = _model_runs(pipeline)
    started = time.perf_counter()
    pipeline.index(documents)
    index_seconds = time.perf_counter() - started
    cache_note = _cache_note(pipeline, computed)
    tune = getattr(pipeline, "tune", None)
    if tune is not None and tune_on is not None:
        tune(tune_on, offsets)
    report = evaluate_flow(
        pipeline_flow(pipeline.name, top_k),
        dataset,
        {"retriever": pipeline},
        concurrency=1,
        metrics=RETRIEVAL_METRICS,
        offsets=offsets,
        progress=progress,
    )
    failed = report.failures
    if failed:
        raise failed_error(pipeline.name, failed)
    per_query = {r["id"]: dict(r["scores"]) for r in report.records}
    latencies = [r["trace"]["nodes"]["retrieve"]["ms"] / 1000.0 for r in report.records]
    config = dict(getattr(pipeline, "config", {}) or {})
    if cache_note:
        config["embedding_cache"] = cache_note
    return EvalResult(
        dataset=dataset.name,
        pipeline=pipeline.name,
        split=split,
        n_queries=len(per_query),
        n_docs=len(documents),
        metrics=mean_metrics(per_query),
        index_seconds=index_seconds,
        index_docs_per_s=len(documents) / index_seconds if index_seconds > 0 else float("inf"),
        latency_ms_p50=_percentile_ms(latencies, 50),
        latency_ms_p95=_percentile_ms(latencies, 95),
        queries_per_s=len(latencies) / sum(latencies) if sum(latencies) > 0 else float("inf"),
        config=config,
        per_query=per_query if keep_per_query else {},
    )


def failed_error(name: str, failed: list[dict[str, Any]]) -> Exception:
    """A retrieval pipeline that fails on a query is a broken pipeline, not a score: say which and why."""
    from ragloom.core.errors import ConfigError

    first = failed[0]
    return ConfigError(
        f"pipeline {name!r} failed on {len(failed)} queries; first {first['id']!r}: {first['error']}"
    )


def _embedders(pipeline: EvalPipeline) -> list[Any]:
    corpus = getattr(pipeline, "corpus", None)
    found = [getattr(pipeline, "_embedder", None)]
    if corpus is not None:
        found.append(corpus.embedder)
    if not any(found):
        from ragloom.retrieval.embedders import default_embedder

        found.append(default_embedder())
    return [e for e in dict.fromkeys(found) if e is not None and hasattr(e, "computed")]


def _model_runs(pipeline: EvalPipeline) -> int:
    return sum(int(e.computed) for e in _embedders(pipeline))


def _cache_note(pipeline: EvalPipeline, before: int) -> str:
    """Whether the on-disk embedding cache served the index build ('' when nothing dense was built)."""
    timings = getattr(getattr(pipeline, "corpus", None), "timings", {}) or {}
    if not any(k.startswith("dense") for k in timings):
        return ""
    runs = _model_runs(pipeline) - before
    if "dense-late" in timings:
        return (
            "late-chunk vectors come from the on-disk late-chunk cache after a first run: index_docs_per_s "
            f"is cold only on that first run ({runs} plain texts embedded by the model now)"
        )
    if runs == 0:
        return "warm: every vector came from the on-disk embedding cache; index_docs_per_s is not a cold rate"
    return f"cold: {runs} texts embedded by the model during indexing"


def mean_metrics(per_query: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the queries that have it (span metrics only over span-judged queries)."""
    names = list(dict.fromkeys(name for values in per_query.values() for name in values))
    return {name: mean(v[name] for v in per_query.values() if name in v) for name in names}


def _percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies) * 1000.0, q)) if latencies else 0.0
