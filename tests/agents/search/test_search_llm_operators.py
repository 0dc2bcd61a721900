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
    dataset = Dataset(
        "tiny",
        {d.id: d for d in DOCS},
        {"q1": "Who was the business partner of Scrooge?"},
        {"q1": {"marley": 1}},
        answers={"q1": ["Jacob Marley"]},
    )
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
    dataset = Dataset(
        "tiny",
        {d.id: d for d in DOCS},
        {"q1": "Who was the business partner of Scrooge?"},
        {"q1": {"marley": 1}},
        answers={"q1": ["Jacob Marley"]},
    )
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
