"""Pure rank/score fusion kernels for hybrid retrieval (no I/O, no models; tested exhaustively).

A *ranking* is a sequence of ``(id, score)`` pairs, best first, as one retriever returned them. Every kernel
returns one fused ranking: ``(id, fused_score)`` pairs sorted by descending score; ties keep the order in
which ids were first seen (ranking by ranking, best first), so results are deterministic.

- Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): ``sum_r w_r / (k + rank_r(d))``, k = 60.
- Weighted score fusion (Fox & Shaw 1994, "CombSUM" over normalised scores): each ranking's scores are
  normalised (min-max, z-score, or the distribution-based mean±3σ rule) and summed with weights. An id a
  ranking did not return contributes that ranking's *floor*: 0 for min-max and DBSF (whose values lie in
  [0, 1]), the ranking's lowest z-score for z-score (absent counts as bad as the worst retrieved).
- Confidence-weighted z-score fusion (:func:`confidence_weighted_fusion`): z-scores summed with per-query
  weights from each ranking's own confidence (the mean z-score of its head); the robust default.
- Distribution-based score fusion (DBSF; Qdrant, "Hybrid search revamped", 2024): normalise with the limits
  mean - 3σ and mean + 3σ, clipped to [0, 1], then sum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import numpy as np

from ragloom.core.errors import ConfigError

Ranking = Sequence[tuple[str, float]]
Normalization = Literal["minmax", "zscore", "dbsf"]
FusionMethod = Literal["rrf", "weighted", "dbsf"]

RRF_K = 60
__all__ = [
    "FUSION_METHODS",
    "NORMALIZATIONS",
    "RRF_K",
    "FusionMethod",
    "Normalization",
    "Ranking",
    "confidence_weighted_fusion",
    "distribution_based_score_fusion",
    "fuse",
    "normalize",
    "normalize_dbsf",
    "normalize_minmax",
    "normalize_zscore",
    "ranking_confidence",
    "reciprocal_rank_fusion",
    "weighted_score_fusion",
]


def normalize_minmax(scores: np.ndarray) -> np.ndarray:
    """Map to [0, 1] with the best score at 1 and the worst at 0; a constant list maps to all 1."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return np.ones_like(scores)
    return (scores - lo) / (hi - lo)


def normalize_zscore(scores: np.ndarray) -> np.ndarray:
    """``(s - mean) / std`` (population std); a constant list maps to all 0."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    std = float(scores.std())
    if std <= 1e-12 * max(1.0, abs(float(scores.mean()))):
        return np.zeros_like(scores)
    return (scores - scores.mean()) / std


def normalize_dbsf(scores: np.ndarray) -> np.ndarray:
    """Distribution-based normalisation: limits mean ± 3σ mapped to 0 and 1, clipped; constant → all 1."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    mean, std = float(scores.mean()), float(scores.std())
    if std <= 1e-12 * max(1.0, abs(mean)):
        return np.ones_like(scores)
    return np.clip((scores - (mean - 3.0 * std)) / (6.0 * std), 0.0, 1.0)


_NORMALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "minmax": normalize_minmax,
    "zscore": normalize_zscore,
    "dbsf": normalize_dbsf,
}
NORMALIZATIONS: tuple[str, ...] = tuple(_NORMALIZERS)
FUSION_METHODS: tuple[str, ...] = ("rrf", "weighted", "dbsf", "confidence")
#: How many leading results measure a ranking's confidence in :func:`confidence_weighted_fusion`.
CONFIDENCE_TOP = 10


def normalize(scores: np.ndarray, method: str) -> np.ndarray:
    """Apply the normalisation named ``method`` (one of :data:`NORMALIZATIONS`)."""
    try:
        fn = _NORMALIZERS[method]
    except KeyError:
        raise ConfigError(
            f"unknown score normalisation {method!r}; choose one of {', '.join(NORMALIZATIONS)}"
        ) from None
    return fn(scores)


def _check_weights(rankings: Sequence[Ranking], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ConfigError(
            f"fusion got {len(weights)} weights for {len(rankings)} rankings; give one weight per retriever"
        )
    if any(not np.isfinite(w) or w < 0 for w in weights):
        raise ConfigError(f"fusion weights must be finite and >= 0, got {list(weights)}")
    return [float(w) for w in weights]


def _sorted(totals: dict[str, float]) -> list[tuple[str, float]]:
    # dicts keep first-seen order and sorted() is stable, so ties stay in first-seen order
    return sorted(totals.items(), key=lambda item: -item[1])


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking], k: int = RRF_K, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """RRF: ``score(d) = sum_r w_r / (k + rank_r(d))`` with 1-based ranks; scores of inputs are ignored.

    An id repeated inside one ranking counts at its best (first) rank.
    """
    if k < 0:
        raise ConfigError(f"reciprocal rank fusion needs k >= 0, got {k}")
    w = _check_weights(rankings, weights)
    totals: dict[str, float] = {}
    for weight, ranking in zip(w, rankings, strict=True):
        seen: set[str] = set()
        for rank, (doc_id, _) in enumerate(ranking, start=1):
            if doc_id in seen:
                continue
            seen.add(doc_id)
            totals[doc_id] = totals.get(doc_id, 0.0) + weight / (k + rank)
    return _sorted(totals)


def _dedupe(ranking: Ranking) -> tuple[list[str], np.ndarray]:
    best: dict[str, float] = {}
    for doc_id, score in ranking:
        if doc_id not in best or score > best[doc_id]:
            best[doc_id] = float(score)
    return list(best), np.fromiter(best.values(), dtype=np.float64, count=len(best))


def _check_finite(r: int, ids: list[str], raw: np.ndarray) -> None:
    """Score fusion needs finite scores: one NaN would make every fused score NaN, an infinity every
    normalised score 1 (or NaN)."""
    bad = np.flatnonzero(~np.isfinite(raw))
    if bad.size:
        i = int(bad[0])
        raise ConfigError(
            f"score fusion: ranking {r} gives id {ids[i]!r} the score {raw[i]}; scores must be finite "
            "(fix the retriever, or fuse with method='rrf', which uses ranks only)"
        )


def weighted_score_fusion(
    rankings: Sequence[Ranking],
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
) -> list[tuple[str, float]]:
    """Weighted sum of per-ranking normalised scores (see the module docstring for absent ids)."""
    w = _check_weights(rankings, weights)
    normalize(np.zeros(0), normalization)  # validate the name even for empty input
    per_ranking: list[tuple[dict[str, float], float]] = []
    order: dict[str, None] = {}
    for r, ranking in enumerate(rankings):
        ids, raw = _dedupe(ranking)
        _check_finite(r, ids, raw)
        norm = normalize(raw, normalization)
        floor = float(norm.min()) if normalization == "zscore" and norm.size else 0.0
        per_ranking.append((dict(zip(ids, norm.tolist(), strict=True)), floor))
        order.update(dict.fromkeys(ids))
    return _weighted_sum(w, per_ranking, order)


def _weighted_sum(
    w: Sequence[float], per_ranking: Sequence[tuple[dict[str, float], float]], order: Iterable[str]
) -> list[tuple[str, float]]:
    """Each id's weighted sum of its normalised scores, best first; an id a ranking lacks counts at that
    ranking's floor (``per_ranking``: (scores by id, floor) per ranking)."""
    totals = {
        doc_id: sum(
            weight * scores.get(doc_id, floor) for weight, (scores, floor) in zip(w, per_ranking, strict=True)
        )
        for doc_id in order
    }
    return _sorted(totals)


def distribution_based_score_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """DBSF: weighted sum of scores normalised with the mean ± 3σ limits of each ranking."""
    return weighted_score_fusion(rankings, weights, normalization="dbsf")


def ranking_confidence(z_scores: np.ndarray, top: int = CONFIDENCE_TOP) -> float:
    """How far a ranking's head stands out from the rest of its list: the mean z-score of its ``top`` first
    results, floored at 0. A query-performance predictor in the spirit of NQC (Shtok et al., TOIS 2012): a
    retriever that finds nothing specific returns flat scores; one that found the answer ranks a few results
    well above its tail. Needs the scores in ranked order; fewer than 2 scores give 0."""
    if z_scores.size < 2:
        return 0.0
    return max(float(np.mean(z_scores[:top])), 0.0)


def confidence_weighted_fusion(
    rankings: Sequence[Ranking], weights: Sequence[float] | None = None, top: int = CONFIDENCE_TOP
) -> list[tuple[str, float]]:
    """Z-score fusion whose weights are set per query by each ranking's :func:`ranking_confidence` (times
    the optional prior ``weights``), normalised to sum 1; when no ranking is confident, equal weights.

    Why: fixed weights tuned on some corpora lose to the better retriever on corpora where the other is weak
    (msmarco: BM25 far behind dense; squad paragraphs: dense far behind BM25). Weighting by each list's own
    confidence needs no tuning and follows whichever retriever separates its results on that query.
    Absent ids count at the ranking's lowest z-score, as in :func:`weighted_score_fusion`.
    """
    prior = _check_weights(rankings, weights)
    per_ranking: list[tuple[dict[str, float], float]] = []
    confidences: list[float] = []
    order: dict[str, None] = {}
    for r, ranking in enumerate(rankings):
        ids, raw = _dedupe(ranking)
        _check_finite(r, ids, raw)
        z = normalize_zscore(raw)
        ranked = np.sort(z)[::-1]
        confidences.append(ranking_confidence(ranked, top))
        per_ranking.append((dict(zip(ids, z.tolist(), strict=True)), float(z.min()) if z.size else 0.0))
        order.update(dict.fromkeys(ids))
    raw_w = [p * c for p, c in zip(prior, confidences, strict=True)]
    total = sum(raw_w)
    w = [x / total for x in raw_w] if total > 0 else [p / max(sum(prior), 1e-12) for p in prior]
    return _weighted_sum(w, per_ranking, order)


def fuse(
    rankings: Sequence[Ranking],
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
    rrf_k: int = RRF_K,
) -> list[tuple[str, float]]:
    """Dispatch by name: ``rrf``, ``weighted`` (with ``normalization``), ``dbsf`` or ``confidence``."""
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, k=rrf_k, weights=weights)
    if method == "weighted":
        return weighted_score_fusion(rankings, weights, normalization)
    if method == "dbsf":
        return distribution_based_score_fusion(rankings, weights)
    if method == "confidence":
        return confidence_weighted_fusion(rankings, weights)
    raise ConfigError(f"unknown fusion method {method!r}; choose one of {', '.join(FUSION_METHODS)}")
