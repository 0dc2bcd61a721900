"""Search real flows (``ragloom search --seed FLOW.yaml``): MCTS or random search over registry-derived edits,
every candidate scored by the one flow evaluator (:func:`ragloom.eval.flow_eval.evaluate_flow`).

The objective is a metric of the evaluator's summary (``context-support-R`` with qrels, ``answer@512``
or ``F1`` with answers only); the second objective is cost (mean tokens per question, or latency when the
flow spends no tokens), kept on a Pareto front. When the objective needs no answer the candidate is evaluated
without its LLM steps (:func:`~ragloom.agents.search.flow_space.retrieval_only`), so retrieval searches stay
fast and need no model. All candidate evaluation goes through :func:`evaluate_candidates` (one function
mapping candidates over questions, on any :class:`~ragloom.scale.Executor`: local threads or Ray).
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ragloom.agents.search.flow_journal import SearchJournal, opened_journal, search_settings
from ragloom.agents.search.flow_llm import Experience, FlowEditAdvisor
from ragloom.agents.search.flow_parallel import evaluate_on_executor, kept_workers
from ragloom.agents.search.flow_priors import order_edits
from ragloom.agents.search.flow_space import (
    FlowEdit,
    apply_edit,
    canonical,
    flow_edits,
    retrieval_only,
    unavailable,
)
from ragloom.agents.search.kernels import pareto_front
from ragloom.core import mcts
from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import Dataset
from ragloom.scale.executor import Executor

__all__ = [
    "ANSWER_OBJECTIVES",
    "FlowRecord",
    "FlowSearchOutcome",
    "check_objective",
    "default_objective",
    "evaluate_candidates",
    "flow_yaml",
    "pick_best",
    "read_seed",
    "search_flow",
    "write_outcome",
]

#: Objectives that read the answer: only these evaluate the LLM steps of a candidate.
ANSWER_OBJECTIVES: tuple[str, ...] = ("F1", "EM", "citation-correct")
#: A finer measure of the same thing as the objective, which the final pick breaks exact ties on (then on
#: evaluation order, the seed first): on a small dev set a binary objective ties between many flows.
TIE_BREAKS: dict[str, str] = {"answer@512": "answer-early@512"}


@dataclass
class FlowRecord:
    """One evaluated candidate: its flow data, score on the objective, cost, and how it was reached
    (``parent``: the position in the search's records of the flow it was edited from, when known)."""

    data: dict[str, Any]
    score: float
    cost: float
    edits: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    parent: int | None = None


@dataclass
class FlowSearchOutcome:
    """The search's records (in evaluation order), its best record and its Pareto front (score vs cost)."""

    records: list[FlowRecord]
    best: FlowRecord
    front: list[FlowRecord]
    seconds: float


class _BudgetSpent(Exception):
    """Raised inside the MCTS evaluate callback once the evaluation budget is spent."""


def read_seed(path: str | Path) -> dict[str, Any]:
    """The seed flow's data; the file is loaded as a flow first, so a bad seed fails with file:line."""
    from ragloom.flows.yaml_io import load_flow

    load_flow(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise ConfigError(f"{path}: a seed flow needs a nodes: mapping")
    return data


def flow_yaml(data: dict[str, Any]) -> str:
    """The candidate as an ordinary flow file (what ``ragloom run FILE --index DIR`` runs)."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def default_objective(dataset: Dataset) -> str:
    """Support recall of the final context with qrels; else answer@512 (answers, no qrels: a user's own
    index with a small question set)."""
    if dataset.qrels:
        return "context-support-R"
    if dataset.answers:
        return "answer@512"
    raise ConfigError(f"dataset {dataset.name!r} has neither qrels nor answers.jsonl: nothing to search for")


def _cost(summary: Mapping[str, Any]) -> float:
    totals = summary.get("totals", {})
    tokens = float(totals.get("tokens_mean", 0.0))
    return tokens if tokens > 0 else float(totals.get("ms_p50", 0.0))


def check_objective(objective: str, dataset: Dataset) -> None:
    """Raise ConfigError when ``objective`` is no metric the dataset's gold data allows (a typo would score
    every candidate 0 and make the search a random walk)."""
    from ragloom.eval.flow_metrics import DEFAULT_METRICS, QuestionCase, scores_of

    names: set[str] = set()
    for qid in dataset.queries:  # an empty output with one citation: every metric its gold allows
        answers, qrels = dataset.answers.get(qid, []), dataset.qrels.get(qid, {})
        spans = dataset.spans.get(qid, [])
        case = QuestionCase(qid, "", "", citations=["?"], answers=answers, qrels=qrels, spans=spans)
        names |= set(scores_of(case, DEFAULT_METRICS))
        if objective in names:
            return
    raise ConfigError(
        f"objective {objective!r} is not a metric of this dataset's evaluation; choose one of "
        f"{', '.join(sorted(names))}"
    )


def evaluate_candidates(
    candidates: Sequence[dict[str, Any]],
    dataset: Dataset,
    resources: Mapping[str, Any],
    objective: str,
    concurrency: int = 4,
    executor: Executor | None = None,
    worker_resources: Callable[[], Mapping[str, Any]] | None = None,
) -> list[tuple[float, float, dict[str, float]]]:
    """(score, cost, metrics) of each candidate flow on ``dataset`` through the one flow evaluator, every
    (candidate, question) pair an item of ``executor`` (default: local threads; a Ray executor needs
    ``worker_resources``, see :mod:`~ragloom.agents.search.flow_parallel`): the same scores on any executor.

    A candidate whose flow does not build scores -inf (it is a dead end, not a crash of the search)."""
    from ragloom.flows.yaml_io import load_flow

    check_objective(objective, dataset)
    needs_llm = objective in ANSWER_OBJECTIVES
    out: list[tuple[float, float, dict[str, float]] | None] = []
    texts: list[str] = []
    for data in candidates:
        text = flow_yaml(data if needs_llm else retrieval_only(data))
        try:
            load_flow(text)
        except Exception as e:  # an invalid candidate is scored, not raised
            out.append((float("-inf"), 0.0, {"error": 1.0, "_message": str(e)}))  # type: ignore[dict-item]
            continue
        out.append(None)
        texts.append(text)
    summaries = iter(evaluate_on_executor(texts, dataset, resources, executor, worker_resources, concurrency))
    return [row if row is not None else _scored(next(summaries), objective) for row in out]


def _scored(summary: Mapping[str, Any], objective: str) -> tuple[float, float, dict[str, float]]:
    metrics = dict(summary["metrics"])
    score = float(metrics.get(objective, 0.0)) if summary["n_ok"] else float("-inf")
    return score, _cost(summary), metrics


class _Problem:
    """The MCTS problem: states are canonical flow JSON, actions the registry-derived edits (shuffled by
    the search's seed, so seeds explore differently; with an advisor, the optimizer LLM's picks first)."""

    def __init__(
        self,
        rng: random.Random,
        exclude: Collection[str],
        scorer: _Scorer,
        advisor: FlowEditAdvisor | None,
        llm: bool = True,
    ) -> None:
        self.rng, self.exclude, self.scorer, self.advisor = rng, exclude, scorer, advisor
        self.llm = llm

    def actions(self, state: str) -> Sequence[FlowEdit]:
        data = json.loads(state)
        edits = order_edits(flow_edits(data, self.exclude, llm=self.llm), self.rng, self.scorer.gains())
        if self.advisor is None:
            return edits
        record = self.scorer.seen.get(self.scorer.key(state))
        score = record.score if record else 0.0
        edits = self.advisor.choose(data, score, edits)
        llm_edits = (self.advisor.propose_flow(data, score), self.advisor.prompt_edit(data))
        return [e for e in llm_edits if e is not None] + list(edits)

    def apply(self, state: str, action: FlowEdit) -> str:
        child = canonical(apply_edit(json.loads(state), action))
        self.scorer.parents.setdefault(child, (state, action.describe()))
        return child

    def cost(self, state: str) -> float:
        return 0.0

    def is_terminal(self, state: str) -> bool:
        return False


class _Scorer:
    """Memoised, budgeted scoring of candidate states (a repeated flow costs no evaluation)."""

    def __init__(
        self,
        score: Callable[[list[dict[str, Any]]], list[tuple[float, float, dict[str, float]]]],
        budget: int,
        log: Callable[[str], None],
        key: Callable[[str], str] = lambda s: s,
    ) -> None:
        self.score, self.budget, self.log, self.key = score, budget, log, key
        self.seen: dict[str, FlowRecord] = {}
        self.records: list[FlowRecord] = []
        self.parents: dict[str, tuple[str, str]] = {}  # child state -> (parent state, edit), for experience
        self.experience: list[Experience] | None = None
        self.journal: SearchJournal | None = None  # what a killed run scored; appended as states are scored

    def gains(self) -> dict[str, float]:
        """Mean score change per edit description over the evaluated (parent, child) pairs: the search's
        experience, which orders the edits of nodes expanded later (:mod:`.flow_priors`)."""
        deltas: dict[str, list[float]] = {}
        for child, (parent, edit) in self.parents.items():
            after, before = self.seen.get(self.key(child)), self.seen.get(self.key(parent))
            if after is None or before is None or not math.isfinite(after.score - before.score):
                continue
            deltas.setdefault(edit, []).append(after.score - before.score)
        return {edit: sum(d) / len(d) for edit, d in deltas.items()}

    def _score_or_replay(
        self, states: list[str], keys: list[str]
    ) -> Iterator[tuple[tuple[float, float, dict[str, float]], bool]]:
        """Each state's (score, cost, metrics), and whether it was read back from the journal (a resumed
        search) instead of evaluated. Without a journal the states are evaluated in one batch; with one, each
        is evaluated (over all questions) when its turn comes, so it is journaled before the next starts."""
        if self.journal is None:
            yield from ((scored, False) for scored in self.score([json.loads(s) for s in states]))
            return
        for state, key in zip(states, keys, strict=True):
            known = self.journal.lookup(key)
            yield (known, True) if known is not None else (self.score([json.loads(state)])[0], False)

    def __call__(self, states: Sequence[str], edits: Sequence[tuple[str, ...]] | None = None) -> list[float]:
        keys = [self.key(s) for s in states]
        fresh = [i for i, k in enumerate(keys) if k not in self.seen and k not in keys[:i]]
        if fresh and len(self.records) >= self.budget:
            raise _BudgetSpent
        fresh = fresh[: self.budget - len(self.records)]
        scored = self._score_or_replay([states[i] for i in fresh], [keys[i] for i in fresh])
        for i, ((score, cost, metrics), again) in zip(fresh, scored, strict=True):
            parent = self.parents.get(states[i])
            path = edits[i] if edits else ((parent[1],) if parent else ())
            before = self.seen.get(self.key(parent[0])) if parent else None
            if self.experience is not None and parent and before is not None:
                self.experience.append(Experience(parent[1], before.score, score))
            origin = next((n for n, r in enumerate(self.records) if r is before), None)
            record = FlowRecord(json.loads(states[i]), score, cost, path, metrics, origin)
            self.seen[keys[i]] = record
            self.records.append(record)
            if self.journal is not None and not again:
                self.journal.append(keys[i], len(self.records), record)
            note = "; ".join(path) + (" (from the journal)" if again else "")
            self.log(f"[{len(self.records)}/{self.budget}] {score:.4f} cost {cost:.1f} {note}")
        return [self.seen[k].score if k in self.seen else float("-inf") for k in keys]


def _mcts(
    seed_state: str,
    scorer: _Scorer,
    seed: int,
    exclude: Collection[str],
    advisor: FlowEditAdvisor | None,
    llm: bool = True,
) -> None:
    problem = _Problem(random.Random(seed), exclude, scorer, advisor, llm)
    config = mcts.MCTSConfig(iterations=10 * scorer.budget, exploration=0.5, branching=3, seed=seed)
    with contextlib.suppress(_BudgetSpent):
        mcts.search(problem, seed_state, scorer, config)


def _random(
    seed_state: str,
    scorer: _Scorer,
    seed: int,
    exclude: Collection[str],
    max_depth: int = 4,
    llm: bool = True,
) -> None:
    """Random search: random walks of 1..max_depth edits from the seed, each end point evaluated."""
    rng = random.Random(seed)
    scorer([seed_state])
    for _ in range(50 * scorer.budget):
        if len(scorer.records) >= scorer.budget:
            return
        state, path = seed_state, list[str]()
        for _ in range(rng.randint(1, max_depth)):
            edits = flow_edits(json.loads(state), exclude, llm=llm)
            if not edits:
                break
            edit = rng.choice(edits)
            state, path = canonical(apply_edit(json.loads(state), edit)), [*path, edit.describe()]
        try:
            scorer([state], [tuple(path)])
        except _BudgetSpent:
            return


def search_flow(
    seed_flow: dict[str, Any],
    dataset: Dataset,
    resources: Mapping[str, Any],
    *,
    objective: str | None = None,
    budget: int = 20,
    method: str = "mcts",
    seed: int = 0,
    concurrency: int = 4,
    exclude: Collection[str] = (),
    advisor: FlowEditAdvisor | None = None,
    log: Callable[[str], None] = lambda _m: None,
    executor: Executor | None = None,
    worker_resources: Callable[[], Mapping[str, Any]] | None = None,
    journal: str | Path | SearchJournal | None = None,
) -> FlowSearchOutcome:
    """Search flows reachable from ``seed_flow`` by registry-derived edits; ``budget`` counts distinct
    candidate evaluations (the seed included). Deterministic given ``seed``. ``advisor``: an optimizer LLM
    (:class:`~ragloom.agents.search.flow_llm.FlowEditAdvisor`) ordering MCTS's edits and rewriting prompts,
    fed the experience of every edit the search evaluated. ``executor``: where candidates x questions are
    evaluated (default: ``concurrency`` local threads; a :class:`~ragloom.scale.RayExecutor` with
    ``worker_resources``, e.g. :class:`~ragloom.agents.search.flow_parallel.DatasetResources`, gives the same
    trajectory on a cluster). ``journal``: a file (or an open
    :class:`~ragloom.agents.search.flow_journal.SearchJournal`) where each scored candidate is appended at
    once; rerun with the same journal after a kill and the search resumes: states already journaled are
    read back, not evaluated, and the outcome is an uninterrupted run's (a journal of other settings is
    refused)."""
    if budget < 1:
        raise ConfigError(f"search budget must be >= 1 evaluation, got {budget}")
    if method not in ("mcts", "random"):
        raise ConfigError(f"search method must be mcts or random, got {method!r}")
    goal = objective or default_objective(dataset)
    started = time.perf_counter()

    def score(c: list[dict[str, Any]]) -> list[tuple[float, float, dict[str, float]]]:
        return evaluate_candidates(c, dataset, resources, goal, concurrency, executor, worker_resources)

    # a retrieval objective ignores the LLM steps: flows that differ only there are one candidate
    same = (
        (lambda s: s) if goal in ANSWER_OBJECTIVES else (lambda s: canonical(retrieval_only(json.loads(s))))
    )
    scorer = _Scorer(score, budget, log, same)
    settings: dict[str, Any] = {}
    if journal is not None:  # its digest hashes the whole corpus: only a journal needs it
        settings = search_settings(
            seed_flow, dataset, objective=goal, method=method, seed=seed, budget=budget, exclude=exclude,
            advisor=advisor is not None,
        )  # fmt: skip
    missing = [n for n in unavailable(resources) if n not in exclude]
    if missing:
        log(f"left out of the search space (their run resource is missing): {', '.join(missing)}")
    exclude, llm = (*exclude, *missing), goal in ANSWER_OBJECTIVES
    if advisor is not None and method != "mcts":
        raise ConfigError("LLM-proposed edits (an advisor) need method='mcts'")
    with opened_journal(journal, settings, log) as scorer.journal, kept_workers(executor):
        if advisor is not None:
            scorer.experience = advisor.experience
            _mcts(canonical(seed_flow), scorer, seed, exclude, advisor, llm)
        elif method == "mcts":
            _mcts(canonical(seed_flow), scorer, seed, exclude, None, llm)
        else:
            _random(canonical(seed_flow), scorer, seed, exclude, llm=llm)
    records = scorer.records
    best = pick_best(records, goal)
    points = [(r.score, r.cost) for r in records]
    front = [records[i] for i in pareto_front(points)] if records else []
    return FlowSearchOutcome(records, best, front, time.perf_counter() - started)


def pick_best(records: Sequence[FlowRecord], objective: str) -> FlowRecord:
    """The record with the best objective; exact ties go to the objective's finer measure
    (:data:`TIE_BREAKS`), then to the first evaluated (the seed first): an edit is kept only when it raises
    the objective or puts the answer earlier, never for a latency difference of a few ms (cost trade-offs are
    what the Pareto front is for)."""
    finer = TIE_BREAKS.get(objective)

    def key(r: FlowRecord) -> tuple[float, float]:
        return r.score, float(r.metrics.get(finer, 0.0)) if finer else 0.0

    return max(records, key=key)


def write_outcome(outcome: FlowSearchOutcome, out: str | Path, meta: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``best_flow.yaml`` (an ordinary flow file), ``pareto.json`` and ``records.jsonl`` in ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"best_flow": folder / "best_flow.yaml", "pareto": folder / "pareto.json"}
    files["records"] = folder / "records.jsonl"
    files["best_flow"].write_text(flow_yaml(outcome.best.data), encoding="utf-8")
    front = [{"score": r.score, "cost": r.cost, "flow": r.data} for r in outcome.front]
    summary = {**meta, "best_score": outcome.best.score, "evaluations": len(outcome.records)}
    files["pareto"].write_text(json.dumps({**summary, "front": front}, indent=2, default=str))
    lines = [
        json.dumps({"score": r.score, "cost": r.cost, "edits": list(r.edits), "flow": r.data}, default=str)
        for r in outcome.records
    ]
    files["records"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files
