"""``ragloom eval --executor ray``: a dataset's questions across workers.

Each worker builds the pipeline from its spec and indexes the corpus once (its setup), then retrieves and
scores the questions it is given; the metrics are the same per-query functions as a local evaluation, so
the means equal a local run's. Index time is the slowest worker's; latencies are measured on the workers.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from ragloom.eval.datasets import Dataset, indexable_documents
from ragloom.eval.harness import EvalResult, _percentile_ms, body_offsets, mean_metrics, score_query
from ragloom.eval.pipelines import PipelineSpec
from ragloom.scale.executor import Executor, first_error

__all__ = ["evaluate_on"]


def _setup(spec: PipelineSpec, dataset: Dataset) -> tuple[Any, dict[str, int], float]:
    from ragloom.eval.build import build_pipeline

    pipeline = build_pipeline(spec)
    documents = indexable_documents(dataset, pipeline.with_title)
    started = time.perf_counter()
    pipeline.index(documents)
    return pipeline, body_offsets(documents), time.perf_counter() - started


def _one(
    dataset: Dataset, top_k: int, state: tuple[Any, dict[str, int], float], query: tuple[str, str]
) -> tuple[dict[str, float], float, float]:
    pipeline, offsets, index_seconds = state
    qid, text = query
    t0 = time.perf_counter()
    hits = pipeline.retrieve(text, top_k)
    latency = time.perf_counter() - t0
    return score_query(dataset, offsets, qid, hits), latency, index_seconds


def evaluate_on(
    executor: Executor, spec: PipelineSpec, dataset: Dataset, split: str = "all", top_k: int = 100
) -> EvalResult:
    """:func:`ragloom.eval.harness.evaluate` with the questions mapped over ``executor``."""
    queries = list(dataset.queries.items())
    setup = functools.partial(_setup, spec, dataset)
    rows = first_error(executor.map(functools.partial(_one, dataset, top_k), queries, setup=setup))
    per_query = {qid: scores for (qid, _), (scores, _, _) in zip(queries, rows, strict=True)}
    latencies = [latency for _, latency, _ in rows]
    index_seconds = max((s for _, _, s in rows), default=0.0)
    n_docs = len(dataset.corpus)
    return EvalResult(
        dataset=dataset.name,
        pipeline=spec.name,
        split=split,
        n_queries=len(per_query),
        n_docs=n_docs,
        metrics=mean_metrics(per_query),
        index_seconds=index_seconds,
        index_docs_per_s=n_docs / index_seconds if index_seconds > 0 else float("inf"),
        latency_ms_p50=_percentile_ms(latencies, 50),
        latency_ms_p95=_percentile_ms(latencies, 95),
        queries_per_s=len(latencies) / sum(latencies) if sum(latencies) > 0 else float("inf"),
        config=spec.to_dict(),
        per_query=per_query,
    )
