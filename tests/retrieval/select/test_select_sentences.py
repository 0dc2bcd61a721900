"""select.sentences: the question's best sentences of the hits under the budget (extractive compression)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selector_fakes import FakeHashEmbedder, FakeWhitespaceTokenCounter, make_hits

from ragloom.agents.search import flow_edits, read_seed
from ragloom.agents.search.flow_space import FlowEdit, apply_edit
from ragloom.core import registry
from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Selector
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.select import SentenceSelector, TopKSelector
from ragloom.retrieval.select.base import resolve_token_counter

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"
FILLER = "The weather report mentions clouds over the hills today. Markets were quiet on a slow morning."
WORDS = ["alpha", "beta.", "Gamma", "lock", "writer.", "Paris"]
ANSWER = "The journal lock that a writer holds first is the RESERVED lock."


def _selector(**kw: object) -> SentenceSelector:
    return SentenceSelector(embedder=FakeHashEmbedder(), token_counter=FakeWhitespaceTokenCounter(), **kw)  # type: ignore[arg-type]


def _documents_hits() -> list[Hit]:
    """Six chunks of two filler sentences; the sixth (lowest ranked) also holds the answering sentence."""
    texts = [FILLER] * 5 + [f"{FILLER} {ANSWER}"]
    texts = [f"Chunk {i}. {t}" for i, t in enumerate(texts)]
    return make_hits(texts)


def test_the_answer_in_the_sixth_chunk_fits_where_whole_chunks_do_not() -> None:
    hits, question = _documents_hits(), "Which journal lock does a writer hold first?"
    budget = 40  # two whole chunks (19 words each); the answer is in the sixth
    topk = TopKSelector(token_counter=FakeWhitespaceTokenCounter()).select(question, hits, budget)
    assert not any(ANSWER in h.text for h in topk)
    chosen = _selector().select(question, hits, budget)
    assert ANSWER in chosen[0].text  # the best sentence comes first
    assert sum(len(h.text.split()) for h in chosen) <= budget


def test_passages_are_real_sub_spans_with_the_chunk_metadata() -> None:
    source = "Intro text here. " + FILLER + " " + ANSWER + " Closing words follow."
    start = 17
    chunk = Chunk(source[start:], "doc.pdf", start, len(source), {"page": 3, "section": "Locks"})
    chosen = _selector().select("Which journal lock does a writer hold?", [Hit(chunk, 1.0)], 12)
    marks = ("kept_share", "compressed_from")
    kept = [{k: v for k, v in h.chunk.metadata.items() if k not in marks} for h in chosen]
    assert chosen and kept == [{"page": 3, "section": "Locks"}] * len(chosen)
    assert {h.chunk.metadata["compressed_from"] for h in chosen} == {chunk.id}
    for hit in chosen:
        assert source[hit.chunk.start : hit.chunk.end] == hit.text
    assert len({h.id for h in chosen}) == len(chosen)


def test_adjacent_kept_sentences_join_into_one_passage_and_window_takes_neighbours() -> None:
    text = "Alpha beta gamma. The RESERVED lock comes first. Delta epsilon zeta."
    hits = [Hit(Chunk(text, "d", 0, len(text)), 1.0)]
    alone = _selector().select("which lock comes first", hits, 5)
    assert [h.text for h in alone] == ["The RESERVED lock comes first."]
    with_window = _selector(window=1).select("which lock comes first", hits, 100)
    assert [h.text for h in with_window] == [text]  # three adjacent sentences: one passage


def test_a_sentence_repeated_by_overlapping_chunks_is_kept_once() -> None:
    hits = make_hits([f"{ANSWER} Alpha beta.", f"Gamma delta. {ANSWER}"])
    chosen = _selector().select("which lock does a writer hold", hits, 100)
    assert sum(h.text.count(ANSWER) for h in chosen) == 1


@settings(max_examples=30, deadline=None)
@given(
    texts=st.lists(
        st.lists(
            st.sampled_from(["alpha", "beta.", "Gamma", "lock", "writer.", "Paris"]), min_size=1, max_size=12
        ).map(" ".join),
        max_size=8,
    ),
    budget=st.integers(0, 40),
    window=st.integers(0, 2),
)
def test_never_over_budget(texts: list[str], budget: int, window: int) -> None:
    chosen = _selector(window=window).select("which lock", make_hits(texts), budget)
    assert sum(len(h.text.split()) for h in chosen) <= budget


def test_bad_settings_and_budgets_say_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match="weights must be >= 0"):
        SentenceSelector(dense_weight=-1.0)
    with pytest.raises(ConfigError, match="window must be an integer >= 0"):
        SentenceSelector(window=-1)
    with pytest.raises(ConfigError, match="budget_tokens"):
        _selector().select("q", make_hits(["a."]), -1)
    assert _selector().select("q", [], 10) == [] and _selector().select("q", make_hits(["a."]), 0) == []
    assert isinstance(_selector(), Selector)


def test_registered_with_ranges_and_in_the_search_space() -> None:
    entry = registry.get("select.sentences")
    assert entry.role == "selector" and set(entry.search) == {"window", "score_weight"}
    seed = read_seed(QA)
    assert "select: uses select.sentences" in {e.describe() for e in flow_edits(seed)}
    swapped = apply_edit(seed, FlowEdit("swap", "select", "select.sentences"))
    assert swapped["nodes"]["select"]["with"]["budget_tokens"] == 384  # the seed's budget survives the swap


def test_the_node_with_the_real_embedder_and_tokenizer_keeps_the_budget() -> None:
    node = registry.create("select.sentences", {"budget_tokens": 30})
    hits = _documents_hits()
    context = node({"question": "Which journal lock does a writer hold first?", "hits": hits})["context"]
    counter = resolve_token_counter(None)
    assert ANSWER in context[0].text
    assert sum(counter.count_tokens(h.text) for h in context) <= 30


def test_each_passage_says_which_share_of_its_chunk_it_keeps() -> None:
    text = "Alpha beta gamma. The RESERVED lock comes first. Delta epsilon zeta."
    chosen = _selector().select("which lock comes first", [Hit(Chunk(text, "d", 0, len(text)), 1.0)], 5)
    assert chosen[0].chunk.metadata["kept_share"] == round(
        len("The RESERVED lock comes first.") / len(text), 4
    )
