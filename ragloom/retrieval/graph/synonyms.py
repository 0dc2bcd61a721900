"""Synonym edges: entity names whose embeddings are close (HippoRAG's synonymy edges), a pure kernel.

HippoRAG links phrase nodes whose embedding cosine exceeds a threshold (0.8 in the paper) among each node's
k nearest neighbours, so "U.S." and "United States" share the walk's mass. Only the rows of *new* entities
are compared against all entities, which keeps incremental updates proportional to what changed.
"""

from __future__ import annotations

import numpy as np

from ragloom.core.errors import ConfigError

__all__ = ["synonym_pairs"]

_BLOCK = 512


def synonym_pairs(
    vectors: np.ndarray, rows: np.ndarray, threshold: float = 0.85, k: int = 5
) -> list[tuple[int, int, float]]:
    """``(i, j, cosine)`` for each ``i`` in ``rows`` and its up-to-``k`` nearest ``j != i`` with cosine >=
    ``threshold``. ``vectors`` must be L2-normalised rows. Pairs are returned with ``i`` from ``rows``;
    callers treat them as undirected. Deterministic: ties broken by the lower index.
    """
    if not -1.0 <= threshold <= 1.0:
        raise ConfigError(f"synonym threshold must be a cosine in [-1, 1], got {threshold}")
    if k <= 0 or len(vectors) < 2 or len(rows) == 0:
        return []
    matrix = np.asarray(vectors, dtype=np.float32)
    rows = np.asarray(rows, dtype=np.int64)
    pairs: list[tuple[int, int, float]] = []
    take = min(k + 1, len(matrix))
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        sims = matrix[block] @ matrix.T
        sims[np.arange(len(block)), block] = -np.inf
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        for r, i in enumerate(block):
            row = sims[r]
            order = sorted(top[r].tolist(), key=lambda j: (-float(row[j]), j))
            for j in order[:k]:
                s = float(sims[r, j])
                if s >= threshold:
                    pairs.append((int(i), int(j), s))
    return pairs
