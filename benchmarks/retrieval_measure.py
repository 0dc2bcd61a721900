"""Test-split measurements for the retrieval benchmark: quality and latency, indexing throughput, BM25 speed.

Split out of ``retrieval.py`` because this is the "report on test" half of its protocol plus all of its
timing: each function runs the pipelines or engines and returns numbers, and leaves tables and JSON to
``retrieval_report.py``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ragloom.eval.build import build_pipeline
from ragloom.eval.harness import EvalResult, evaluate
from ragloom.eval.pipelines import PipelineSpec
from ragloom.retrieval.embedders import SentenceTransformerEmbedder

try:  # run as a script (python benchmarks/retrieval.py) or as a module (python -m benchmarks.retrieval)
    from common import queries_per_second
    from retrieval_specs import DEPTH, Bench, Models
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.common import queries_per_second  # type: ignore[no-redef]
    from benchmarks.retrieval_specs import DEPTH, Bench, Models  # type: ignore[no-redef]


def cold_docs_per_second(bench: Bench, cold: SentenceTransformerEmbedder, late: bool, sample: int) -> float:
    """Dense indexing throughput with an uncached embedder, on the first ``sample`` documents."""
    from ragloom.eval.build import CorpusIndex, resolve_chunker

    docs = bench.docs[: max(1, sample if not late else max(1, sample // 8))]
    chunker = resolve_chunker(None, bench.docs)
    started = time.perf_counter()
    index = CorpusIndex(docs, chunker, cold, cold)
    if late:
        from ragloom.chunking.late import late_chunk_embed

        by_doc: dict[str, list[Any]] = {}
        for c in index.chunks:
            by_doc.setdefault(c.doc_id, []).append(c)
        for d in docs:
            late_chunk_embed(cold, d.text, by_doc.get(d.id, []))
    else:
        cold.embed([c.text for c in index.chunks])
    return len(docs) / (time.perf_counter() - started)


def run_tests(
    bench: Bench, models: Models, specs: list[PipelineSpec], latency_queries: int
) -> list[EvalResult]:
    """Quality over all test queries (query vectors from the cache), latency from a timed uncached sample."""
    results = []
    for spec in specs:
        pipe = build_pipeline(spec, models.embedder, models.embedder, cache=bench.cache)
        result = evaluate(pipe, bench.test, split="test", top_k=DEPTH)
        timed = build_pipeline(spec, models.embedder, models.query_embedder, cache=bench.cache)
        sample = evaluate(timed, bench.test.limit(latency_queries), split="test", top_k=DEPTH)
        result.latency_ms_p50, result.latency_ms_p95 = sample.latency_ms_p50, sample.latency_ms_p95
        result.queries_per_s = sample.queries_per_s
        result.config["latency_sample_queries"] = sample.n_queries
        result.config["corpus_timings_s"] = dict(pipe.corpus.timings) if pipe.corpus else {}
        results.append(result)
        print(f"  {bench.name} {spec.name}: {result.metrics}", flush=True)
    return results


def index_rates(bench: Bench, models: Models, results: list[EvalResult], sample: int) -> dict[str, float]:
    """docs/s per pipeline: BM25 full build, dense cold on a sample, hybrid = both in sequence."""
    timings = next(r.config["corpus_timings_s"] for r in results if r.pipeline == "bm25")
    bm25 = len(bench.docs) / (timings.get("bm25", 0.0) + timings.get("chunk", 0.0))
    cold = models.query_embedder
    dense, late = (
        cold_docs_per_second(bench, cold, False, sample),
        cold_docs_per_second(bench, cold, True, sample),
    )
    both = 1.0 / (1.0 / bm25 + 1.0 / dense)
    both_late = 1.0 / (1.0 / bm25 + 1.0 / late)
    return {"bm25": bm25, "dense": dense, "dense-late": late, "hybrid": both, "hybrid-late": both_late}


def rate_for(name: str, rates: dict[str, float], late_hybrid: bool) -> float:
    base = name.split(" ")[0].split("+")[0]
    if base == "hybrid":
        return rates["hybrid-late" if late_hybrid else "hybrid"]
    return rates[base]


def bm25_speed(bench: Bench, rounds: int = 3) -> dict[str, float]:
    """Queries/s one query at a time (top 10): ragloom's BM25Retriever vs bm25s vs rank-bm25, same corpus."""
    import re

    import bm25s
    import Stemmer
    from rank_bm25 import BM25Okapi

    from ragloom.retrieval.bm25 import BM25Retriever
    from ragloom.retrieval.chunkers import WholeDocumentChunker

    texts = [d.text for d in bench.docs]
    queries = list(bench.test.queries.values()) + list(bench.dev.queries.values())
    ours = BM25Retriever([c for d in bench.docs for c in WholeDocumentChunker().split(d.text, d.id)])
    stemmer = Stemmer.Stemmer("english")
    theirs = bm25s.BM25()
    theirs.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False
    )

    def bm25s_query(q: str) -> Any:
        tokens = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False)
        return theirs.retrieve(tokens, k=10, show_progress=False, n_threads=1)

    split = re.compile(r"\w+").findall
    okapi = BM25Okapi([split(t.lower()) for t in texts])

    def okapi_query(q: str) -> Any:
        scores = okapi.get_scores(split(q.lower()))
        return np.argpartition(-scores, 10)[:10]

    best = {"ragloom": 0.0, "bm25s": 0.0, "rank-bm25": 0.0}
    for _ in range(rounds):
        best["ragloom"] = max(
            best["ragloom"], queries_per_second(lambda q: ours.retrieve(q, 10), queries, 2.0)
        )
        best["bm25s"] = max(best["bm25s"], queries_per_second(bm25s_query, queries, 2.0))
        best["rank-bm25"] = max(best["rank-bm25"], queries_per_second(okapi_query, queries[:40], 2.0))
    return best
