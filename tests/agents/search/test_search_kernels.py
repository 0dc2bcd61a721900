"""Pure kernels: the Pareto front against brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ragloom.agents.search.kernels import pareto_front

points = st.lists(st.tuples(st.integers(0, 5).map(float), st.integers(0, 5).map(float)), max_size=12)


def _dominated(i: int, pts: list[tuple[float, float]]) -> bool:
    s, c = pts[i]
    return any(o[0] >= s and o[1] <= c and (o[0] > s or o[1] < c) for o in pts)


@given(points)
def test_pareto_front_matches_brute_force(pts: list[tuple[float, float]]) -> None:
    assert sorted(pareto_front(pts)) == [i for i in range(len(pts)) if not _dominated(i, pts)]


def test_pareto_front_keeps_equal_points_and_drops_dominated_ones() -> None:
    assert sorted(pareto_front([(0.5, 1.0), (0.5, 1.0), (0.4, 2.0), (0.9, 3.0)])) == [0, 1, 3]
    assert pareto_front([]) == []
