"""The search algorithms on a tiny space with a Fake deterministic scorer (the collaborator): MCTS finds
the optimum, baselines run under the same budget, a killed search resumes, LLM edits are used and a
repeated edit is rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_fakes import FakeScorer, synthetic_score, tiny_space

from ragloom.agents.search import LLMEditProposer, SearchConfig, candidate_flow, run_search
from ragloom.agents.search.report import write_outputs
from ragloom.core.types import Completion, Usage
from ragloom.flows import Flow

OPTIMUM = 1.1


def test_mcts_finds_the_optimum() -> None:
    space = tiny_space()
    outcome = run_search(space, FakeScorer(), SearchConfig(method="mcts", budget=30, seed=1, patience=0))
    assert outcome.best.score == pytest.approx(OPTIMUM)
    assert outcome.best.candidate.ops() == ["retrieve", "multihop"]
    keys = [r.candidate.key() for r in outcome.records]
    assert len(keys) == len(set(keys)) and len(keys) <= 30
    assert all(r.parent is not None for r in outcome.records[1:])
    assert outcome.experience and all("helped" in e for e in outcome.experience)


@pytest.mark.parametrize("method", ["random", "hill"])
def test_baselines_respect_the_budget(method: str) -> None:
    scorer = FakeScorer()
    outcome = run_search(tiny_space(), scorer, SearchConfig(method=method, budget=12, seed=0))
    assert len(outcome.records) == 12 == scorer.calls
    assert outcome.best.score == max(r.score for r in outcome.records)


def test_uct_selection_from_the_shared_core() -> None:
    outcome = run_search(tiny_space(), FakeScorer(), SearchConfig(budget=20, selection="uct", seed=0))
    assert 1 < len(outcome.records) <= 20
    assert outcome.best.score >= outcome.records[0].score


def test_convergence_stops_early() -> None:
    cfg = SearchConfig(budget=200, seed=0, patience=3, parallel=1)
    outcome = run_search(tiny_space(), FakeScorer(), cfg)
    assert outcome.stopped.startswith("converged") and len(outcome.records) < 200


def test_cost_budget_stops_the_search() -> None:
    cfg = SearchConfig(budget=50, seed=0, parallel=1, max_tokens=450)
    outcome = run_search(tiny_space(), FakeScorer(), cfg)
    assert outcome.stopped == "cost budget (tokens)" and len(outcome.records) == 5


def test_pareto_front_of_an_outcome_is_non_dominated() -> None:
    outcome = run_search(tiny_space(), FakeScorer(), SearchConfig(budget=15, seed=2, patience=0))
    cost = "retrieval_calls"
    for r in outcome.pareto:
        assert not any(
            o.score >= r.score
            and o.evaluation.cost[cost] <= r.evaluation.cost[cost]
            and (o.score > r.score or o.evaluation.cost[cost] < r.evaluation.cost[cost])
            for o in outcome.records
        )
    assert outcome.best in outcome.pareto


def test_killed_search_resumes_without_reevaluating(tmp_path: Path) -> None:
    cfg = SearchConfig(budget=16, seed=3, patience=0)
    full = run_search(tiny_space(), FakeScorer(), cfg)
    state = tmp_path / "state.json"
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny_space(), FakeScorer(fail_after=7), cfg, state_path=state)
    again = FakeScorer()
    resumed = run_search(tiny_space(), again, cfg, state_path=state)
    assert again.calls == 16 - 7  # the 7 saved evaluations are read back, not recomputed
    assert [r.candidate for r in resumed.records] == [r.candidate for r in full.records]
    assert resumed.best.score == full.best.score


def test_outputs_are_written(tmp_path: Path) -> None:
    space = tiny_space()
    outcome = run_search(space, FakeScorer(), SearchConfig(budget=8, seed=0))
    files = write_outputs(outcome, space, tmp_path)
    for name in ("best_flow", "pareto", "report", "tree_html"):
        assert files[name].is_file()
    Flow.from_yaml(files["best_flow"].read_text()).compile()
    assert "Pareto front" in files["report"].read_text()


class FakeOptimizerLLM:
    """Collaborator: proposes 'add a multihop step with 3 seeds' (then the same edit again)."""

    def __init__(self, space) -> None:  # type: ignore[no-untyped-def]
        self.space = space
        self.prompts: list[str] = []

    def complete(self, messages, **options):  # type: ignore[no-untyped-def]
        self.prompts.append(messages[-1].content)
        from ragloom.agents.search import Candidate, Step

        seed = self.space.seed
        hop = Step.make("multihop", {**self.space.op("multihop").default_params(), "seeds": 3})
        child = Candidate((seed.steps[0], hop))
        text = candidate_flow(child, self.space).to_yaml()
        return Completion(f"```yaml\n{text}```\nEDIT: add multihop with 3 seeds", Usage(calls=1))


def test_llm_proposed_edits_and_repeats_rejected() -> None:
    space = tiny_space()
    llm = FakeOptimizerLLM(space)
    proposer = LLMEditProposer(llm, space)
    outcome = run_search(space, FakeScorer(), SearchConfig(budget=6, seed=0, parallel=1), proposer=proposer)
    llm_records = [r for r in outcome.records if r.kind == "llm"]
    assert len(llm_records) == 1 and llm_records[0].edit == "add multihop with 3 seeds"
    assert llm_records[0].score == synthetic_score(llm_records[0].candidate)
    assert proposer.rejected, "the repeated proposal must be rejected"
    assert "Current flow (score" in llm.prompts[0] and "```yaml" in llm.prompts[0]
    assert len(outcome.records) == 6  # rejected proposals fall back to rule-based edits
