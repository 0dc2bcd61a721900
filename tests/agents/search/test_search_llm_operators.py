"""LLM operators (decompose, ensemble, review, format) inside candidate flows, scored for EM with their
token cost measured from the flow traces; the LLM is a Fake collaborator that reports its usage."""

from __future__ import annotations

from ragloom.agents.search import Candidate, DatasetScorer, SearchResources, Step
from ragloom.agents.search.space import space_from_dict
from ragloom.core.types import Completion, Document, Usage
from ragloom.core.usage import report_usage
from ragloom.eval.datasets import Dataset

DOCS = [
    Document("marley", "Jacob Marley was the business partner of Scrooge.", {"title": "Marley"}),
    Document("tim", "Tiny Tim is the youngest son of Bob Cratchit.", {"title": "Tiny Tim"}),
    Document("fezziwig", "Fezziwig was the old employer of young Scrooge.", {"title": "Fezziwig"}),
]


class FakeLLM:
    """Collaborator: answers 'Jacob Marley [1].' (twice out of three samples) and reports 10+5 tokens."""

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages, **options):  # type: ignore[no-untyped-def]
        self.calls += 1
        usage = Usage(prompt_tokens=10, completion_tokens=5, calls=1)
        report_usage(usage, "fake")
        text = (
            "Who was Scrooge's partner?"
            if "simpler questions" in messages[-1].content
            else "Jacob Marley [1]."
        )
        if self.calls % 3 == 0 and "Draft answer" not in messages[-1].content:
            text = "Fezziwig [2]."
        return Completion(text, usage)


def _one_question() -> Dataset:
    """The corpus with one answerable question (for em/f1 scoring)."""
    return Dataset(
        "tiny",
        {d.id: d for d in DOCS},
        {"q1": "Who was the business partner of Scrooge?"},
        {"q1": {"marley": 1}},
        answers={"q1": ["Jacob Marley"]},
    )


def test_llm_pipeline_is_scored_with_its_token_cost() -> None:
    space = space_from_dict(
        {"operators": {n: {} for n in ("decompose", "retrieve", "ensemble", "review", "format")}}
    )
    candidate = Candidate(
        (
            Step.make("decompose", {"max_questions": 2}),
            Step.make(
                "retrieve",
                {"method": "bm25", "k": 2, "fusion": "rrf", "weight": 0.5, "normalization": "minmax"},
            ),
            Step.make("ensemble", {"samples": 3, "temperature": 0.7}),
            Step.make("review", {"max_tokens": 32}),
            Step.make("format", {"style": "short"}),
        )
    )
    dataset = _one_question()
    llm = FakeLLM()
    scorer = DatasetScorer(space, dataset, SearchResources(DOCS), "em", llm=llm, concurrency=1)
    [evaluation] = scorer.score([candidate])
    assert evaluation.error is None and evaluation.score == 1.0
    assert llm.calls == 1 + 3 + 1  # decompose, three samples, review
    assert evaluation.cost["tokens"] == 15 * llm.calls and evaluation.cost["llm_calls"] == llm.calls


def test_generate_without_a_select_step_is_grounded_on_the_hits() -> None:
    """``llm.generate`` reads ``context``; with no select step the passages are in ``hits``, and the
    candidate flow points it there (the wiring is not a searched parameter: it is dropped on read-back)."""
    from ragloom.agents.search.build import candidate_flow, candidate_from_flow
    from ragloom.flows import Flow

    prompts: list[str] = []

    class Recording(FakeLLM):
        def complete(self, messages, **options):  # type: ignore[no-untyped-def]
            prompts.append(messages[-1].content)
            return super().complete(messages, **options)

    space = space_from_dict({"operators": {"retrieve": {}, "generate": {}}})
    candidate = Candidate(
        (Step.make("retrieve", {"method": "bm25", "k": 2}), Step.make("generate", {"max_tokens": 32}))
    )
    dataset = _one_question()
    scorer = DatasetScorer(space, dataset, SearchResources(DOCS), "em", llm=Recording(), concurrency=1)
    [evaluation] = scorer.score([candidate])
    assert evaluation.error is None and len(prompts) == 1
    assert "Jacob Marley was the business partner of Scrooge." in prompts[0], prompts[0]
    text = candidate_flow(candidate, space).to_yaml()
    assert "context_key: hits" in text
    assert candidate_from_flow(Flow.from_yaml(text), space) == candidate


def test_an_answer_metric_keeps_a_generate_step_in_every_candidate() -> None:
    """Under em/f1 a flow without generate answers nothing: 0 at 0 tokens, the cheapest 'best' of a search
    whose model scores 0 (SmolLM2 on hotpotqa did exactly that). Edits must not drop it."""
    import pytest

    from ragloom.agents.search.api import answer_space
    from ragloom.agents.search.edits import neighbours
    from ragloom.core.errors import ConfigError

    data = {
        "seed": [{"op": "retrieve", "with": {"method": "bm25"}}, {"op": "generate"}],
        "operators": {"retrieve": {"params": {"method": {"choices": ["bm25"]}}}, "generate": {}},
    }
    space = space_from_dict(data)
    assert "remove generate" in [e.description for e in neighbours(space.seed, space)]
    answers = answer_space(space, "space")
    assert all("generate" in e.result.ops() for e in neighbours(answers.seed, answers))
    with pytest.raises(ConfigError, match="seed flow has no generate"):
        answer_space(space_from_dict({**data, "seed": data["seed"][:1]}), "space")


def _beir_with_answers(root) -> None:  # type: ignore[no-untyped-def]
    """DOCS as a BEIR folder with two answered queries (search_flows loads a dataset from disk)."""
    import json

    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": d.id, "title": d.metadata["title"], "text": d.text}) + "\n" for d in DOCS)
    )
    queries = {"q1": "Who was the business partner of Scrooge?", "q2": "Who is the youngest son of Bob?"}
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tmarley\t1\nq2\ttim\t1\n")
    answers = [{"_id": "q1", "answers": ["Jacob Marley"]}, {"_id": "q2", "answers": ["Tiny Tim"]}]
    (root / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))


_ANSWER_SPACE = {
    "seed": [{"op": "retrieve", "with": {"method": "bm25", "k": 2}}, {"op": "generate"}],
    "operators": {
        "retrieve": {"params": {"method": {"choices": ["bm25"]}, "k": {"int": [2, 3]}}},
        "generate": {"params": {"max_tokens": {"choices": [32]}}},
        "review": {"params": {"max_tokens": {"choices": [32]}}},
    },
    "branches": {"allow": False},
}


def test_the_projection_multiplies_calls_by_the_tokens_per_call_measured_on_the_seed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Tokens are projected from one real seed run (FakeLLM: 10+5 tokens a call), not the 700 constant."""
    from ragloom.agents.search import search_flows

    _beir_with_answers(tmp_path / "data")
    lines: list[str] = []
    llm = FakeLLM()
    result = search_flows(
        space_from_dict(_ANSWER_SPACE),
        tmp_path / "data",
        "f1",
        budget=2,
        dev_fraction=1.0,
        llm=llm,
        log=lines.append,
    )
    proj = result.projection
    low, high = proj["llm_calls"]
    assert (low, high) == (2 * 2 * 1, 2 * 2 * 2)  # budget x queries x (seed: generate | most: + review)
    assert proj["tokens_measured"] and proj["tokens_per_call"] == 15.0
    assert proj["tokens"] == [15 * low, 15 * high]
    line = next(ln for ln in lines if ln.startswith("projection:"))
    assert f"tokens ~{15 * low}-{15 * high} (measured: 15 tokens/LLM call" in line, line


def test_a_failing_seed_run_falls_back_to_the_assumed_tokens_per_call_and_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ragloom.agents.search import search_flows
    from ragloom.agents.search.api import TOKENS_PER_LLM_CALL

    class FailsFirst(FakeLLM):
        def complete(self, messages, **options):  # type: ignore[no-untyped-def]
            if self.calls == 0:
                self.calls += 1
                raise RuntimeError("model not loaded yet")
            return super().complete(messages, **options)

    _beir_with_answers(tmp_path / "data")
    lines: list[str] = []
    result = search_flows(
        space_from_dict(_ANSWER_SPACE),
        tmp_path / "data",
        "f1",
        budget=2,
        dev_fraction=1.0,
        llm=FailsFirst(),
        log=lines.append,
    )
    proj = result.projection
    assert not proj["tokens_measured"]
    assert proj["tokens"] == [TOKENS_PER_LLM_CALL * c for c in proj["llm_calls"]]
    line = next(ln for ln in lines if ln.startswith("projection:"))
    assert f"assumed: {TOKENS_PER_LLM_CALL} tokens/LLM call, the seed run failed" in line, line
    assert "model not loaded yet" in line, line


def test_the_projection_is_a_pure_function_of_the_tokens_per_call_it_is_given() -> None:
    from ragloom.agents.search import SearchConfig
    from ragloom.agents.search.api import TOKENS_PER_LLM_CALL, format_projection, projection

    space, config = space_from_dict(_ANSWER_SPACE), SearchConfig(budget=3)
    measured = projection(space, 4, config, False, tokens_per_call=233.0)
    assert measured["llm_calls"] == [12, 24] and measured["tokens"] == [12 * 233, 24 * 233]
    assumed = projection(space, 4, config, False)
    assert assumed["tokens"] == [12 * TOKENS_PER_LLM_CALL, 24 * TOKENS_PER_LLM_CALL]
    assert "assumed: 700 tokens/LLM call" in format_projection(assumed)
    no_llm = space_from_dict({"operators": {"retrieve": {}}})
    plain = projection(no_llm, 4, config, False, tokens_per_call=None)
    assert plain["tokens"] == [0, 0] and "no LLM operators" in format_projection(plain)
