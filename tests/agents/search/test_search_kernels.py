"""Pure kernels: Pareto front against brute force, AFlow's selection distribution, convergence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ragloom.agents.search.kernels import converged, pareto_front, soft_mixed_probabilities

points = st.lists(st.tuples(st.integers(0, 5).map(float), st.integers(0, 5).map(float)), max_size=12)


def _dominated(i: int, pts: list[tuple[float, float]]) -> bool:
    s, c = pts[i]
    return any(o[0] >= s and o[1] <= c and (o[0] > s or o[1] < c) for o in pts)


@given(points)
def test_pareto_front_matches_brute_force(pts: list[tuple[float, float]]) -> None:
    assert sorted(pareto_front(pts)) == [i for i in range(len(pts)) if not _dominated(i, pts)]


@given(st.lists(st.floats(0, 100), min_size=1, max_size=8))
def test_soft_mixed_probabilities_are_a_distribution_favouring_the_best(scores: list[float]) -> None:
    probs = soft_mixed_probabilities(scores)
    assert abs(sum(probs) - 1.0) < 1e-9 and all(p >= 0.3 / len(scores) - 1e-12 for p in probs)
    assert probs[scores.index(max(scores))] == max(probs)


def test_converged_after_patience_rounds_without_progress() -> None:
    assert not converged([0.1, 0.2, 0.3], 2)
    assert converged([0.1, 0.3, 0.3, 0.3], 2)
    assert not converged([0.1, 0.3, 0.3, 0.3], 0)


def test_soft_mixed_probabilities_of_failed_candidates_only_are_uniform() -> None:
    """Failed candidates score -inf: with nothing else to choose from, pick uniformly (no NaN weights)."""
    assert soft_mixed_probabilities([float("-inf")]) == [1.0]
    assert soft_mixed_probabilities([float("-inf")] * 4) == [0.25] * 4
    assert soft_mixed_probabilities([float("-inf"), 50.0])[0] == pytest.approx(0.3 / 2)
