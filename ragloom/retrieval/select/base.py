"""Shared pieces of the context selectors: token costs, the budget check and the final ordering.

Every selector satisfies :class:`ragloom.core.protocols.Selector`: ``select(query, hits, budget_tokens)``
returns a subset of ``hits`` whose *summed per-hit token count* never exceeds ``budget_tokens`` (the tokens
each passage adds to the prompt, counted in the generating LLM's tokenizer by default), in the hits' original
order.
Empty input or a budget below the smallest hit gives ``[]``; a negative budget is a :class:`ConfigError`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder, TokenCounter
from ragloom.core.types import Hit

__all__ = [
    "CachedTokenCounter",
    "check_budget",
    "fill_in_order",
    "resolve_embedder",
    "resolve_token_counter",
    "take_indices",
]


class CachedTokenCounter:
    """A TokenCounter remembering recent texts' counts (candidates repeat across selectors and calls)."""

    def __init__(self, counter: TokenCounter, max_items: int = 50_000) -> None:
        self.counter = counter
        self.max_items = max_items
        self._counts: OrderedDict[str, int] = OrderedDict()

    def count_tokens(self, text: str) -> int:
        n = self._counts.get(text)
        if n is None:
            n = int(self.counter.count_tokens(text))
            self._counts[text] = n
            if len(self._counts) > self.max_items:
                self._counts.popitem(last=False)
        return n

    def counts(self, hits: Sequence[Hit]) -> list[int]:
        """Token count of each hit's text."""
        return [self.count_tokens(h.text) for h in hits]


_shared_default: CachedTokenCounter | None = None


def resolve_token_counter(counter: TokenCounter | None) -> CachedTokenCounter:
    """``counter`` wrapped in a cache; None means the generating LLM's tokenizer (SmolLM2, the default)."""
    global _shared_default
    if isinstance(counter, CachedTokenCounter):
        return counter
    if counter is None:
        if _shared_default is None:  # one cache for every selector on the default tokenizer
            from ragloom.llm.tokens import default_token_counter

            _shared_default = CachedTokenCounter(default_token_counter())
        return _shared_default
    return CachedTokenCounter(counter)


def resolve_embedder(embedder: Embedder | None) -> Embedder:
    """``embedder`` or the shared default (all-MiniLM-L6-v2, loaded lazily, cached on disk)."""
    if embedder is not None:
        return embedder
    from ragloom.retrieval.embedders import default_embedder

    return default_embedder()


def check_budget(selector: str, budget_tokens: int) -> None:
    """Reject a negative budget with a message that names the selector."""
    if budget_tokens < 0:
        raise ConfigError(f"{selector}.select: budget_tokens must be >= 0, got {budget_tokens}")


def take_indices(hits: Sequence[Hit], chosen: Sequence[int]) -> list[Hit]:
    """The chosen hits in their original order (each once)."""
    return [hits[i] for i in sorted(set(chosen))]


def fill_in_order(
    order: Sequence[int], costs: Sequence[int], budget: int, stop_at_first: bool = False
) -> list[int]:
    """Walk ``order`` keeping each index that still fits; ``stop_at_first`` stops at the first misfit."""
    kept: list[int] = []
    used = 0
    for i in order:
        if used + costs[i] <= budget:
            kept.append(i)
            used += costs[i]
        elif stop_at_first:
            break
    return kept


def minmax(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector maps to all ones (every item equally good)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    lo, hi = float(values.min()), float(values.max())
    if hi - lo <= 1e-12:
        return np.ones_like(values)
    return (values - lo) / (hi - lo)
