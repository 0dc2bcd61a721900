"""Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998) under a token budget.

Each step takes the hit maximising ``lambda * sim(q, d) - (1 - lambda) * max_{s in S} sim(d, s)`` among those
that still fit, so near-duplicates of what is already selected lose to new information.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder, TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import (
    check_budget,
    minmax,
    resolve_embedder,
    resolve_token_counter,
    take_indices,
)


def mmr_order(
    relevance: np.ndarray, similarity: np.ndarray, costs: Sequence[int], budget: int, lam: float
) -> list[int]:
    """Indices chosen by MMR, skipping those that do not fit; pure (tested on its own)."""
    n = len(costs)
    chosen: list[int] = []
    max_sim = np.full(n, -np.inf)
    open_ = np.array([c <= budget for c in costs], dtype=bool)
    used = 0
    while open_.any():
        redundancy = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = np.where(open_, lam * relevance - (1 - lam) * redundancy, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        used += costs[best]
        open_[best] = False
        open_ &= np.array([used + c <= budget for c in costs], dtype=bool)
        max_sim = np.maximum(max_sim, similarity[best])
    return chosen


class MMRSelector:
    """MMR over embedding cosine similarity; relevance mixes the retriever's score and the query cosine."""

    def __init__(
        self,
        lambda_: float = 0.7,
        score_weight: float = 0.5,
        embedder: Embedder | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        if not 0.0 <= lambda_ <= 1.0 or not 0.0 <= score_weight <= 1.0:
            raise ConfigError(
                f"MMRSelector: lambda_ and score_weight must lie in [0, 1], got {lambda_}, {score_weight}"
            )
        self.lambda_ = lambda_
        self.score_weight = score_weight
        self._embedder = embedder
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("MMRSelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        embedder = self._embedder = resolve_embedder(self._embedder)
        costs = self._cached.counts(hits)
        vectors = embedder.embed([h.text for h in hits])
        q = embedder.embed([query])[0]
        cosine = vectors @ q
        relevance = self.score_weight * minmax(np.array([h.score for h in hits])) + (
            1 - self.score_weight
        ) * minmax(cosine)
        chosen = mmr_order(relevance, vectors @ vectors.T, costs, budget_tokens, self.lambda_)
        return take_indices(hits, chosen)
