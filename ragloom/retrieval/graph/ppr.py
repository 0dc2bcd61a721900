"""Personalized PageRank by sparse power iteration (pure numpy/scipy kernel).

HippoRAG (Gutiérrez et al., 2024, arXiv:2405.14831) ranks passages by Personalized PageRank from the query's
seed nodes. networkx's ``pagerank`` iterates over Python dicts; one sparse matrix-vector product per step is
~100x faster on a graph of tens of thousands of nodes, which matters at one PPR per query.

Semantics equal ``networkx.pagerank(G, alpha=damping, personalization=reset, weight="weight")``:
``x <- damping * (x P + (sum of x on dangling nodes) * reset) + (1 - damping) * reset`` with ``P`` the
row-normalised weighted adjacency; stop when the L1 change is below ``n * tol``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ragloom.core.errors import ConfigError

__all__ = ["TransitionMatrix", "personalized_pagerank"]


class TransitionMatrix:
    """The transposed row-stochastic matrix of a weighted adjacency, built once and reused per query."""

    def __init__(self, adjacency: sp.spmatrix | sp.sparray) -> None:
        matrix = sp.csr_matrix(adjacency, dtype=np.float64)
        if matrix.shape[0] != matrix.shape[1]:
            raise ConfigError(f"PPR needs a square adjacency matrix, got shape {matrix.shape}")
        if matrix.nnz and float(matrix.data.min()) < 0:
            raise ConfigError("PPR needs non-negative edge weights")
        out = np.asarray(matrix.sum(axis=1)).ravel()
        self.dangling = out <= 0
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=~self.dangling)
        self.transposed = (sp.diags(inv) @ matrix).T.tocsr()
        self.size = matrix.shape[0]


def personalized_pagerank(
    transition: TransitionMatrix | sp.spmatrix | sp.sparray,
    reset: np.ndarray,
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = 200,
) -> np.ndarray:
    """Stationary distribution of the walk that restarts at ``reset`` with probability ``1 - damping``.

    ``reset`` is any non-negative vector with a positive sum (normalised here). Returns a probability vector
    (sums to 1). ``damping`` 0.5 is HippoRAG's setting: mass stays near the seeds.
    """
    t = transition if isinstance(transition, TransitionMatrix) else TransitionMatrix(transition)
    if not 0.0 <= damping < 1.0:
        raise ConfigError(f"PPR damping must be in [0, 1), got {damping}")
    r = np.asarray(reset, dtype=np.float64).ravel()
    if r.shape[0] != t.size:
        raise ConfigError(f"PPR reset vector has {r.shape[0]} entries for a graph of {t.size} nodes")
    total = float(r.sum())
    if total <= 0 or float(r.min(initial=0.0)) < 0:
        raise ConfigError("PPR reset vector must be non-negative with a positive sum (no seed nodes?)")
    p = r / total
    x = p.copy()
    for _ in range(max_iter):
        previous = x
        x = damping * (t.transposed @ x + float(x[t.dangling].sum()) * p) + (1.0 - damping) * p
        if float(np.abs(x - previous).sum()) < t.size * tol:
            break
    return x / float(x.sum())
