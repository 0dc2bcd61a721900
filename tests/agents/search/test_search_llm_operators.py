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
