"""Final-selection rules against the winner's curse: the confidence bound, one-step neighbourhoods, the
smoothed value that prefers a plateau of good flows over a lucky spike, and the search returning every
rule's pick."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from search_fakes import FakeScorer, tiny_space

from ragloom.agents.search import Candidate, Evaluation, SearchConfig, Step, run_search
from ragloom.agents.search.final import (
    FINAL_RULES,
    final_scores,
    lower_confidence_bound,
    one_step_apart,
    pick,
    smoothed_values,
)
from ragloom.core.errors import ConfigError


def flow(k: int, method: str = "bm25", seeds: int | None = None) -> Candidate:
    steps = [
        Step.make(
            "retrieve", {"method": method, "k": k, "fusion": "rrf", "weight": 0.5, "normalization": "minmax"}
        )
    ]
    if seeds is not None:
        steps.append(
            Step.make(
                "multihop", {"method": "hybrid", "link": "mention", "seeds": seeds, "keep": 2, "per_hop": 10}
            )
        )
    return Candidate(tuple(steps))


@dataclass
class FakeRecord:
    candidate: Candidate
    value: float
    evaluation: Evaluation

    @property
    def score(self) -> float:
        return self.evaluation.score


def test_lower_confidence_bound_is_mean_minus_z_stderr() -> None:
    xs = [0.0, 1.0, 1.0, 0.5]
    expected = statistics.mean(xs) - 2.0 * statistics.stdev(xs) / math.sqrt(4)
    assert lower_confidence_bound(xs, 2.0) == pytest.approx(expected)
    assert lower_confidence_bound([0.7], 3.0) == 0.7 and lower_confidence_bound([], 1.0) == 0.0


@given(st.lists(st.floats(0, 1), min_size=2, max_size=30), st.floats(0, 3))
def test_lower_confidence_bound_never_exceeds_the_mean(xs: list[float], z: float) -> None:
    assert lower_confidence_bound(xs, z) <= statistics.mean(xs) + 1e-9


def test_one_step_apart_means_one_numeric_parameter_one_step() -> None:
    space = tiny_space()
    assert one_step_apart(flow(10), flow(15), space) and one_step_apart(flow(15), flow(10), space)
    assert not one_step_apart(flow(10), flow(20), space)  # two steps of k
    assert not one_step_apart(flow(10), flow(10, "dense"), space)  # a choice, not a step
    assert not one_step_apart(flow(10), flow(10), space)  # itself
    assert not one_step_apart(flow(10, seeds=2), flow(15, seeds=3), space)  # two parameters
    assert one_step_apart(flow(10, seeds=2), flow(10, seeds=3), space)
    assert not one_step_apart(flow(10), flow(10, seeds=2), space)  # structure differs


def test_smoothing_prefers_a_plateau_over_a_lucky_spike() -> None:
    space = tiny_space()
    cands = [flow(5), flow(10), flow(15), flow(5, "dense"), flow(10, "dense"), flow(15, "dense")]
    values = [0.60, 0.90, 0.60, 0.84, 0.85, 0.84]  # bm25 k=10 is a spike among poor neighbours
    smooth = smoothed_values(values, cands, space, weight=0.5)
    assert max(range(6), key=lambda i: values[i]) == 1
    assert max(range(6), key=lambda i: smooth[i]) == 4
    alone = smoothed_values([0.5, -math.inf], [flow(5), flow(10)], space, weight=0.5)
    assert alone == [0.5, -math.inf]  # a failed neighbour is ignored, not averaged in


def test_final_scores_keep_the_cost_penalty_and_reject_unknown_rules() -> None:
    ev = Evaluation(0.5, [0.5], per_query=[0.0, 1.0, 0.5, 0.5])
    rec = FakeRecord(flow(5), 0.4, ev)  # value = score - 0.1 cost penalty
    (lcb,) = final_scores([rec], "lcb", tiny_space(), z=1.0)
    assert lcb == pytest.approx(lower_confidence_bound(ev.per_query, 1.0) - 0.1)
    assert final_scores([rec], "best", tiny_space()) == [0.4]
    with pytest.raises(ConfigError, match="final rule"):
        final_scores([rec], "oracle", tiny_space())
    recs = [FakeRecord(flow(5), 0.4, ev), FakeRecord(flow(10), 0.4, ev)]
    assert pick(recs, [0.1, 0.1], lambda e: 0.0) == 0  # ties go to the earlier record


def test_search_returns_every_rules_pick_and_auto_is_best() -> None:
    with pytest.raises(ConfigError, match="final"):
        SearchConfig(final="max")
    assert SearchConfig(method="mcts").final_rule == "best" == SearchConfig(method="random").final_rule
    assert SearchConfig(final="smooth").final_rule == "smooth"
    outcome = run_search(tiny_space(), FakeScorer(), SearchConfig(budget=15, seed=0, final="best"))
    assert set(outcome.finals) == set(FINAL_RULES)
    assert outcome.best is outcome.finals["best"]
    assert outcome.best.value == max(r.value for r in outcome.records)
    smooth = run_search(tiny_space(), FakeScorer(), SearchConfig(budget=15, seed=0, final="smooth"))
    assert smooth.best is smooth.finals["smooth"]
    assert [r.candidate for r in smooth.records] == [r.candidate for r in outcome.records]
