"""The search algorithms on a tiny space with a Fake deterministic scorer (the collaborator): MCTS finds
the optimum, baselines run under the same budget, a killed search resumes, LLM edits are used and a
repeated edit is rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_fakes import FakeScorer, synthetic_score, tiny_space

from ragloom.agents.search import Evaluation, LLMEditProposer, SearchConfig, candidate_flow, run_search
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


ONE_POINT = {
    "operators": {
        "retrieve": {
            "params": {"method": ["bm25"], "k": {"int": [5, 5]}, "weight": {"float": [0.5, 0.5]}},
            "only": ["method", "k", "weight"],
        }
    },
    "branches": {"allow": False},
}


@pytest.mark.parametrize(
    ("method", "selection"), [("mcts", "soft"), ("mcts", "uct"), ("random", "soft"), ("hill", "soft")]
)
@pytest.mark.parametrize("budget", [1, 3])
def test_a_one_candidate_space_ends_the_search(method: str, selection: str, budget: int) -> None:
    """A space whose only candidate is the seed: every method stops (hill-climbing used to loop forever)."""
    from ragloom.agents.search.space import space_from_dict

    space = space_from_dict(ONE_POINT, "one-point space")
    cfg = SearchConfig(method=method, selection=selection, budget=budget, seed=0)
    outcome = run_search(space, FakeScorer(), cfg)
    assert len(outcome.records) == 1
    assert outcome.stopped == ("budget" if budget == 1 else "space exhausted")


@pytest.mark.parametrize("content", [b"[1, 2]", b"\xff\xfe garbage", b"evaluation"])
def test_a_corrupt_state_file_is_a_clear_error_and_is_left_alone(tmp_path: Path, content: bytes) -> None:
    import json

    from ragloom.core.errors import ConfigError

    state = tmp_path / "state.json"
    cfg = SearchConfig(budget=3, seed=0)
    if content == b"evaluation":  # a state of this very search with one hand-broken evaluation
        run_search(tiny_space(), FakeScorer(), cfg, state_path=state)
        data = json.loads(state.read_text())
        data["evaluations"][next(iter(data["evaluations"]))] = {"x": 1}
        content = json.dumps(data).encode()
    state.write_bytes(content)
    with pytest.raises(ConfigError, match=r"state\.json: search state (is not|has a malformed).*delete it"):
        run_search(tiny_space(), FakeScorer(), cfg, state_path=state)
    assert state.read_bytes() == content


def test_resuming_with_other_fixed_parameters_is_refused(tmp_path: Path) -> None:
    """``fixed`` parameters change what a candidate computes but are not in its key: a state saved with
    other fixed values must not be replayed."""
    from search_fakes import TINY_SPACE

    from ragloom.agents.search.space import space_from_dict
    from ragloom.core.errors import ConfigError

    state = tmp_path / "state.json"
    run_search(tiny_space(), FakeScorer(), SearchConfig(budget=3, seed=0), state_path=state)
    ops = {
        **TINY_SPACE["operators"],
        "retrieve": {**TINY_SPACE["operators"]["retrieve"], "fixed": {"query_key": "rewritten"}},
    }
    other = space_from_dict({**TINY_SPACE, "operators": ops})
    with pytest.raises(ConfigError, match="search state of a different search"):
        run_search(other, FakeScorer(), SearchConfig(budget=3, seed=0), state_path=state)
    again = FakeScorer()
    run_search(tiny_space(), again, SearchConfig(budget=3, seed=0), state_path=state)
    assert again.calls == 0  # the same search still resumes


class SeedFailsScorer(FakeScorer):
    """The seed flow fails (an operator raised); every other candidate scores as usual."""

    def score(self, candidates):  # type: ignore[no-untyped-def]
        seed_key = tiny_space().seed.key()
        out = super().score(candidates)
        return [
            Evaluation(0.0, [], {}, [], 0.0, "seed broke") if c.key() == seed_key else e
            for c, e in zip(candidates, out, strict=True)
        ]


@pytest.mark.parametrize(("method", "selection"), [("mcts", "soft"), ("mcts", "uct"), ("hill", "soft")])
def test_a_failing_seed_does_not_crash_the_search(method: str, selection: str) -> None:
    """MCTS parent selection used to raise ``ValueError: Total of weights must be finite`` when the only
    candidate (the seed) had failed; the search goes on from the seed's edits instead."""
    cfg = SearchConfig(method=method, selection=selection, budget=6, seed=0, patience=0)
    outcome = run_search(tiny_space(), SeedFailsScorer(), cfg)
    assert len(outcome.records) == 6 and outcome.records[0].evaluation.error == "seed broke"
    assert outcome.best.evaluation.error is None
