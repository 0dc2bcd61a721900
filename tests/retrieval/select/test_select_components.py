"""Selectors as flow nodes (``select.*``): registry names, state keys, a real flow, real tokenizer, model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from selector_fakes import FakeHashEmbedder, FakeWhitespaceTokenCounter, make_hits

from ragloom.core import registry
from ragloom.core.errors import ConfigError, RegistryError, StateUpdateError
from ragloom.core.types import Hit
from ragloom.retrieval.select import CoragSelector, TopKSelector
from ragloom.retrieval.select.components import selector_node

NAMES = ["select.corag", "select.greedy", "select.mmr", "select.sage", "select.topk"]


def test_all_selectors_are_registered() -> None:
    assert set(NAMES) <= set(registry.names())


def test_bad_parameters_name_the_component() -> None:
    with pytest.raises(ConfigError, match=r"select\.topk: budget_tokens"):
        registry.create("select.topk", {"budget_tokens": -5})
    with pytest.raises((ConfigError, RegistryError), match="unknown parameters"):
        registry.create("select.corag", {"gamma": 1.0})


def test_selector_node_reads_and_writes_state_keys() -> None:
    sel = TopKSelector(token_counter=FakeWhitespaceTokenCounter())
    node = selector_node("select.topk", sel, 4, "q", "candidates", "ctx")
    hits = make_hits(["one two", "three four", "five"])
    assert node({"q": "x", "candidates": hits}) == {"ctx": hits[:2]}
    with pytest.raises(StateUpdateError, match="no key 'candidates'"):
        node({"q": "x"})


def test_selector_node_runs_in_a_flow() -> None:
    from ragloom.flows import END, START, Flow

    class QA(BaseModel):
        question: str
        hits: list[Any] = []
        context: list[Any] = []

    sel = CoragSelector(embedder=FakeHashEmbedder(), token_counter=FakeWhitespaceTokenCounter())
    flow = Flow(QA, name="select")
    flow.add_node("select", selector_node("select.corag", sel, 10, "question", "hits", "context"))
    flow.add_edge(START, "select")
    flow.add_edge("select", END)
    capital = "paris is the capital of france"
    hits = make_hits([capital, capital, "france has a tower"])
    result = flow.compile().invoke({"question": "capital of france and its tower", "hits": hits})
    assert [h.doc_id for h in result.state.context] == ["d0", "d2"]


@pytest.mark.slow
def test_registered_nodes_with_the_real_tokenizer_and_embedder() -> None:
    """Default collaborators: SmolLM2's tokenizer counts the budget, all-MiniLM-L6-v2 embeds."""
    from ragloom.llm.tokens import default_token_counter

    counter = default_token_counter()
    texts = [
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
        "Paris is the capital and largest city of France.",
        "Bananas are elongated, edible fruit produced by several kinds of plants.",
    ]
    hits: list[Hit] = make_hits(texts, [1.0, 0.9, 0.8, 0.2])
    budget = counter.count_tokens(texts[0]) + counter.count_tokens(texts[2])
    state = {"question": "Where is the Eiffel Tower and what is the capital of France?", "hits": hits}
    for name in NAMES:
        out = registry.create(name, {"budget_tokens": budget})(state)["context"]
        assert sum(counter.count_tokens(h.text) for h in out) <= budget, name
    corag = registry.create("select.corag", {"budget_tokens": budget})(state)["context"]
    assert [h.doc_id for h in corag] == ["d0", "d2"]  # the duplicate d1 and the banana stay out
