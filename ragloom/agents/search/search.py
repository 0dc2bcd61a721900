"""Workflow search over candidate flows: AFlow-style MCTS (soft mixed-probability parent selection, or UCT
from the shared core), with random search and greedy hill-climbing as baselines under the same budget.

Every method records each evaluated candidate as a :class:`Record` (parent, edit, round, score, cost),
keeps an experience log of edits (which helped, which hurt) and persists its evaluations after every batch
(:mod:`.state`). A run is deterministic given its seed, so a killed search *resumes by replay*: the same
proposals are made again and every evaluation already on disk is read back instead of recomputed, until
the search reaches new ground.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragloom.agents.search.edits import Edit, canonical, neighbours, random_candidate
from ragloom.agents.search.evaluate import Evaluation, Scorer
from ragloom.agents.search.final import FINAL_RULES, final_scores, pick
from ragloom.agents.search.kernels import (
    converged,
    pareto_front,
    scalarise,
    soft_mixed_probabilities,
    top_k_mean,
)
from ragloom.agents.search.space import Candidate, SearchSpace
from ragloom.agents.search.state import SearchStore
from ragloom.core import mcts
from ragloom.core.errors import ConfigError

__all__ = ["Record", "SearchConfig", "SearchOutcome", "WorkflowSearch", "run_search"]

METHODS = ("mcts", "random", "hill")


@dataclass(frozen=True)
class SearchConfig:
    """Settings of one search. ``budget``: candidate evaluations (the seed included); ``parallel``:
    candidates proposed and evaluated together per round; ``selection``: ``soft`` (AFlow) or ``uct``;
    ``patience``: stop when the top-``top_k`` mean has not improved for that many rounds (0 = never);
    ``mu``: the scalarisation weight of cost; ``cost_key``: which measured cost is the objective
    (``auto``: ``tokens`` when the space has LLM operators, else ``retrieval_calls``); ``max_usd`` /
    ``max_tokens``: stop once evaluations have spent that much. ``final``: how the returned flow is chosen
    among the evaluated ones (:mod:`.final`: ``best``, ``lcb``, ``smooth``; ``auto`` is ``best``: on
    held-out dev queries of hotpotqa-300 neither correction beat the plain arg-max, see :mod:`.final`);
    ``final_z`` / ``final_weight``: the lcb's z and the smoothing weight of neighbours."""

    method: str = "mcts"
    budget: int = 30
    seed: int = 0
    parallel: int = 2
    selection: str = "soft"
    top_k: int = 3
    alpha: float = 0.2
    lam: float = 0.3
    exploration: float = 1.4
    branching: int = 3
    patience: int = 6
    mu: float = 0.0
    cost_key: str = "auto"
    max_usd: float | None = None
    max_tokens: float | None = None
    final: str = "auto"
    final_z: float = 1.0
    final_weight: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"search method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.selection not in ("soft", "uct"):
            raise ConfigError(f"selection must be 'soft' (AFlow) or 'uct', got {self.selection!r}")
        if self.budget < 1 or self.parallel < 1:
            raise ConfigError("budget and parallel must be >= 1")
        if self.final != "auto" and self.final not in FINAL_RULES:
            raise ConfigError(f"final must be 'auto' or one of {', '.join(FINAL_RULES)}, got {self.final!r}")

    @property
    def final_rule(self) -> str:
        """The final-selection rule in effect (``auto`` is ``best``)."""
        return "best" if self.final == "auto" else self.final


@dataclass
class Record:
    """One evaluated candidate of the search."""

    id: int
    candidate: Candidate
    parent: int | None
    edit: str
    kind: str
    round: int
    evaluation: Evaluation
    value: float = 0.0

    @property
    def score(self) -> float:
        return self.evaluation.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.candidate.key(),
            "candidate": self.candidate.to_dict(),
            "describe": self.candidate.describe(),
            "parent": self.parent,
            "edit": self.edit,
            "kind": self.kind,
            "round": self.round,
            "score": self.score,
            "value": self.value,
            "cost": self.evaluation.cost,
            "repeats": self.evaluation.repeats,
            "error": self.evaluation.error,
        }


@dataclass
class SearchOutcome:
    """What a search found: all records, the best (by the config's final rule), the Pareto front, the
    experience log, and ``finals``: every final rule's pick (so rules can be compared on held-out data)."""

    records: list[Record]
    best: Record
    pareto: list[Record]
    cost_key: str
    experience: list[dict[str, Any]]
    rounds: int
    stopped: str
    scorer_evaluations: int
    history: list[float] = field(default_factory=list)
    finals: dict[str, Record] = field(default_factory=dict)


class WorkflowSearch:
    """One search run (see :func:`run_search`). ``proposer``: an optional LLM edit proposer
    (:class:`ragloom.agents.search.optimizer.LLMEditProposer`); ``log``: where progress lines go."""

    def __init__(
        self,
        space: SearchSpace,
        scorer: Scorer,
        config: SearchConfig,
        store: SearchStore | None = None,
        proposer: Any = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.space, self.scorer, self.config = space, scorer, config
        self.store = store or SearchStore(None)
        self.proposer, self.log = proposer, log or (lambda line: None)
        self.rng = random.Random(config.seed)
        self.records: list[Record] = []
        self.by_key: dict[str, Record] = {}
        self.seen: set[str] = set()
        self.experience: list[dict[str, Any]] = []
        self.history: list[float] = []
        self.exhausted: set[int] = set()
        self._edits: dict[str, list[Edit]] = {}
        self.round = 0
        self.scorer_evaluations = 0
        self.cost_key = self._cost_key()

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _cost_key(self) -> str:
        if self.config.cost_key != "auto":
            return self.config.cost_key
        return "tokens" if self.space.uses_llm else "retrieval_calls"

    def cost_of(self, evaluation: Evaluation) -> float:
        return float(evaluation.cost.get(self.cost_key, 0.0))

    @property
    def remaining(self) -> int:
        return self.config.budget - len(self.records)

    def evaluate(self, batch: Sequence[tuple[Candidate, int | None, str, str]]) -> list[Record]:
        """Evaluate (candidate, parent, edit, kind) items: stored evaluations are reused, the rest scored."""
        batch = [b for b in batch if b[0].key() not in self.by_key][: max(self.remaining, 0)]
        todo = [c for c, *_ in batch if self.store.get(c.key()) is None]
        if todo:
            for c, scored in zip(todo, self.scorer.score(todo), strict=True):
                self.store.put(c.key(), scored)
            self.scorer_evaluations += len(todo)
            self.store.save()
        out = []
        for cand, parent, edit, kind in batch:
            found = self.store.get(cand.key())
            assert found is not None
            ev = found
            value = scalarise(ev.score, self.cost_of(ev), self.config.mu) if ev.error is None else -math.inf
            rec = Record(len(self.records), cand, parent, edit, kind, self.round, ev, value)
            self.records.append(rec)
            self.by_key[cand.key()] = rec
            self.seen.add(cand.key())
            out.append(rec)
            self._learn(rec)
            self.log(
                f"[{rec.id:3d}] round {self.round:2d} {self.config.method} score={ev.score:.4f} "
                f"{self.cost_key}={self.cost_of(ev):.3g} {edit or 'seed'}"
            )
        return out

    def _learn(self, rec: Record) -> None:
        if rec.parent is None:
            return
        before = self.records[rec.parent].value
        self.experience.append(
            {
                "parent": rec.parent,
                "child": rec.id,
                "edit": rec.edit,
                "kind": rec.kind,
                "before": before,
                "after": rec.value,
                "helped": rec.value > before,
            }
        )

    def _end_round(self) -> None:
        self.round += 1
        self.history.append(top_k_mean([r.value for r in self.records], self.config.top_k))

    def _stop_reason(self) -> str | None:
        if self.remaining <= 0:
            return "budget"
        spent_usd = sum(r.evaluation.cost.get("total_usd", 0.0) for r in self.records)
        spent_tokens = sum(r.evaluation.cost.get("total_tokens", 0.0) for r in self.records)
        if self.config.max_usd is not None and spent_usd >= self.config.max_usd:
            return "cost budget (usd)"
        if self.config.max_tokens is not None and spent_tokens >= self.config.max_tokens:
            return "cost budget (tokens)"
        if self.config.method == "mcts" and converged(self.history, self.config.patience):
            return f"converged (top-{self.config.top_k} mean unchanged for {self.config.patience} rounds)"
        return None

    # -- proposals -----------------------------------------------------------------------------------------
    def edits_of(self, candidate: Candidate) -> list[Edit]:
        """The parent's untried edits, in a seeded order (each edit of a parent is tried at most once)."""
        key = candidate.key()
        if key not in self._edits:
            rng = random.Random(f"{self.config.seed}:{key}")
            self._edits[key] = neighbours(candidate, self.space, rng)
        return self._edits[key]

    def _edit_weight(self, edit: Edit) -> float:
        """Experience transfers across parents: an edit kind that often helped is tried more, and the same
        edit (by description) that hurt elsewhere is tried less, one that helped more."""
        tried = [e for e in self.experience if e["kind"] == edit.kind]
        weight = (1.0 + sum(e["helped"] for e in tried)) / (1.0 + len(tried))
        for e in self.experience:
            if e["edit"] == edit.description:
                weight *= 2.0 if e["helped"] else 0.3
        return weight

    def propose(self, parent: Record, taken: set[str]) -> tuple[Candidate, str, str] | None:
        """A new child of ``parent``: from the LLM proposer when configured, else an experience-weighted
        random untried edit. Repeated edits and already-evaluated results are rejected."""
        if self.proposer is not None:
            tried = {e["edit"] for e in self.experience if e["parent"] == parent.id}
            proposal = self.proposer.propose(self, parent, tried, taken | self.seen)
            if proposal is not None:
                return proposal
        edits = [e for e in self.edits_of(parent.candidate) if e.result.key() not in self.seen | taken]
        self._edits[parent.candidate.key()] = edits
        if not edits:
            return None
        weights = [self._edit_weight(e) for e in edits]
        edit = self.rng.choices(edits, weights=weights)[0]
        edits.remove(edit)
        return edit.result, edit.description, edit.kind

    # -- methods -------------------------------------------------------------------------------------------
    def run(self) -> SearchOutcome:
        seed = canonical(self.space.seed, self.space)
        self.evaluate([(seed, None, "", "seed")])
        self._end_round()
        if self.config.method == "random":
            stopped = self._run_random()
        elif self.config.method == "hill":
            stopped = self._run_hill()
        elif self.config.selection == "uct":
            stopped = self._run_uct()
        else:
            stopped = self._run_soft()
        return self.outcome(stopped)

    def _select_parent(self) -> Record:
        """AFlow: sample among the top-k candidates plus the seed by soft mixed probability."""
        ranked = sorted(
            (r for r in self.records if r.id not in self.exhausted and r.evaluation.error is None),
            key=lambda r: (-r.value, r.id),
        )
        pool = ranked[: self.config.top_k]
        if self.records[0] not in pool and 0 not in self.exhausted:
            pool.append(self.records[0])
        if not pool:
            raise _Exhausted
        probs = soft_mixed_probabilities([100.0 * r.value for r in pool], self.config.alpha, self.config.lam)
        return self.rng.choices(pool, weights=probs)[0]

    def _run_soft(self) -> str:
        while (reason := self._stop_reason()) is None:
            batch: list[tuple[Candidate, int | None, str, str]] = []
            taken: set[str] = set()
            try:
                while len(batch) < min(self.config.parallel, self.remaining):
                    parent = self._select_parent()
                    proposal = self.propose(parent, taken)
                    if proposal is None:
                        self.exhausted.add(parent.id)
                        continue
                    taken.add(proposal[0].key())
                    batch.append((proposal[0], parent.id, proposal[1], proposal[2]))
            except _Exhausted:
                if not batch:
                    return "space exhausted"
            self.evaluate(batch)
            self._end_round()
        return reason

    def _run_random(self) -> str:
        while (reason := self._stop_reason()) is None:
            batch: list[tuple[Candidate, int | None, str, str]] = []
            taken: set[str] = set()
            for _ in range(50 * self.config.parallel):
                if len(batch) >= min(self.config.parallel, self.remaining):
                    break
                c = random_candidate(self.space, self.rng)
                if c.key() not in self.seen and c.key() not in taken:
                    taken.add(c.key())
                    batch.append((c, None, "random sample", "random"))
            if not batch:
                return "space exhausted"
            self.evaluate(batch)
            self._end_round()
        return reason

    def _run_hill(self) -> str:
        current = self.records[0]
        while (reason := self._stop_reason()) is None:
            batch: list[tuple[Candidate, int | None, str, str]] = []
            taken: set[str] = set()
            while len(batch) < min(self.config.parallel, self.remaining):
                proposal = self.propose(current, taken)
                if proposal is None:
                    break
                taken.add(proposal[0].key())
                batch.append((proposal[0], current.id, proposal[1], proposal[2]))
            if not batch:  # a local optimum: restart from a random candidate not evaluated yet
                fresh = self._random_unseen(50 * self.config.parallel)
                if fresh is None:  # every draw was seen: (nearly) the whole space is evaluated
                    return "space exhausted"
                current = self.evaluate([(fresh, None, "restart", "random")])[0]
                self._end_round()
                continue
            done = self.evaluate(batch)
            best = max(done, key=lambda r: r.value, default=None)
            if best is not None and best.value > current.value:
                current = best
            self._end_round()
        return reason

    def _random_unseen(self, tries: int) -> Candidate | None:
        """A random candidate not evaluated yet, or None after ``tries`` draws that all were."""
        for _ in range(tries):
            c = random_candidate(self.space, self.rng)
            if c.key() not in self.seen:
                return c
        return None

    def _run_uct(self) -> str:
        """UCT from the shared MCTS core: states are candidates, actions their edits."""
        problem = _EditProblem(self)
        root: mcts.Node[Candidate, str] = mcts.Node(state=self.records[0].candidate, cost=0.0)
        mcts.evaluate_nodes([root], lambda states: [self.records[0].value])
        mcts.backpropagate([root])
        while (reason := self._stop_reason()) is None and not root.exhausted:
            branching = max(1, min(self.config.branching, self.remaining))
            config = mcts.MCTSConfig(
                exploration=self.config.exploration, branching=branching, seed=self.config.seed
            )
            mcts.run_iteration(root, problem, problem.reward, config, self.rng)
            self._end_round()
        return reason or "space exhausted"

    # -- result --------------------------------------------------------------------------------------------
    def outcome(self, stopped: str) -> SearchOutcome:
        ok = [r for r in self.records if r.evaluation.error is None] or self.records
        finals = {}
        for rule in FINAL_RULES:
            scores = final_scores(ok, rule, self.space, self.config.final_z, self.config.final_weight)
            finals[rule] = ok[pick(ok, scores, self.cost_of)]
        best = finals[self.config.final_rule]
        front = pareto_front([(r.score, self.cost_of(r.evaluation)) for r in ok])
        self.log(f"stopped: {stopped}; best score {best.score:.4f} after {len(self.records)} evaluations")
        return SearchOutcome(
            self.records,
            best,
            [ok[i] for i in front],
            self.cost_key,
            self.experience,
            self.round,
            stopped,
            self.scorer_evaluations,
            list(self.history),
            finals,
        )


class _Exhausted(Exception):
    """No parent has an untried edit left."""


class _EditProblem:
    """The :class:`ragloom.core.mcts.Problem` of UCT mode; actions are edit descriptions of a state."""

    def __init__(self, search: WorkflowSearch) -> None:
        self.search = search
        self._by_action: dict[tuple[str, str], Edit] = {}

    def actions(self, state: Candidate) -> list[str]:
        edits = self.search.edits_of(state)
        for e in edits:
            self._by_action[(state.key(), e.description)] = e
        return [e.description for e in edits]

    def apply(self, state: Candidate, action: str) -> Candidate:
        return self._by_action[(state.key(), action)].result

    def cost(self, state: Candidate) -> float:
        return 0.0

    def is_terminal(self, state: Candidate) -> bool:
        return False

    def reward(self, states: Sequence[Candidate]) -> list[float]:
        """Evaluate new children in one batch; a state seen elsewhere in the tree reuses its record."""
        s = self.search
        batch = []
        for st in states:
            if st.key() not in s.by_key:
                parent, edit = self._origin(st)
                batch.append((st, parent, edit.description if edit else "", edit.kind if edit else "uct"))
        s.evaluate(batch)
        return [s.by_key[st.key()].value if st.key() in s.by_key else -1.0 for st in states]

    def _origin(self, state: Candidate) -> tuple[int | None, Edit | None]:
        for (parent_key, _), edit in self._by_action.items():
            if edit.result == state and parent_key in self.search.by_key:
                return self.search.by_key[parent_key].id, edit
        return None, None


def run_search(
    space: SearchSpace,
    scorer: Scorer,
    config: SearchConfig,
    state_path: Any = None,
    proposer: Any = None,
    log: Callable[[str], None] | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> SearchOutcome:
    """Run (or resume, when ``state_path`` holds a compatible earlier run) a workflow search.

    ``fingerprint``: what else the evaluations depend on (dataset, metric), checked when resuming.
    """
    store = SearchStore(state_path, fingerprint={**_fingerprint(space, config), **(fingerprint or {})})
    return WorkflowSearch(space, scorer, config, store, proposer, log).run()


def _fingerprint(space: SearchSpace, config: SearchConfig) -> dict[str, Any]:
    """What evaluations depend on beyond the candidate key: ``fixed`` parameters are not in the key."""
    fixed = {name: op.fixed for name, op in sorted(space.operators.items()) if op.fixed}
    return {
        "seed_candidate": space.seed.key(),
        "operators": sorted(space.operators),
        "method": config.method,
        **({"fixed": fixed} if fixed else {}),
    }
