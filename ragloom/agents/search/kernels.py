"""Pure kernels of workflow search: Pareto front, scalarisation, AFlow's parent selection, convergence."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["converged", "pareto_front", "scalarise", "soft_mixed_probabilities", "top_k_mean"]


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


def scalarise(score: float, cost: float, mu: float) -> float:
    """The single objective ``score - mu * cost`` (mu = 0: score only)."""
    return score - mu * cost


def soft_mixed_probabilities(scores: Sequence[float], alpha: float = 0.2, lam: float = 0.3) -> list[float]:
    """AFlow's parent-selection distribution (Zhang et al., 2024, "AFlow", Sec. 3.3):
    ``P(i) = lam / n + (1 - lam) * softmax(alpha * (s_i - s_max))``, with scores on a 0-100 scale,
    mixing uniform exploration with a preference for high scores."""
    if not scores:
        return []
    n = len(scores)
    top = max(scores)
    if not math.isfinite(top):  # every score is -inf (failed candidates, e.g. a broken seed): uniform
        return [1.0 / n] * n
    weights = [math.exp(alpha * (s - top)) for s in scores]
    total = sum(weights)
    return [lam / n + (1.0 - lam) * w / total for w in weights]


def top_k_mean(values: Sequence[float], k: int) -> float:
    best = sorted(values, reverse=True)[:k]
    return sum(best) / len(best) if best else 0.0


def converged(history: Sequence[float], patience: int, eps: float = 1e-9) -> bool:
    """True when the top-k mean (one entry per round) has not improved by more than ``eps`` for
    ``patience`` consecutive rounds."""
    if patience <= 0 or len(history) <= patience:
        return False
    return history[-1] - history[-1 - patience] <= eps
