"""The one Monte Carlo tree search core (shared by CORAG chunk selection and AFlow workflow search).

Pure functions over an explicit :class:`Node` dataclass and a seeded :class:`random.Random`; the problem is
a small :class:`Problem` protocol (``actions``, ``apply``, ``cost``, ``is_terminal``) and the reward comes
from a *batched* callback ``evaluate(states) -> rewards`` so that an expensive scorer (a model, an LLM judge,
a dev-set run) sees every child of one expansion in a single call.

One iteration (Browne et al., 2012, "A Survey of MCTS Methods"):

1. **selection**: from the root, follow the child with the best UCT score (Kocsis & Szepesvári, 2006)
   ``V/N + C*sqrt(ln N_parent / N)``, optionally with the cost penalty ``- lambda * cost / B`` (cost-aware
   UCT, as in CORAG, Wang et al., 2024), until a node that is not fully expanded;
2. **expansion**: create up to ``branching`` children from its feasible actions (a child whose cost exceeds
   the budget is never created, so no node of the tree is ever over budget);
3. **evaluation**: one batched call of the reward callback on the new children;
4. **back-propagation**: the rewards of all new children, or of the best child only, are added up the path.

The final answer is the best-rewarded node within budget at *any* depth (not just a leaf), so a search may
stop short of the budget when a smaller state is better.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

from ragloom.core.errors import ConfigError

S = TypeVar("S")
A = TypeVar("A", bound=Hashable)

__all__ = [
    "MCTSConfig",
    "Node",
    "Problem",
    "SearchResult",
    "backpropagate",
    "best_node",
    "evaluate_nodes",
    "expand",
    "iter_nodes",
    "run_iteration",
    "search",
    "select_leaf",
    "uct_score",
]

Backprop = Literal["all", "best"]
Evaluate = Callable[[Sequence[S]], Sequence[float]]


class Problem(Protocol[S, A]):
    """A search space: states, the actions out of a state, their results and costs."""

    def actions(self, state: S) -> Sequence[A]:
        """Actions out of ``state``, most promising first (expansion takes them in this order)."""
        ...

    def apply(self, state: S, action: A) -> S:
        """The state that ``action`` leads to (must not mutate ``state``)."""
        ...

    def cost(self, state: S) -> float:
        """The cost of ``state`` counted against the budget (tokens, dollars, calls)."""
        ...

    def is_terminal(self, state: S) -> bool:
        """True when no action should be tried from ``state``."""
        ...


@dataclass(frozen=True)
class MCTSConfig:
    """Search settings. ``budget`` bounds every node's cost; ``cost_penalty`` is lambda in the UCT score."""

    iterations: int = 100
    exploration: float = 1.4
    cost_penalty: float = 0.0
    budget: float = math.inf
    branching: int | None = 4
    backprop: Backprop = "all"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ConfigError(f"MCTSConfig.iterations must be >= 0, got {self.iterations}")
        if self.branching is not None and self.branching < 1:
            raise ConfigError(f"MCTSConfig.branching must be >= 1 or None (no cap), got {self.branching}")
        if self.backprop not in ("all", "best"):
            raise ConfigError(f"MCTSConfig.backprop must be 'all' or 'best', got {self.backprop!r}")
        if not self.budget >= 0:  # NaN too: every cost comparison with it is False, so nothing is bounded
            raise ConfigError(f"MCTSConfig.budget must be >= 0, got {self.budget}")
        for name in ("exploration", "cost_penalty"):
            if math.isnan(getattr(self, name)):
                raise ConfigError(f"MCTSConfig.{name} must be a number, got NaN")


@dataclass(eq=False)
class Node(Generic[S, A]):
    """One tree node. ``visits``/``value``: back-propagated count and reward sum; ``reward``: its own.

    Invariant: ``visits == self_visits + sum(child.visits for child in children)``.
    """

    state: S
    cost: float
    parent: Node[S, A] | None = None
    action: A | None = None
    depth: int = 0
    children: list[Node[S, A]] = field(default_factory=list)
    untried: list[A] | None = None  # None until the node's actions are first listed
    reward: float | None = None
    visits: int = 0
    self_visits: int = 0
    value: float = 0.0
    exhausted: bool = False  # nothing left to expand anywhere below

    @property
    def mean(self) -> float:
        return self.value / self.visits if self.visits else 0.0


@dataclass
class SearchResult(Generic[S, A]):
    """The best node found (None only when even the root is over budget), the tree and the work done."""

    best: Node[S, A] | None
    root: Node[S, A]
    iterations: int
    evaluations: int


def uct_score(child: Node[S, A], parent_visits: int, config: MCTSConfig) -> float:
    """``V/N + C*sqrt(ln N_parent / N) - lambda*cost/B``; an unvisited child scores +inf (try it first)."""
    if child.visits == 0:
        return math.inf
    score = child.mean + config.exploration * math.sqrt(math.log(max(parent_visits, 1)) / child.visits)
    if config.cost_penalty and math.isfinite(config.budget) and config.budget > 0:
        score -= config.cost_penalty * child.cost / config.budget
    return score


def _best_child(node: Node[S, A], config: MCTSConfig, rng: random.Random) -> Node[S, A] | None:
    """The open child with the highest UCT score, ties broken by the seeded RNG."""
    best: list[Node[S, A]] = []
    best_score = -math.inf
    for child in node.children:
        if child.exhausted:
            continue
        score = uct_score(child, node.visits, config)
        if math.isnan(score):  # +inf and -inf rewards under one node: rank it last rather than never
            score = -math.inf
        if score > best_score:
            best, best_score = [child], score
        elif score == best_score:
            best.append(child)
    if not best:
        return None
    return best[0] if len(best) == 1 else rng.choice(best)


def _list_actions(node: Node[S, A], problem: Problem[S, A]) -> list[A]:
    if node.untried is None:
        node.untried = [] if problem.is_terminal(node.state) else list(problem.actions(node.state))
    return node.untried


def _is_open(node: Node[S, A], problem: Problem[S, A], config: MCTSConfig) -> bool:
    """A node can still grow children: it has untried actions and room under the branching cap."""
    room = config.branching is None or len(node.children) < config.branching
    return room and bool(_list_actions(node, problem))


def select_leaf(
    root: Node[S, A], problem: Problem[S, A], config: MCTSConfig, rng: random.Random
) -> Node[S, A]:
    """Descend by UCT to the first node that can still be expanded (or a dead end to re-visit)."""
    node = root
    while not _is_open(node, problem, config):
        child = _best_child(node, config, rng)
        if child is None:
            return node
        node = child
    return node


def expand(node: Node[S, A], problem: Problem[S, A], config: MCTSConfig) -> list[Node[S, A]]:
    """Create children from ``node``'s untried actions (in problem order) up to the branching cap.

    Actions whose result is over budget are dropped, so the tree never holds an over-budget node.
    """
    untried = _list_actions(node, problem)
    room = len(untried) if config.branching is None else config.branching - len(node.children)
    new: list[Node[S, A]] = []
    while untried and len(new) < room:
        action = untried.pop(0)
        state = problem.apply(node.state, action)
        cost = problem.cost(state)
        if cost > config.budget:
            continue
        new.append(Node(state=state, cost=cost, parent=node, action=action, depth=node.depth + 1))
    node.children.extend(new)
    return new


def evaluate_nodes(nodes: Sequence[Node[S, A]], evaluate: Evaluate[S]) -> None:
    """Score ``nodes`` with one batched call of ``evaluate``; its answer must have one float per node."""
    if not nodes:
        return
    rewards = list(evaluate([n.state for n in nodes]))
    if len(rewards) != len(nodes):
        raise ConfigError(f"MCTS evaluate callback returned {len(rewards)} rewards for {len(nodes)} states")
    for n, r in zip(nodes, rewards, strict=True):
        reward = float(r)
        if math.isnan(reward):  # NaN never wins a comparison: it would stall selection and the final choice
            raise ConfigError(
                f"MCTS evaluate callback returned a NaN reward for state {n.state!r}; return a number "
                "(-inf marks a failed candidate)"
            )
        n.reward = reward


def _add_up(node: Node[S, A], reward: float) -> None:
    node.self_visits += 1
    walk: Node[S, A] | None = node
    while walk is not None:
        walk.visits += 1
        walk.value += reward
        walk = walk.parent


def backpropagate(nodes: Sequence[Node[S, A]], mode: Backprop = "all") -> None:
    """Add evaluated ``nodes``' rewards to them and their ancestors: all of them, or only the best one.

    In ``"best"`` mode the other children keep their reward (for the final choice) but stay unvisited, so UCT
    tries them later.
    """
    scored = [n for n in nodes if n.reward is not None]
    if mode == "best" and scored:
        scored = [max(scored, key=lambda n: n.reward if n.reward is not None else -math.inf)]
    for n in scored:
        assert n.reward is not None
        _add_up(n, n.reward)


def _mark_exhausted(node: Node[S, A] | None, problem: Problem[S, A], config: MCTSConfig) -> None:
    """Close ``node`` and its ancestors once nothing is left to expand below them."""
    while node is not None:
        if _is_open(node, problem, config) or any(not c.exhausted for c in node.children):
            return
        node.exhausted = True
        node = node.parent


def run_iteration(
    root: Node[S, A], problem: Problem[S, A], evaluate: Evaluate[S], config: MCTSConfig, rng: random.Random
) -> int:
    """One select-expand-evaluate-backup step; returns the number of states evaluated."""
    leaf = select_leaf(root, problem, config, rng)
    children = expand(leaf, problem, config) if _is_open(leaf, problem, config) else []
    if children:
        evaluate_nodes(children, evaluate)
        backpropagate(children, config.backprop)
    elif leaf.reward is not None:  # a dead end: re-visit it so UCT statistics stay consistent
        _add_up(leaf, leaf.reward)
    _mark_exhausted(leaf, problem, config)  # children list their actions lazily, when first selected
    return len(children)


def iter_nodes(root: Node[S, A]) -> Iterator[Node[S, A]]:
    """Every node of the tree, depth-first, parents before children."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def best_node(root: Node[S, A], budget: float = math.inf) -> Node[S, A] | None:
    """The evaluated node with the highest reward and cost within ``budget`` at any depth.

    Ties go to the cheaper node, then the shallower one, then the earlier one.
    """
    best: Node[S, A] | None = None
    for node in iter_nodes(root):
        if node.reward is None or node.cost > budget:
            continue
        if best is None or (node.reward, -node.cost, -node.depth) > (best.reward, -best.cost, -best.depth):
            best = node
    return best


def search(
    problem: Problem[S, A], root_state: S, evaluate: Evaluate[S], config: MCTSConfig
) -> SearchResult[S, A]:
    """Run up to ``config.iterations`` expanding iterations (fewer when the whole space is enumerated)."""
    rng = random.Random(config.seed)
    root: Node[S, A] = Node(state=root_state, cost=problem.cost(root_state))
    if root.cost > config.budget:
        return SearchResult(None, root, 0, 0)
    evaluate_nodes([root], evaluate)
    backpropagate([root])
    evaluations, done = 1, 0
    _mark_exhausted(root, problem, config)
    while done < config.iterations and not root.exhausted:
        evaluated = run_iteration(root, problem, evaluate, config, rng)
        evaluations += evaluated
        done += 1 if evaluated else 0  # a step that only closed a dead end is not counted: it found nothing
    return SearchResult(best_node(root, config.budget), root, done, evaluations)
