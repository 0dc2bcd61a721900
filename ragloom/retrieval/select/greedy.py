"""Greedy knapsack by score density: the classic 1/2-approximation idea for budgeted selection.

Hits are taken by ``score / tokens`` (relevance per token spent), skipping any that no longer fit; the best
single hit that fits is kept instead when it alone beats the greedy set (the fix that makes density-greedy a
1/2-approximation of the 0/1 knapsack optimum; Martello & Toth, "Knapsack Problems", 1990, sec. 2.4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import (
    check_budget,
    fill_in_order,
    minmax,
    resolve_token_counter,
    take_indices,
)


class GreedyDensitySelector:
    """Knapsack by score density over min-max normalised scores (so negative or tiny raw scores work too)."""

    def __init__(self, token_counter: TokenCounter | None = None, floor: float = 0.05) -> None:
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)
        self.floor = floor  # keeps the worst hit's value above 0 so it can still fill leftover room

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("GreedyDensitySelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        costs = self._cached.counts(hits)
        values = self.floor + (1 - self.floor) * minmax(np.array([h.score for h in hits]))
        density = [values[i] / max(costs[i], 1) for i in range(len(hits))]
        order = sorted(range(len(hits)), key=lambda i: (-density[i], i))
        kept = fill_in_order(order, costs, budget_tokens)
        fits = [i for i in range(len(hits)) if costs[i] <= budget_tokens]
        if fits:
            single = max(fits, key=lambda i: values[i])
            if values[single] > sum(values[i] for i in kept):
                kept = [single]
        return take_indices(hits, kept)
