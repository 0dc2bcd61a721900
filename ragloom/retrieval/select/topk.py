"""Top-k truncation: the baseline every smarter selector is measured against."""

from __future__ import annotations

from collections.abc import Sequence

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import check_budget, fill_in_order, resolve_token_counter, take_indices


class TopKSelector:
    """The best ``k`` hits by score (all when None), cut at the first hit that no longer fits the budget.

    Stopping at the first misfit (rather than skipping it) is plain truncation of the ranked list, as a
    pipeline without a selector would do when it pastes the top hits until the prompt is full.
    """

    def __init__(self, k: int | None = None, token_counter: TokenCounter | None = None) -> None:
        if k is not None and k < 0:
            raise ConfigError(f"TopKSelector: k must be >= 0 or None, got {k}")
        self.k = k
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("TopKSelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        order = sorted(range(len(hits)), key=lambda i: -hits[i].score)[: self.k]
        costs = self._cached.counts(hits)
        return take_indices(hits, fill_in_order(order, costs, budget_tokens, stop_at_first=True))
