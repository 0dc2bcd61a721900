"""The MCTS core against brute force on small random subset-selection instances, plus its invariants."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.mcts import (
    MCTSConfig,
    Node,
    backpropagate,
    best_node,
    iter_nodes,
    search,
    uct_score,
)

State = tuple[int, ...]


@dataclass
class SubsetProblem:
    """Pick a subset of items under a weight budget; states are sorted index tuples (one path per set)."""

    weights: list[int]
    values: list[float]
    pairs: dict[tuple[int, int], float]

    def actions(self, state: State) -> list[int]:
        start = state[-1] + 1 if state else 0
        return list(range(start, len(self.weights)))

    def apply(self, state: State, action: int) -> State:
        return (*state, action)

    def cost(self, state: State) -> float:
        return float(sum(self.weights[i] for i in state))

    def is_terminal(self, state: State) -> bool:
        return False

    def reward(self, state: State) -> float:
        """Non-monotone: items and pairs can be negative, so adding an item can lower the reward."""
        total = sum(self.values[i] for i in state)
        return total + sum(self.pairs[p] for p in itertools.combinations(state, 2))

    def evaluate(self, states: Sequence[State]) -> list[float]:
        return [self.reward(s) for s in states]


def random_problem(seed: int, n: int = 7) -> SubsetProblem:
    rng = random.Random(seed)
    weights = [rng.randint(1, 6) for _ in range(n)]
    values = [rng.uniform(-1, 2) for _ in range(n)]
    pairs = {p: rng.uniform(-1.5, 1) for p in itertools.combinations(range(n), 2)}
    return SubsetProblem(weights, values, pairs)


def brute_force(problem: SubsetProblem, budget: float) -> float:
    n = len(problem.weights)
    best = -math.inf
    for r in range(n + 1):
        for subset in itertools.combinations(range(n), r):
            if problem.cost(subset) <= budget:
                best = max(best, problem.reward(subset))
    return best


def check_invariants(root: Node[State, int], budget: float) -> None:
    for node in iter_nodes(root):
        assert node.visits == node.self_visits + sum(c.visits for c in node.children)
        assert node.cost <= budget
        for child in node.children:
            assert child.parent is node and child.depth == node.depth + 1


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("backprop", ["all", "best"])
def test_mcts_finds_the_brute_force_optimum(seed: int, backprop: str) -> None:
    problem = random_problem(seed)
    budget = sum(problem.weights) / 2
    config = MCTSConfig(iterations=400, budget=budget, branching=None, backprop=backprop, seed=seed)  # type: ignore[arg-type]
    result = search(problem, (), problem.evaluate, config)
    assert result.best is not None
    assert result.best.reward == pytest.approx(brute_force(problem, budget))
    assert result.best.cost <= budget
    check_invariants(result.root, budget)


@pytest.mark.parametrize("seed", range(6))
def test_capped_branching_and_cost_penalty_keep_invariants(seed: int) -> None:
    problem = random_problem(seed, n=9)
    budget = 12.0
    config = MCTSConfig(iterations=60, budget=budget, branching=3, cost_penalty=0.5, seed=seed)
    result = search(problem, (), problem.evaluate, config)
    check_invariants(result.root, budget)
    assert all(len(n.children) <= 3 for n in iter_nodes(result.root))
    assert result.best is not None and result.best.reward is not None
    assert result.best.reward <= brute_force(problem, budget) + 1e-9
    evaluated = sum(1 for n in iter_nodes(result.root) if n.reward is not None)
    assert evaluated == result.evaluations
    # every iteration adds exactly one back-propagated reward in "all" mode per evaluated child or re-visit
    assert result.root.visits >= result.iterations


def test_search_is_deterministic_for_a_seed() -> None:
    problem = random_problem(3, n=10)

    def trace(seed: int) -> list[State]:
        config = MCTSConfig(iterations=50, budget=15, branching=3, seed=seed)
        return [n.state for n in iter_nodes(search(problem, (), problem.evaluate, config).root)]

    assert trace(1) == trace(1)


def test_search_stops_when_the_space_is_enumerated() -> None:
    problem = random_problem(0, n=4)
    result = search(problem, (), problem.evaluate, MCTSConfig(iterations=10_000, branching=None))
    assert result.iterations < 100
    assert result.root.exhausted
    assert result.evaluations == 16  # every subset of 4 items, each reached once


def test_root_over_budget_gives_no_best() -> None:
    problem = random_problem(0, n=3)
    result = search(problem, (0,), problem.evaluate, MCTSConfig(budget=0))
    assert result.best is None and result.evaluations == 0


def test_best_node_can_stop_short_of_the_budget() -> None:
    problem = SubsetProblem(
        [1, 1, 1], [1.0, -5.0, -5.0], {p: 0.0 for p in itertools.combinations(range(3), 2)}
    )
    result = search(problem, (), problem.evaluate, MCTSConfig(iterations=50, budget=3, branching=None))
    assert result.best is not None and result.best.state == (0,)
    assert best_node(result.root, budget=0.0) is result.root


def test_uct_score_formula_and_unvisited_children() -> None:
    parent: Node[State, int] = Node(state=(), cost=0, visits=10)
    child: Node[State, int] = Node(state=(0,), cost=50, parent=parent, visits=2, value=1.0)
    config = MCTSConfig(exploration=2.0, cost_penalty=0.4, budget=100)
    expected = 0.5 + 2.0 * math.sqrt(math.log(10) / 2) - 0.4 * 50 / 100
    assert uct_score(child, parent.visits, config) == pytest.approx(expected)
    assert uct_score(Node(state=(1,), cost=0), 10, config) == math.inf


def test_best_only_backprop_visits_one_child() -> None:
    root: Node[State, int] = Node(state=(), cost=0)
    kids = [Node(state=(i,), cost=1, parent=root, reward=r) for i, r in enumerate([0.2, 0.9, 0.5])]
    root.children = kids
    backpropagate(kids, "best")
    assert [k.visits for k in kids] == [0, 1, 0] and root.visits == 1 and root.value == pytest.approx(0.9)


def test_bad_config_and_bad_callback_are_reported() -> None:
    with pytest.raises(ConfigError, match="branching"):
        MCTSConfig(branching=0)
    with pytest.raises(ConfigError, match="backprop"):
        MCTSConfig(backprop="some")  # type: ignore[arg-type]
    problem = random_problem(0, n=3)
    with pytest.raises(ConfigError, match="returned 0 rewards"):
        search(problem, (), lambda states: [], MCTSConfig())


def test_nan_reward_is_refused_with_the_state_that_produced_it() -> None:
    """A NaN reward used to hang the search (NaN never wins a UCT comparison, so nothing was selected)."""
    problem = random_problem(1)

    def evaluate(states: Sequence[State]) -> list[float]:
        return [math.nan if len(s) == 1 and s[0] == 2 else problem.reward(s) for s in states]

    with pytest.raises(ConfigError, match=r"NaN reward for state \(2,\)"):
        search(problem, (), evaluate, MCTSConfig(iterations=30, budget=10))


def test_infinite_rewards_of_both_signs_do_not_stall_the_search() -> None:
    """-inf marks a failed candidate (workflow search); +inf and -inf under one parent give a NaN mean."""
    problem = random_problem(1)

    def evaluate(states: Sequence[State]) -> list[float]:
        return [{1: math.inf, 2: -math.inf}.get(len(s), 0.0) for s in states]

    result = search(problem, (), evaluate, MCTSConfig(iterations=40, budget=10))
    assert result.best is not None and result.best.reward == math.inf and result.root.exhausted


def test_equal_rewards_are_deterministic_and_pick_the_root() -> None:
    problem = random_problem(2)
    runs = [
        search(problem, (), lambda s: [1.0] * len(s), MCTSConfig(iterations=25, seed=7)) for _ in range(2)
    ]
    assert [n.state for n in iter_nodes(runs[0].root)] == [n.state for n in iter_nodes(runs[1].root)]
    assert runs[0].best is runs[0].root


def test_nan_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="budget"):
        MCTSConfig(budget=math.nan)
    with pytest.raises(ConfigError, match="exploration"):
        MCTSConfig(exploration=math.nan)
