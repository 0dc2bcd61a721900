"""The pure kernels of the simple selectors: greedy vs brute-force knapsack, the steepest cut, MMR order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selector_fakes import FakeWhitespaceTokenCounter, make_hits

from ragloom.retrieval.select import GreedyDensitySelector, SageSelector
from ragloom.retrieval.select.base import minmax
from ragloom.retrieval.select.mmr import mmr_order
from ragloom.retrieval.select.sage import steepest_cut


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 8), min_size=1, max_size=8),
    scores=st.lists(st.floats(0, 10), min_size=8, max_size=8),
    budget=st.integers(1, 25),
)
def test_greedy_density_is_within_half_of_the_knapsack_optimum(
    sizes: list[int], scores: list[float], budget: int
):
    hits = make_hits([" ".join(["w"] * s) for s in sizes], scores[: len(sizes)])
    values = 0.05 + 0.95 * minmax(np.array([h.score for h in hits]))
    chosen = GreedyDensitySelector(token_counter=FakeWhitespaceTokenCounter()).select("q", hits, budget)
    got = sum(values[hits.index(h)] for h in chosen)
    best = max(
        sum(values[i] for i in subset)
        for r in range(len(hits) + 1)
        for subset in itertools.combinations(range(len(hits)), r)
        if sum(sizes[i] for i in subset) <= budget
    )
    assert got >= 0.5 * best - 1e-9


def test_steepest_cut() -> None:
    assert steepest_cut([1.0, 0.95, 0.9, 0.3, 0.25]) == 3
    assert steepest_cut([1.0, 0.2, 0.1], min_keep=2) == 2
    assert steepest_cut([1.0, 0.9, 0.8, 0.1], max_keep=2) == 1
    assert steepest_cut([0.5]) == 1 and steepest_cut([]) == 0


def test_sage_keeps_the_head_before_the_cliff() -> None:
    hits = make_hits(["a", "b", "c", "d", "e"], [10.0, 9.5, 9.0, 2.0, 1.5])
    chosen = SageSelector(min_keep=1, token_counter=FakeWhitespaceTokenCounter()).select("q", hits, 100)
    assert [h.doc_id for h in chosen] == ["d0", "d1", "d2"]


def test_mmr_order_skips_near_duplicates() -> None:
    relevance = np.array([1.0, 0.99, 0.6])
    similarity = np.array([[1.0, 0.99, 0.1], [0.99, 1.0, 0.1], [0.1, 0.1, 1.0]])
    assert mmr_order(relevance, similarity, [1, 1, 1], budget=2, lam=0.5) == [0, 2]
    assert mmr_order(relevance, similarity, [1, 1, 1], budget=2, lam=1.0) == [0, 1]


@pytest.mark.parametrize("budget", [0, 1, 3])
def test_mmr_order_respects_the_budget(budget: int) -> None:
    order = mmr_order(np.ones(4), np.eye(4), [2, 2, 1, 5], budget, 0.7)
    assert sum([2, 2, 1, 5][i] for i in order) <= budget
