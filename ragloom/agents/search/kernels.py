"""Pure kernels of workflow search: the Pareto front of score against cost."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["pareto_front"]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated ``(score, cost)`` points (score up, cost down), by cost then score.

    A point is dominated when another has score >= and cost <= with at least one strict; equal points are
    all kept (neither dominates the other).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i][1], -points[i][0], i))
    front: list[int] = []
    best_below = -math.inf  # best score among strictly cheaper points
    g = 0
    while g < len(order):
        cost = points[order[g]][1]
        group = [i for i in order[g:] if points[i][1] == cost]
        top = max(points[i][0] for i in group)
        if top > best_below:
            front.extend(i for i in group if points[i][0] == top)
        best_below = max(best_below, top)
        g += len(group)
    return front
