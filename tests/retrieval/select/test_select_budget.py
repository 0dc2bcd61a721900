"""Every selector: never over budget (property test), empty input, zero/negative budgets, order kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selector_fakes import FakeHashEmbedder, FakeWhitespaceTokenCounter, make_hits

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Selector
from ragloom.retrieval.select import (
    CoragSelector,
    GreedyDensitySelector,
    MMRSelector,
    SageSelector,
    TopKSelector,
)

WORDS = ["alpha", "beta", "gamma", "delta", "paris", "france", "capital", "river", "tower", "wine"]


def all_selectors() -> dict[str, Selector]:
    counter, embedder = FakeWhitespaceTokenCounter(), FakeHashEmbedder()
    return {
        "topk": TopKSelector(token_counter=counter),
        "greedy": GreedyDensitySelector(token_counter=counter),
        "mmr": MMRSelector(embedder=embedder, token_counter=counter),
        "sage": SageSelector(token_counter=counter),
        "corag": CoragSelector(embedder=embedder, token_counter=counter, iterations=16),
    }


SELECTORS = all_selectors()
texts = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join), max_size=14)


@pytest.mark.parametrize("name", sorted(SELECTORS))
@settings(max_examples=40, deadline=None)
@given(texts=texts, scores=st.lists(st.floats(-5, 5), min_size=14, max_size=14), budget=st.integers(0, 60))
def test_never_over_budget_and_a_subset_in_order(
    name: str, texts: list[str], scores: list[float], budget: int
):
    hits = make_hits(texts, scores[: len(texts)])
    chosen = SELECTORS[name].select("capital of france", hits, budget)
    assert sum(len(h.text.split()) for h in chosen) <= budget
    positions = [hits.index(h) for h in chosen]
    assert positions == sorted(set(positions))


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_empty_input_zero_and_negative_budget(name: str) -> None:
    sel = SELECTORS[name]
    hits = make_hits(["paris is the capital", "wine from france"])
    assert sel.select("q", [], 100) == []
    assert sel.select("q", hits, 0) == []
    with pytest.raises(ConfigError, match="budget_tokens"):
        sel.select("q", hits, -1)


@pytest.mark.parametrize("name", sorted(SELECTORS))
def test_a_generous_budget_keeps_the_best_hit(name: str) -> None:
    hits = make_hits(["paris is the capital of france", "river wine tower", "alpha beta"], [3.0, 1.0, 0.5])
    chosen = SELECTORS[name].select("capital of france", hits, 1000)
    assert hits[0] in chosen


def test_selectors_satisfy_the_protocol() -> None:
    assert all(isinstance(s, Selector) for s in SELECTORS.values())


def test_topk_truncates_at_the_first_misfit() -> None:
    hits = make_hits(["a b c", "d e f g h i", "j"], [3, 2, 1])
    assert TopKSelector(token_counter=FakeWhitespaceTokenCounter()).select("q", hits, 5) == hits[:1]
    assert TopKSelector(k=1, token_counter=FakeWhitespaceTokenCounter()).select("q", hits, 100) == hits[:1]
