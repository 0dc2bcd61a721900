"""llm.self_consistency: samples llm.generate and keeps the most frequent answer with its own citations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragloom.agents.search import FlowEdit, apply_edit, flow_edits, read_seed
from ragloom.core.errors import ConfigError
from ragloom.core.registry import create
from ragloom.core.types import Chunk, Completion, Hit, Message
from ragloom.flows import RunContext
from ragloom.llm.consistency import vote

QA = Path(__file__).resolve().parents[2] / "examples" / "flows" / "qa.yaml"


class FakeLLM:
    """The collaborator: replies from a script, recording the temperature it was asked for."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.temperatures = list(replies), list[float]()

    def complete(self, messages: list[Message], **options: Any) -> Completion:
        self.temperatures.append(float(options.get("temperature", 0.0)))
        return Completion(self.replies.pop(0))


def test_vote_normalises_answers_and_ignores_citation_markers() -> None:
    assert vote(["Lyon [2]", "Paris [1]", "the paris", "Lyon"]) == 0  # a 2-2 tie: the form seen first
    assert vote(["Lyon", "Paris [1]", "paris.", "Lyon is it"]) == 1
    with pytest.raises(ConfigError):
        vote([])


def test_self_consistency_keeps_the_majority_answer_and_its_citations() -> None:
    context = [Hit(Chunk("Paris is the capital of France.", "d1", 0, 31), 1.0)]
    llm = FakeLLM(["Lyon", "Paris [1]", "It is Paris [1]", "paris"])
    node = create("llm.self_consistency", {"samples": 4, "max_tokens": 16})
    out = node({"question": "Capital of France?", "context": context}, RunContext(resources={"llm": llm}))
    assert out["answer"] == "Paris [1]" and out["citations"] == [context[0].id]
    assert llm.temperatures == [0.7] * 4
    with pytest.raises(ConfigError, match="samples must be >= 1"):
        create("llm.self_consistency", {"samples": 0})


def test_it_is_a_generator_the_search_swaps_in_keeping_generate_parameters() -> None:
    seed = read_seed(QA)
    assert "generate: uses llm.self_consistency" in {e.describe() for e in flow_edits(seed)}
    swapped = apply_edit(seed, FlowEdit("swap", "generate", "llm.self_consistency"))
    assert swapped["nodes"]["generate"]["with"] == seed["nodes"]["generate"]["with"]
