"""Pure scoring kernels of the rerankers (numpy in, numpy out; no models, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragloom.retrieval.fusion import normalize_minmax
from ragloom.retrieval.vector_math import l2_normalize

__all__ = ["collaborative_scores", "lexical_similarity", "maxsim", "order_by_scores"]


def maxsim(query_tokens: np.ndarray, doc_tokens: np.ndarray) -> float:
    """Late-interaction relevance (ColBERT, Khattab & Zaharia, SIGIR 2020): for each query token the best
    cosine with any document token, averaged over query tokens (the mean keeps scores in [-1, 1]).

    Both inputs are (n_tokens, dim) and are L2-normalised here; an empty side scores 0.
    """
    if len(query_tokens) == 0 or len(doc_tokens) == 0:
        return 0.0
    sims = l2_normalize(query_tokens) @ l2_normalize(doc_tokens).T
    return float(sims.max(axis=1).mean())


def lexical_similarity(bags: Sequence[Sequence[str]]) -> np.ndarray:
    """Pairwise tf-idf cosine of token bags (idf over the bags themselves): an (n, n) symmetric matrix.

    HybRank's lexical view of a candidate list: how much vocabulary two candidates share, weighted so that
    words common to the whole list count little.
    """
    n = len(bags)
    vocab: dict[str, int] = {}
    for bag in bags:
        for w in bag:
            vocab.setdefault(w, len(vocab))
    if n == 0 or not vocab:
        return np.zeros((n, n), dtype=np.float64)
    tf = np.zeros((n, len(vocab)), dtype=np.float64)
    for i, bag in enumerate(bags):
        for w in bag:
            tf[i, vocab[w]] += 1.0
    df = (tf > 0).sum(axis=0)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    vecs = l2_normalize(np.log1p(tf) * idf).astype(np.float64)
    return vecs @ vecs.T


def collaborative_scores(
    first_stage: np.ndarray,
    query_similarity: np.ndarray,
    pair_similarity: np.ndarray,
    *,
    anchors: int = 10,
    weights: tuple[float, float, float] = (1.0, 1.0, 0.5),
) -> np.ndarray:
    """Collaborative re-scoring in the spirit of HybRank (Zhang et al., Findings of ACL 2023).

    A candidate that resembles the other strongly ranked candidates is more likely relevant (the list as
    pseudo-relevance feedback). With ``A`` the top-``anchors`` candidates by first-stage score and ``a_j``
    their min-max normalised first-stage scores, the collaborative evidence of candidate ``i`` is
    ``sum_{j in A, j != i} a_j * pair_similarity[i, j] / sum_{j in A, j != i} a_j``. The result is
    ``w_first * mm(first_stage) + w_query * mm(query_similarity) + w_collab * mm(collab)`` (``mm`` = min-max).
    All inputs describe the same ``n`` candidates; returns ``n`` scores.
    """
    first = np.asarray(first_stage, dtype=np.float64)
    n = first.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    pair = np.asarray(pair_similarity, dtype=np.float64)
    order = np.lexsort((np.arange(n), -first))[: max(1, min(anchors, n))]
    a = np.zeros(n, dtype=np.float64)
    a[order] = normalize_minmax(first)[order] + 1e-6  # every anchor counts a little, even the weakest
    weight_matrix = np.tile(a, (n, 1))
    np.fill_diagonal(weight_matrix, 0.0)
    mass = weight_matrix.sum(axis=1)
    collab = np.where(mass > 0, (weight_matrix * pair).sum(axis=1) / np.where(mass > 0, mass, 1.0), 0.0)
    w_first, w_query, w_collab = weights
    return (
        w_first * normalize_minmax(first)
        + w_query * normalize_minmax(np.asarray(query_similarity, dtype=np.float64))
        + w_collab * normalize_minmax(collab)
    )


def order_by_scores(scores: Sequence[float], k: int | None) -> list[int]:
    """Indices by descending score, ties in input order, cut to ``k`` (all when None)."""
    idx = sorted(range(len(scores)), key=lambda i: -scores[i])
    return idx if k is None else idx[: max(k, 0)]
