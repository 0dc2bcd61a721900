"""Dev-split tuning for the retrieval benchmark: the fusion grid and the rerankers' mixing weights.

Split out of ``retrieval.py`` because this is the "tune on dev" half of its protocol: everything here reads
only the dev splits and returns the chosen settings plus the rows of the tuning tables; the test splits are
measured afterwards (``retrieval_measure.py``) with what it chose.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ragloom.core.types import Hit
from ragloom.eval.build import append_tail
from ragloom.eval.harness import mean_metrics, score_query
from ragloom.retrieval.embedders import SentenceTransformerEmbedder

try:  # run as a script (python benchmarks/retrieval.py) or as a module (python -m benchmarks.retrieval)
    from retrieval_specs import BM25, DEPTH, PRIMARY, Bench, Models, dense_spec, hybrid_spec, pipeline, single
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.retrieval_specs import (  # type: ignore[no-redef]
        BM25,
        DEPTH,
        PRIMARY,
        Bench,
        Models,
        dense_spec,
        hybrid_spec,
        pipeline,
        single,
    )

WEIGHTS_BM25 = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
MAXSIM_WEIGHTS = (0.0, 1.0, 2.0)
COLLAB_WEIGHTS = (0.0, 0.5, 1.0)


def fusion_grid() -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [{"method": "rrf"}]
    for norm in ("minmax", "zscore", "dbsf"):
        for w in WEIGHTS_BM25:
            method = "dbsf" if norm == "dbsf" else "weighted"
            grid.append({"method": method, "normalization": norm, "weights": [w, round(1 - w, 2)]})
    return grid


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
