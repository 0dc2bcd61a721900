"""The ``auto`` hybrid fusion: choose the fusion per index on the dataset's dev split, arms alone included.

Why: no fixed fusion wins everywhere. Tuned once on four dev sets, z-score 0.4/0.6 loses to dense alone where
BM25 is weak (msmarco dev) and equal weights lose to BM25 where dense is weak (squad paragraphs); RRF loses
to the better arm on both. Label-free per-query predictors (head-vs-tail z-scores, query term coverage) did
not tell the weak arm apart on these corpora (benchmarks/fusion_default.py). So the choice is made per index
on labelled dev questions, among candidates that include each arm alone: on dev the choice can never be
worse than the better arm, and the test split measures how well it carries over.

:func:`choose_fusion` is pure: it takes each arm's hits per dev query and a scoring function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ragloom.core.types import Hit

__all__ = ["CANDIDATES", "FALLBACK", "choose_fusion", "fuse_runs"]

#: Fusions tried per index, first wins ties (so an arm alone is chosen only when strictly better).
CANDIDATES: tuple[dict[str, Any], ...] = (
    *(
        {"method": "weighted", "normalization": "zscore", "weights": [w, round(1 - w, 1)]}
        for w in (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8)
    ),
    {"method": "rrf"},
    {"method": "weighted", "normalization": "zscore", "weights": [1.0, 0.0]},
    {"method": "weighted", "normalization": "zscore", "weights": [0.0, 1.0]},
)
#: Used when there are no dev questions to choose on.
FALLBACK: dict[str, Any] = {"method": "weighted", "normalization": "zscore", "weights": [0.5, 0.5]}


def fuse_runs(fusion: Mapping[str, Any], runs: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """One query's arm runs fused by ``fusion`` into the top ``k`` (one arm of weight > 0: its own run)."""
    from ragloom.retrieval.hybrid import HybridRetriever

    weights = fusion.get("weights")
    if weights is not None and sum(1 for w in weights if w > 0) == 1:
        return list(runs[[w > 0 for w in weights].index(True)][:k])  # an arm alone, its own order and scores
    fuser = HybridRetriever(
        [_Nothing()] * len(runs), fusion["method"], weights, fusion.get("normalization", "minmax"), rrf_k=60
    )
    return fuser.fuse_hits(runs, k)


def choose_fusion(
    dev_runs: Mapping[str, Sequence[Sequence[Hit]]],
    score: Callable[[str, list[Hit]], float],
    candidates: Sequence[Mapping[str, Any]] = CANDIDATES,
    k: int = 100,
) -> tuple[dict[str, Any], dict[str, float]]:
    """(the best candidate by mean ``score(qid, fused hits)`` over the dev queries, every candidate's mean).

    No dev query: :data:`FALLBACK`.
    """
    if not dev_runs:
        return dict(FALLBACK), {}
    means: dict[str, float] = {}
    best: tuple[float, int] = (-1.0, 0)
    for i, fusion in enumerate(candidates):
        total = sum(score(qid, fuse_runs(fusion, runs, k)) for qid, runs in dev_runs.items())
        mean = total / len(dev_runs)
        means[_label(fusion)] = mean
        if mean > best[0] + 1e-12:
            best = (mean, i)
    return dict(candidates[best[1]]), means


def _label(fusion: Mapping[str, Any]) -> str:
    weights = fusion.get("weights")
    return fusion["method"] + (f" {fusion.get('normalization')} {weights}" if weights else "")


class _Nothing:
    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        return []
