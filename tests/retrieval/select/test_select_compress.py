"""Sentence-window compression and the leftover-budget fill of ``select.*`` nodes (``fill_sentences``):
the window kernel against brute force, exact spans, the real MiniLM embedder choosing the relevant sentence,
the budget never exceeded and the selection itself never cut, and the parameter in the search space."""

from __future__ import annotations

import itertools
import random

import pytest
from selector_fakes import FakeWhitespaceTokenCounter, make_hits

from ragloom.agents.search.flow_space import flow_edits
from ragloom.core import registry
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.select import TopKSelector
from ragloom.retrieval.select.components import selector_node
from ragloom.retrieval.select.compress import SentenceWindowCompressor, best_window, fill_leftover

MARIE = (
    "Marie Curie was a Polish and naturalised-French physicist and chemist. "
    "She was the first woman to win a Nobel Prize. "
    "Her husband Pierre Curie shared her first prize. "
    "She was born in Warsaw in 1867."
)
SEINE = "The Seine flows through Paris. It is 777 kilometres long. Barges carry freight on it."


def test_best_window_matches_brute_force() -> None:
    rng = random.Random(7)
    for _ in range(300):
        scores = [rng.choice([0.0, 0.5, 1.0, -1.0]) for _ in range(rng.randint(1, 8))]
        size = rng.randint(1, 4)
        got = best_window(scores, size)
        if len(scores) <= size:
            assert got == (0, len(scores))
            continue
        windows = [(sum(scores[i : i + size]), -i) for i in range(len(scores) - size + 1)]
        best_sum, neg_first = max(windows)  # largest sum, earliest on ties
        assert got == (-neg_first, -neg_first + size)
        assert sum(scores[got[0] : got[1]]) == pytest.approx(best_sum)


def test_best_window_rejects_a_size_below_one() -> None:
    with pytest.raises(ConfigError, match="size must be >= 1"):
        best_window([1.0], 0)


def _doc_hit(text: str, doc: str, offset: int) -> tuple[str, Hit]:
    """A hit whose chunk starts ``offset`` characters into its document's source text."""
    source = "x" * offset + text + " tail."
    return source, Hit(Chunk(text, doc, offset, offset + len(text), {"title": doc}), 1.0)


def test_compressed_hits_keep_exact_spans_and_the_relevant_sentence(embedder) -> None:
    src_a, a = _doc_hit(MARIE, "curie", 11)
    src_b, b = _doc_hit(SEINE, "seine", 0)
    compressor = SentenceWindowCompressor(1, embedder=embedder)
    out = compressor.compress("In which year and city was she born?", [a, b])
    assert [h.doc_id for h in out] == ["curie", "seine"] and [h.score for h in out] == [1.0, 1.0]
    assert out[0].text == "She was born in Warsaw in 1867."
    for hit, source in zip(out, (src_a, src_b), strict=True):
        assert source[hit.chunk.start : hit.chunk.end] == hit.text
        assert hit.chunk.metadata["title"] == hit.doc_id
    assert out[0].chunk.metadata["compressed_from"] == a.id


def test_short_passages_are_kept_whole(embedder) -> None:
    hits = make_hits(["One sentence only.", "Two here. And two."])
    assert SentenceWindowCompressor(2, embedder=embedder).compress("anything", hits) == hits


def test_fill_leftover_keeps_the_selection_and_never_exceeds_the_budget(embedder) -> None:
    counter = FakeWhitespaceTokenCounter()
    texts = [
        "Paris is the capital of France.",
        MARIE,
        SEINE,
        "Cats sleep a lot. They purr. Marie Curie never owned a cat.",
    ]
    hits = make_hits(texts)
    compressor = SentenceWindowCompressor(1, embedder=embedder)
    for budget in range(0, 40, 3):
        chosen = TopKSelector(token_counter=counter).select("q", hits, budget)
        out = fill_leftover("In which year and city was she born?", hits, chosen, budget, counter, compressor)
        assert out[: len(chosen)] == chosen  # the selection itself is never cut
        assert sum(counter.count_tokens(h.text) for h in out) <= budget
        assert len({h.doc_id for h in out}) == len(out)  # one passage per document
    out = fill_leftover("In which year and city was she born?", hits, hits[:1], 14, counter, compressor)
    assert [h.text for h in out] == [texts[0], "She was born in Warsaw in 1867."]


def test_selector_node_fills_the_leftover_budget(embedder) -> None:
    counter = FakeWhitespaceTokenCounter()
    hits = make_hits(["Paris is the capital of France.", MARIE])
    sel = TopKSelector(token_counter=counter)
    plain = selector_node("select.topk", sel, 14, "question", "hits", "context")
    filled = selector_node(
        "select.topk", sel, 14, "question", "hits", "context", fill_sentences=1, token_counter=counter
    )
    state = {"question": "In which year and city was she born?", "hits": hits}
    assert [h.doc_id for h in plain(state)["context"]] == ["d0"]
    assert [h.doc_id for h in filled(state)["context"]] == ["d0", "d1"]
    with pytest.raises(ConfigError, match="fill_sentences must be an integer >= 0"):
        selector_node("select.topk", sel, 14, "question", "hits", "context", fill_sentences=-1)


def test_corag_declares_fill_sentences_and_the_search_offers_it() -> None:
    entry = registry.get("select.corag")
    assert entry.search["fill_sentences"] == (0, 1) and entry.search["max_share"] == (0.0, 0.5)
    flow = {
        "nodes": {
            "retrieve": {"uses": "retrieval.hybrid", "with": {"resource": "retriever", "k": 20}},
            "select": {"uses": "select.corag", "with": {"budget_tokens": 384}},
        },
        "edges": [{"from": "START", "to": "retrieve"}, {"from": "retrieve", "to": "select"}],
    }
    offered = {(e.node, e.name, e.value) for e in flow_edits(flow, llm=False) if e.kind == "param"}
    assert {("select", "fill_sentences", 1), ("select", "max_share", 0.5)} <= offered
    node = registry.create("select.corag", {"budget_tokens": 64, "fill_sentences": 1, "max_share": 0.5})
    assert callable(node)


def test_every_window_is_a_substring_of_its_passage(embedder) -> None:
    texts = [MARIE, SEINE, "A. B. C. D.", "No end mark here"]
    for size, text in itertools.product((1, 2, 3), texts):
        (hit,) = SentenceWindowCompressor(size, embedder=embedder).compress("Curie Paris", make_hits([text]))
        assert hit.text and hit.text in text and text[hit.chunk.start : hit.chunk.end] == hit.text


def test_cap_cuts_only_long_passages_to_a_relevant_window_within_the_cap(embedder) -> None:
    counter = FakeWhitespaceTokenCounter()
    src, long = _doc_hit(MARIE, "curie", 5)
    short = make_hits(["Paris is the capital of France."])[0]
    unsplittable = make_hits(["one two three four five six seven eight nine ten eleven twelve"])[0]
    compressor = SentenceWindowCompressor(embedder=embedder)
    out = compressor.cap("In which year and city was she born?", [short, long, unsplittable], 16, counter)
    assert out[0] == short and out[2] == unsplittable  # under the cap / no sentence to cut at: kept whole
    assert counter.count_tokens(out[1].text) <= 16 and "Warsaw" in out[1].text
    assert src[out[1].chunk.start : out[1].chunk.end] == out[1].text
    # the cut is marked with the share of its chunk it keeps (context support recall credits that share)
    assert out[1].chunk.metadata["kept_share"] == round(len(out[1].text) / len(long.text), 4) < 1
    assert "kept_share" not in out[0].chunk.metadata


def test_max_share_lets_a_second_passage_fit(embedder) -> None:
    counter = FakeWhitespaceTokenCounter()
    hits = make_hits([MARIE, "Warsaw is the capital of Poland."])
    sel = TopKSelector(token_counter=counter)
    state = {
        "question": "In which year and city was she born, and what is that city the capital of?",
        "hits": hits,
    }
    plain = selector_node("select.topk", sel, 40, "question", "hits", "context")
    capped = selector_node(
        "select.topk", sel, 40, "question", "hits", "context", token_counter=counter, max_share=0.5
    )
    assert [h.doc_id for h in plain(state)["context"]] == ["d0"]
    context = capped(state)["context"]
    assert [h.doc_id for h in context] == ["d0", "d1"] and context[0].text in MARIE
    assert counter.count_tokens(context[0].text) <= 20  # the cut passage takes at most half the budget
    assert sum(counter.count_tokens(h.text) for h in context) <= 40
    with pytest.raises(ConfigError, match=r"max_share must be a number in \[0, 1\]"):
        selector_node("select.topk", sel, 40, "question", "hits", "context", max_share=1.5)
