"""Retrieval benchmark: BM25, dense, dense + late chunking, hybrid and hybrid + rerankers on four datasets.

Protocol ("tune on dev, report on test"): every dataset's queries are split by
:func:`ragloom.eval.datasets.split_queries` (seeded hash of the query id, 30 % dev). ONE global setting is
chosen on the dev splits of all datasets together (the mean of each dataset's primary metric): the fusion
(method, normalisation, weights, naive or late dense vectors) and each reranker's mixing weight. The test
splits are then evaluated once with those settings. Long documents (squad-articles-a) are chunked by the
harness's "auto" rule (paragraphs, long ones cut into 200-word windows); squad is also run with 200-word
windows, the boundaries of the late-chunking bar.

Timing: latency is per query, one at a time, with an uncached query embedder; index docs/s is cold (no
embedding cache) on a fixed sample for dense indexes, and the full build for BM25. The machine's 2 cores are
shared, so timings are noisy; the BM25 speed comparison alternates the engines over several rounds, best kept.

    nice .venv/bin/python benchmarks/retrieval.py                   # everything (embeddings cached on disk)
    nice .venv/bin/python benchmarks/retrieval.py --datasets scifact --no-rerank --limit 50
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.paths import data_dir
from ragloom.core.types import Document, Hit
from ragloom.eval.build import IndexCache, RetrievalPipeline, append_tail, build_pipeline
from ragloom.eval.datasets import Dataset, indexable_documents, load_dataset
from ragloom.eval.harness import EvalResult, body_offsets, evaluate, mean_metrics, score_query
from ragloom.eval.pipelines import ComponentSpec, PipelineSpec
from ragloom.retrieval.embedders import SentenceTransformerEmbedder, default_embedder

try:  # run as a script (python benchmarks/retrieval.py) or as a module (python -m benchmarks.retrieval)
    from common import print_table, queries_per_second, write_results
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.common import print_table, queries_per_second, write_results  # type: ignore[no-redef]

DATASETS = ("scifact", "msmarco-5k", "hotpotqa-300", "squad-articles-a")
PRIMARY = {
    "scifact": "nDCG@10",
    "msmarco-5k": "nDCG@10",
    "hotpotqa-300": "R@5",
    "squad-articles-a": "span-hit@1",
}
SHOWN = ("nDCG@10", "R@2", "R@5", "MRR@10", "span-hit@1", "span-hit@5")
WEIGHTS_BM25 = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
MAXSIM_WEIGHTS = (0.0, 1.0, 2.0)
COLLAB_WEIGHTS = (0.0, 0.5, 1.0)
DEPTH = 100
BM25 = ComponentSpec("bm25")
W200 = ComponentSpec("window", {"words": 200})


def fusion_grid() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{"method": "rrf"}]
    for norm in ("minmax", "zscore", "dbsf"):
        for w in WEIGHTS_BM25:
            method = "dbsf" if norm == "dbsf" else "weighted"
            grid.append({"method": method, "normalization": norm, "weights": [w, round(1 - w, 2)]})
    return grid


@dataclass
class Bench:
    """One dataset: its dev/test splits, indexable documents and shared indexes."""

    name: str
    dev: Dataset
    test: Dataset
    docs: list[Document]
    offsets: dict[str, int]
    cache: IndexCache = field(default_factory=IndexCache)

    @property
    def chunked(self) -> bool:
        """Whether the harness's auto rule chunks this corpus (late chunking only matters then)."""
        from ragloom.eval.build import resolve_chunker

        return resolve_chunker(None, self.docs).uses != "document"


@dataclass
class Models:
    embedder: SentenceTransformerEmbedder
    query_embedder: SentenceTransformerEmbedder


def load_bench(name: str, limit: int | None) -> Bench:
    dataset = load_dataset(data_dir() / name)
    docs = indexable_documents(dataset, with_title=True)
    return Bench(
        name, dataset.split("dev").limit(limit), dataset.split("test").limit(limit), docs, body_offsets(docs)
    )


def pipeline(bench: Bench, models: Models, spec: PipelineSpec) -> RetrievalPipeline:
    pipe = build_pipeline(spec, models.embedder, models.query_embedder, cache=bench.cache)
    pipe.index(bench.docs)
    return pipe


def single(name: str, retriever: ComponentSpec, chunker: ComponentSpec | None = None) -> PipelineSpec:
    return PipelineSpec(name=name, retrievers=(retriever,), chunker=chunker)


def dense_spec(late: bool) -> ComponentSpec:
    return ComponentSpec("dense", {"late_chunking": True} if late else {})


def first_stage_runs(bench: Bench, models: Models, late: bool) -> dict[str, dict[str, list[Hit]]]:
    """BM25 and dense hits at depth 100 for every dev query (the input of the offline fusion grid)."""
    bm25 = pipeline(bench, models, single("bm25", BM25))
    dense = pipeline(bench, models, single("dense", dense_spec(late)))
    return {
        q: {"bm25": bm25.retrieve(t, DEPTH), "dense": dense.retrieve(t, DEPTH)}
        for q, t in bench.dev.queries.items()
    }


def fused(runs: dict[str, list[Hit]], fusion: dict[str, Any]) -> list[Hit]:
    from ragloom.retrieval.hybrid import HybridRetriever

    hybrid = HybridRetriever(
        [_Nothing(), _Nothing()],
        fusion=fusion["method"],
        weights=fusion.get("weights"),
        normalization=fusion.get("normalization", "minmax"),
        depth=DEPTH,
    )
    return hybrid.fuse_hits([runs["bm25"], runs["dense"]], DEPTH)


class _QueryMemo:
    """An Embedder view that remembers ``embed_tokens`` of short texts (queries) across a tuning grid."""

    def __init__(self, embedder: SentenceTransformerEmbedder) -> None:
        self.embedder = embedder
        self.dim, self.model_name = embedder.dim, embedder.model_name
        self._memo: dict[str, tuple[np.ndarray, list[tuple[int, int]]]] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        if len(text) > 300:
            return self.embedder.embed_tokens(text)
        if text not in self._memo:
            self._memo[text] = self.embedder.embed_tokens(text)
        return self._memo[text]


class _Nothing:
    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        return []


def dev_score(bench: Bench, hits_by_query: dict[str, list[Hit]]) -> dict[str, float]:
    per_query = {q: score_query(bench.dev, bench.offsets, q, hits) for q, hits in hits_by_query.items()}
    return mean_metrics(per_query)


def tune_fusion(
    benches: list[Bench], models: Models, variants: Sequence[bool]
) -> tuple[dict[str, Any], list[list[Any]]]:
    """Choose (late?, fusion) maximising the mean dev primary metric over the datasets."""
    rows: list[list[Any]] = []
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    runs = {(b.name, False): first_stage_runs(b, models, False) for b in benches}
    if True in variants:  # "late" = late chunking where the corpus is chunked; identical runs elsewhere
        runs.update(
            {
                (b.name, True): first_stage_runs(b, models, True) if b.chunked else runs[(b.name, False)]
                for b in benches
            }
        )
    for late in variants:
        for fusion in fusion_grid():
            scores = []
            for b in benches:
                r = runs[(b.name, late)]
                scores.append(dev_score(b, {q: fused(r[q], fusion) for q in r})[PRIMARY[b.name]])
            mean = float(np.mean(scores))
            rows.append([_fusion_label(fusion, late), *scores, mean])
            if mean > best[0] + 1e-12:
                best = (mean, {**fusion, "late": late})
    singles: list[list[Any]] = [["bm25 (dev)"], ["dense (dev)"]]
    for b in benches:
        r = runs[(b.name, False)]
        for row, key in zip(singles, ("bm25", "dense"), strict=True):
            row.append(dev_score(b, {q: r[q][key] for q in r})[PRIMARY[b.name]])
    rows += [[*row, float(np.mean(row[1:]))] for row in singles]
    return best[1], rows


def _fusion_label(fusion: dict[str, Any], late: bool) -> str:
    label = (
        fusion["method"]
        if fusion["method"] == "rrf"
        else f"{fusion.get('normalization')} {fusion['weights']}"
    )
    return label + (" +late" if late else "")


def hybrid_spec(
    name: str, best: dict[str, Any], bench: Bench, chunker: ComponentSpec | None = None
) -> PipelineSpec:
    """BM25 + dense fused as chosen on dev; dense uses late chunking when chosen and the corpus is chunked."""
    fusion = {k: v for k, v in best.items() if k != "late"}
    late = bool(best["late"]) and (chunker is not None or bench.chunked)
    return PipelineSpec(name=name, retrievers=(BM25, dense_spec(late)), chunker=chunker, fusion=fusion)


def tune_rerankers(
    benches: list[Bench], models: Models, best: dict[str, Any], depth: int
) -> tuple[dict[str, float], list[list[Any]]]:
    """Choose MaxSim's first-stage weight and the collaborative weight on the dev splits."""
    from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker
    from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

    rows: list[list[Any]] = []
    chosen: dict[str, float] = {}
    grids: dict[str, tuple[Any, Sequence[float], Callable[[Any, float], None]]] = {
        "maxsim": (
            MaxSimReranker(_QueryMemo(models.embedder), 0.0, cache_size=4096),
            MAXSIM_WEIGHTS,
            lambda r, w: setattr(r, "first_stage_weight", w),
        ),
        "collaborative": (
            CollaborativeReranker(models.embedder),
            COLLAB_WEIGHTS,
            lambda r, w: setattr(r, "mix", (1.0, 1.0, w)),
        ),
    }
    for name, (reranker, weights, set_weight) in grids.items():
        scores_by_w: dict[float, list[float]] = {w: [] for w in weights}
        for b in benches:
            hybrid = pipeline(b, models, hybrid_spec("hybrid", best, b))
            cands = {q: hybrid.retrieve(t, DEPTH) for q, t in b.dev.queries.items()}
            for w in weights:
                set_weight(reranker, w)
                reranked = {
                    q: append_tail(reranker.rerank(b.dev.queries[q], c[:depth]), c[depth:])
                    for q, c in cands.items()
                }
                scores_by_w[w].append(dev_score(b, reranked)[PRIMARY[b.name]])
        for w, scores in scores_by_w.items():
            rows.append([f"{name} w={w}", *scores, float(np.mean(scores))])
        chosen[name] = max(weights, key=lambda w: (float(np.mean(scores_by_w[w])), -w))
    return chosen, rows


def test_specs(bench: Bench, best: dict[str, Any], late_everywhere: bool) -> list[PipelineSpec]:
    """First-stage pipelines on the test split (dense-late only on chunked corpora unless asked)."""
    specs = [single("bm25", BM25), single("dense", dense_spec(False))]
    if bench.chunked or late_everywhere:
        specs.append(single("dense-late", dense_spec(True)))
    specs.append(hybrid_spec("hybrid", best, bench))
    if bench.name == "squad-articles-a":  # the late-chunking bar's boundaries: 200-word windows
        specs += [
            single("bm25 [w200]", BM25, W200),
            single("dense [w200]", dense_spec(False), W200),
            single("dense-late [w200]", dense_spec(True), W200),
            hybrid_spec("hybrid [w200]", best, bench, W200),
        ]
    return specs


def rerank_specs(
    bench: Bench, best: dict[str, Any], rerank: dict[str, float], depth: int
) -> list[PipelineSpec]:
    maxsim = ComponentSpec("maxsim", {"first_stage_weight": rerank["maxsim"], "cache_size": 4096})
    collab = ComponentSpec("collaborative", {"collab_weight": rerank["collaborative"]})
    return [
        replace(hybrid_spec("hybrid+maxsim", best, bench), reranker=maxsim, rerank_depth=depth),
        replace(hybrid_spec("hybrid+collab", best, bench), reranker=collab, rerank_depth=depth),
    ]


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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--limit", type=int, default=None, help="queries per split (quick runs)")
    parser.add_argument("--no-rerank", action="store_true", help="skip the reranked pipelines")
    parser.add_argument("--no-late-tuning", action="store_true", help="hybrid uses naive dense vectors only")
    parser.add_argument("--late-everywhere", action="store_true", help="dense-late on passage corpora too")
    parser.add_argument("--rerank-depth", type=int, default=10)
    parser.add_argument("--sample", type=int, default=64, help="documents for the cold dense throughput")
    parser.add_argument("--latency-queries", type=int, default=50, help="timed queries per pipeline")
    parser.add_argument("--rerank-limit", type=int, default=None, help="dev/test queries for rerankers")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip", nargs="*", default=[], help="pipeline names to leave out")
    parser.add_argument("--out", default="retrieval", help="results/<OUT>.json")
    return parser.parse_args()


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


def main() -> None:
    import torch

    args = parse_args()
    # On shared, oversubscribed cores two intra-op threads spin against each other: one thread measured ~30x
    # faster per query here (55 ms vs 1.7 s for one MiniLM query embedding at load average 12).
    torch.set_num_threads(args.threads)
    report = Report(args.out)
    models = Models(default_embedder(), SentenceTransformerEmbedder(cache_dir=False, show_progress=False))
    benches = [load_bench(name, args.limit) for name in args.datasets]
    report.payload["load_average_at_start"] = os.getloadavg()
    report.log("embedding all queries once (cached; latency is timed separately without the cache)")
    models.embedder.embed([q for b in benches for d in (b.dev, b.test) for q in d.queries.values()])
    names = [b.name for b in benches]
    report.log("phase 1: fusion tuning on dev")
    best, fusion_rows = tune_fusion(benches, models, (False,) if args.no_late_tuning else (False, True))
    report.table(
        "Fusion tuning on dev (primary metric per dataset)", ["setting", *names, "mean"], fusion_rows
    )
    report.log(f"chosen on dev: {best}")
    report.payload.update({"chosen_on_dev": {"fusion": best}, "dev_tuning": {"fusion": fusion_rows}})
    for b in benches:
        report.log(f"phase 2: test split, first-stage pipelines, {b.name}")
        specs = [s for s in test_specs(b, best, args.late_everywhere) if s.name not in args.skip]
        report.tests[b.name] = run_tests(b, models, specs, args.latency_queries)
        report.rates[b.name] = index_rates(b, models, report.tests[b.name], args.sample)
        report.dataset_table(b, best["late"])
        report.save()
    speed = None
    if "scifact" in names:
        report.log("phase 3: BM25 speed")
        speed = bm25_speed(next(b for b in benches if b.name == "scifact"))
        rows = [[k, v, v / speed["rank-bm25"]] for k, v in speed.items()]
        report.table(
            "BM25 queries/s on SciFact (one query at a time, top 10)", ["engine", "q/s", "x rank-bm25"], rows
        )
        report.payload["bm25_speed_qps"] = speed
        report.save()
    if not args.no_rerank:
        run_rerank_phase(report, benches, models, best, args)
    bars = check_bars(report.tests, speed)
    report.table("Bars (issue 4)", ["bar", "measured", "holds"], bars)
    report.payload["bars"] = bars
    report.payload["load_average_at_end"] = os.getloadavg()
    report.log(f"wrote {report.save()}")


def run_rerank_phase(
    report: Report, benches: list[Bench], models: Models, best: dict[str, Any], args: argparse.Namespace
) -> None:
    """Reranker weights tuned on dev, then hybrid vs hybrid + each reranker on the same test queries."""
    n = args.rerank_limit
    subs = [replace(b, dev=b.dev.limit(n), test=b.test.limit(n)) for b in benches]
    report.log(f"phase 4: reranker tuning on dev ({'all' if n is None else n} queries per dataset)")
    rerank, rerank_rows = tune_rerankers(subs, models, best, args.rerank_depth)
    report.table("Reranker tuning on dev", ["setting", *[b.name for b in subs], "mean"], rerank_rows)
    report.log(f"chosen on dev: {rerank}")
    report.payload["chosen_on_dev"]["rerankers"] = rerank
    report.payload["dev_tuning"]["rerankers"] = rerank_rows
    for sub in subs:
        report.log(f"phase 5: test split, reranked pipelines, {sub.name}")
        specs = rerank_specs(sub, best, rerank, args.rerank_depth)
        if n is not None:  # the reference row on exactly the reranked queries
            specs.insert(0, hybrid_spec(f"hybrid [first {n} test queries]", best, sub))
        specs = [s for s in specs if s.name not in args.skip]
        report.tests[sub.name] += run_tests(sub, models, specs, args.latency_queries)
        report.dataset_table(next(b for b in benches if b.name == sub.name), best["late"])
        report.save()


if __name__ == "__main__":
    main()
