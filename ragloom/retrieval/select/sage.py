"""SAGE-style adaptive cut-off: keep the head of the ranking up to its steepest relevance drop, then budget.

SAGE (Wang et al., 2025, "SAGE: A Framework of Precise Retrieval for RAG", arXiv:2503.01713) selects chunks
by the *gradient* of the sorted relevance scores: the list is cut where the score falls most steeply, because
the chunks after a cliff are mostly noise. Scores are min-max normalised first, so the cut is scale-free; the
head is then filled into the budget in rank order (skipping a hit that does not fit).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import (
    check_budget,
    fill_in_order,
    minmax,
    resolve_token_counter,
    take_indices,
)


def steepest_cut(sorted_scores: Sequence[float], min_keep: int = 1, max_keep: int | None = None) -> int:
    """How many leading items to keep: the position after the largest drop ``s[i] - s[i+1]``.

    The cut is searched between ``min_keep`` and ``max_keep`` items (all when None); ties go to the earlier
    cut. Fewer than two scores keeps them all.
    """
    n = len(sorted_scores)
    hi = n if max_keep is None else min(n, max_keep)
    if n < 2 or hi <= min_keep:
        return min(n, max(min_keep, hi))
    scores = np.asarray(sorted_scores, dtype=np.float64)
    drops = scores[:-1] - scores[1:]  # drops[i]: the fall after keeping i + 1 items
    lo = max(min_keep, 1) - 1
    window = drops[lo:hi]
    if window.size == 0:
        return hi
    return lo + int(np.argmax(window)) + 1


class SageSelector:
    """Cut the ranking at its steepest drop (keeping ``min_keep``..``max_keep`` hits), then budget."""

    def __init__(
        self, min_keep: int = 2, max_keep: int | None = 20, token_counter: TokenCounter | None = None
    ):
        if min_keep < 1 or (max_keep is not None and max_keep < min_keep):
            raise ConfigError(f"SageSelector: need 1 <= min_keep <= max_keep, got {min_keep}, {max_keep}")
        self.min_keep = min_keep
        self.max_keep = max_keep
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("SageSelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        order = sorted(range(len(hits)), key=lambda i: (-hits[i].score, i))
        scores = minmax(np.array([hits[i].score for i in order]))
        keep = steepest_cut(list(scores), self.min_keep, self.max_keep)
        costs = self._cached.counts(hits)
        return take_indices(hits, fill_in_order(order[:keep], costs, budget_tokens))
