"""LLM triple extraction: robust parsing, gleaning, the graph built from triples (FakeLLM collaborator)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ragloom.core.types import Completion, Document, Message, Usage
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.llm_extract import LLMTripleExtractor, Triple, parse_triples
from ragloom.retrieval.graph.preflight import estimate_llm_build
from ragloom.retrieval.graph.records import entity_node


class FakeLLM:
    """Replies from a script (cycled), recording the messages of every call."""

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.calls: list[list[Message]] = []

    @property
    def model(self) -> str:
        return "fake-openie"

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        self.calls.append(list(messages))
        text = self.replies[(len(self.calls) - 1) % len(self.replies)]
        return Completion(text, Usage(len(str(messages)) // 4, len(text) // 4, 0.0, 1))


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            '{"triples": [["Lester Smith", "designed", "Dragon Dice"]]}',
            [("Lester Smith", "designed", "Dragon Dice")],
        ),
        (
            'Sure!\n```json\n{"triples": [["TSR", "published", "Dragon Dice"],]}\n```',
            [("TSR", "published", "Dragon Dice")],
        ),
        ('{"triples": [{"subject": "A", "relation": "r", "object": "B"}, ["x", "y"]]}', [("A", "r", "B")]),
        (
            "(Gary Gygax, founded, TSR)\n(TSR, based in, Lake Geneva)",
            [("Gary Gygax", "founded", "TSR"), ("TSR", "based in", "Lake Geneva")],
        ),
        ('{"triples": [["A", "r", "B"]', [("A", "r", "B")]),  # truncated reply, repaired
        ("I cannot help with that.", []),
        ('{"triples": "none"}', []),
        ('{"triples": [["", "r", "B"]]}', []),
    ],
)
def test_parse_triples_is_robust(reply: str, expected: list[tuple[str, str, str]]) -> None:
    assert parse_triples(reply) == [Triple(*t) for t in expected]


def test_gleaning_adds_missed_triples_and_stops_when_nothing_is_new() -> None:
    llm = FakeLLM(
        [
            '{"triples": [["Lester Smith", "designed", "Dragon Dice"]]}',
            '{"triples": [["lester smith", "designed", "dragon dice"], '
            '["Dragon Dice", "published by", "TSR"]]}',
            '{"triples": []}',
            '{"triples": [["never", "asked", "for"]]}',
        ]
    )
    result = LLMTripleExtractor(llm, gleanings=5).extract("Dragon Dice was designed by Lester Smith.")
    assert [t.relation for t in result.triples] == ["designed", "published by"]  # case-insensitive dedupe
    assert result.calls == 3 and len(llm.calls) == 3  # the empty gleaning round ends the loop
    assert result.usage.calls == 3
    second = llm.calls[1]
    assert second[-2].role == "assistant" and "missed" in second[-1].content


def test_no_gleaning_means_one_call() -> None:
    llm = FakeLLM(['{"triples": [["A", "r", "B"]]}'])
    assert LLMTripleExtractor(llm, gleanings=0).extract("A r B.").calls == 1


@pytest.mark.slow
def test_graph_from_llm_triples_and_preflight(embedder) -> None:
    docs = [
        Document("Dragon Dice", "Dragon Dice is a dice game. It was designed by Lester Smith."),
        Document("TSR", "TSR was a game company founded by Gary Gygax."),
    ]
    llm = FakeLLM(
        [
            '{"triples": [["Dragon Dice", "designed by", "Lester Smith"], '
            '["TSR", "founded by", "Gary Gygax"]]}',
            "no more",
        ]
    )
    extractor = LLMTripleExtractor(llm, gleanings=1, max_tokens=100)
    index = GraphIndex(embedder=embedder, triple_extractor=extractor)
    estimate = estimate_llm_build(index, docs, extractor)
    assert (estimate.documents, estimate.chunks, estimate.calls) == (2, 2, 4)
    assert estimate.prompt_tokens > 0 and "up to 4 calls" in estimate.summary()
    report = index.update(docs)
    assert report.llm_calls == 4 and len(llm.calls) == 4
    edge = index.graph[entity_node("dragon dice")][entity_node("lester smith")]
    assert edge["kinds"]["relation"] >= 1 and "designed by" in edge["relations"]
    assert index.settings.llm_model == "fake-openie"
    assert estimate_llm_build(index, docs, extractor).calls == 0  # nothing changed: nothing to extract
