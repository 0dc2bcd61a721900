"""Choosing the flow a search returns: against the winner's curse.

The candidate with the highest dev score is, among many near-equal candidates, mostly the one whose noise
was luckiest (the winner's curse / optimiser's curse, Smith & Winkler 2006): its dev score overstates
what it does on unseen queries. Two rules correct for it with information the search already has:

* ``lcb``: rank by a lower confidence bound ``mean - z * sd / sqrt(n)`` over the per-query scores, which
  discounts candidates whose mean rests on few, noisy queries.
* ``smooth``: rank by the candidate's value averaged with its evaluated *one-step neighbours* (candidates
  that differ from it in a single numeric parameter by one step of the space). A flow on a plateau of good
  neighbours is good for a reason, a lone spike is likely noise. A tree search evaluates neighbourhoods of
  its best nodes as it expands them (its node statistics); random search almost never does, so for it the
  rule falls back to the plain score.

``best`` is the plain arg-max. All rules are pure functions of the evaluated records (no extra evaluations),
so :class:`~ragloom.agents.search.search.SearchOutcome` carries every rule's pick.

Measured (benchmarks/workflow_search.py development protocol: hotpotqa-300 dev half split 3 ways into
dev-search 2/3 and dev-val 1/3, 5 seeds each, budget 60, R@5): the rules almost never change the pick
(the near-tied leaders have near-equal per-query variance, and MCTS leaders' neighbourhoods are as good as
the leaders), and the mean dev-val R@5 of the picks moved by less than one query. So ``best`` stays the
default (``SearchConfig.final='auto'``); the rules stay available for noisier metrics (LLM answers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ragloom.agents.search.space import Candidate, SearchSpace, Step
from ragloom.core.errors import ConfigError

__all__ = [
    "FINAL_RULES",
    "final_scores",
    "lower_confidence_bound",
    "one_step_apart",
    "pick",
    "smoothed_values",
]

FINAL_RULES = ("best", "lcb", "smooth")


class _Scored(Protocol):
    """What the rules read of a record (``Record`` satisfies it)."""

    @property
    def candidate(self) -> Candidate: ...
    @property
    def value(self) -> float: ...
    @property
    def score(self) -> float: ...
    @property
    def evaluation(self) -> Any: ...


def lower_confidence_bound(per_query: Sequence[float], z: float) -> float:
    """``mean - z * sd / sqrt(n)`` of per-query scores (sample sd); the mean alone when ``n < 2``."""
    n = len(per_query)
    if n == 0:
        return 0.0
    mean = sum(per_query) / n
    if n < 2:
        return mean
    var = sum((x - mean) ** 2 for x in per_query) / (n - 1)
    return mean - z * math.sqrt(var / n)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _steps_one_apart(a: Step, b: Step, space: SearchSpace) -> int | None:
    """How many one-step numeric differences separate two steps (None: not comparable or a bigger gap)."""
    if a.op != b.op or len(a.arms) != len(b.arms) or [k for k, _ in a.params] != [k for k, _ in b.params]:
        return None
    spec = space.op(a.op)
    diffs = 0
    for (name, va), (_, vb) in zip(a.params, b.params, strict=True):
        if va == vb:
            continue
        if not (_is_number(va) and _is_number(vb)) or name not in spec.params:
            return None
        if vb not in spec.params[name].neighbours(va):
            return None
        diffs += 1
    for arm_a, arm_b in zip(a.arms, b.arms, strict=True):
        inner = _steps_one_apart(arm_a, arm_b, space)
        if inner is None:
            return None
        diffs += inner
    return diffs


def one_step_apart(a: Candidate, b: Candidate, space: SearchSpace) -> bool:
    """True when ``b`` is ``a`` with exactly one numeric parameter moved by one step of the space."""
    if len(a.steps) != len(b.steps):
        return False
    total = 0
    for sa, sb in zip(a.steps, b.steps, strict=True):
        d = _steps_one_apart(sa, sb, space)
        if d is None:
            return False
        total += d
    return total == 1


def smoothed_values(
    values: Sequence[float], candidates: Sequence[Candidate], space: SearchSpace, weight: float
) -> list[float]:
    """Each value averaged with its one-step neighbours' values: ``(v + w * sum(nb)) / (1 + w * |nb|)``.

    Quadratic in the number of records (a search evaluates tens to hundreds), each pair compared cheaply.
    """
    out = []
    for i, (v, c) in enumerate(zip(values, candidates, strict=True)):
        near = [
            values[j]
            for j, other in enumerate(candidates)
            if j != i and math.isfinite(values[j]) and one_step_apart(c, other, space)
        ]
        out.append(v if not math.isfinite(v) else (v + weight * sum(near)) / (1.0 + weight * len(near)))
    return out


def final_scores(
    records: Sequence[_Scored], rule: str, space: SearchSpace, z: float = 1.0, weight: float = 0.5
) -> list[float]:
    """The number each record is ranked by under ``rule`` (higher is better; same order as ``records``).

    ``lcb`` keeps the cost penalty of the record's value (``value - score`` is ``-mu * cost``).
    """
    if rule == "best":
        return [r.value for r in records]
    if rule == "lcb":
        return [_lcb(r, z) for r in records]
    if rule == "smooth":
        return smoothed_values([r.value for r in records], [r.candidate for r in records], space, weight)
    raise ConfigError(f"final rule must be one of {', '.join(FINAL_RULES)}, got {rule!r}")


def _lcb(record: _Scored, z: float) -> float:
    per_query = list(getattr(record.evaluation, "per_query", []) or [])
    if not per_query or not math.isfinite(record.value):
        return record.value
    return lower_confidence_bound(per_query, z) + (record.value - record.score)


def pick(records: Sequence[_Scored], scores: Sequence[float], cost: Callable[[Any], float]) -> int:
    """Index of the record with the highest rule score (ties: higher own value, cheaper, earlier)."""
    order = range(len(records))
    return max(order, key=lambda i: (scores[i], records[i].value, -cost(records[i].evaluation), -i))
