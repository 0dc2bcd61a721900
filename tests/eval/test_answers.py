"""answer@B, answer@k, source@k, page@k and the text normalisation of docs-a, on hand-built hits."""

from __future__ import annotations

import pytest

from ragloom.core.types import Chunk, Hit
from ragloom.eval.answers import (
    answer_at_budget,
    answer_at_k,
    budget_context,
    hit_page_range,
    hit_source,
    normalize_text,
    page_at_k,
    source_at_k,
)


class FakeWordCounter:
    """Collaborator of the budget functions: one token per whitespace-separated word."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def hit(text: str, source: str = "a.html", page: int | None = None, page_end: int | None = None) -> Hit:
    meta: dict[str, object] = {"source": source}
    if page is not None:
        meta["page"] = page
        meta["page_end"] = page_end if page_end is not None else page
    return Hit(Chunk(text, source, 0, len(text), meta), 1.0)


def test_normalize_text_maps_quotes_spaces_and_case() -> None:
    assert normalize_text("  The \u201cWAL\u201d\u00a0file\n\tisn\u2019t  ") == 'the "wal" file isn\'t'


def test_budget_context_keeps_whole_chunks_then_cuts_the_last() -> None:
    counter = FakeWordCounter()
    texts = ["one two three", "four five six seven", "eight"]
    assert budget_context(texts, 3, counter) == ["one two three"]
    kept = budget_context(texts, 5, counter)
    assert kept[0] == "one two three" and counter.count_tokens(kept[1]) <= 2 and kept[1].startswith("four")
    assert budget_context(texts, 100, counter) == texts
    assert budget_context(texts, 0, counter) == []


@pytest.mark.parametrize("budget", [0, 1, 2, 5, 7, 8, 20])
def test_budget_context_never_exceeds_the_budget(budget: int) -> None:
    counter = FakeWordCounter()
    texts = ["alpha beta gamma delta", "epsilon", "zeta eta theta"]
    kept = budget_context(texts, budget, counter)
    assert sum(counter.count_tokens(t) for t in kept) <= budget


def test_answer_at_budget_needs_the_answer_inside_the_budget() -> None:
    counter = FakeWordCounter()
    hits = [hit("filler " * 10), hit("the join limit is 64 tables")]
    assert answer_at_budget(hits, ["64 tables"], 10, counter) == 0.0
    assert answer_at_budget(hits, ["64 tables"], 16, counter) == 1.0
    # a big first chunk pays for all of its tokens: the answer at its end is cut off
    big = [hit("filler " * 30 + "answer: \u201cNUMERIC\u201d")]
    assert answer_at_budget(big, ['"numeric"'], 16, counter) == 0.0
    assert answer_at_budget(big, ['"numeric"'], 40, counter) == 1.0


def test_answer_at_k_matches_only_the_canonical_answer() -> None:
    hits = [hit("nothing here"), hit("Use read.fwf() for fixed width files")]
    assert answer_at_k(hits, ["read.fwf"], 1) == 0.0
    assert answer_at_k(hits, ["read.fwf"], 2) == 1.0
    assert answer_at_k(hits, ["not there", "read.fwf"], 2) == 0.0  # variants are not matched
    assert answer_at_k(hits, [], 2) == 0.0


def test_source_at_k_compares_file_names() -> None:
    hits = [hit("x", source="docs/wal.html"), hit("y", source="R-intro.pdf", page=3)]
    assert hit_source(hits[0]) == "wal.html"
    assert source_at_k(hits, "R-intro.pdf", 1) == 0.0
    assert source_at_k(hits, "R-intro.pdf", 2) == 1.0


def test_page_at_k_uses_the_page_range_for_pdfs() -> None:
    hits = [hit("x", "R-intro.pdf", page=10, page_end=11), hit("y", "R-data.pdf", page=5)]
    assert hit_page_range(hits[0]) == (10, 11)
    assert page_at_k(hits, "R-intro.pdf", 11, 1) == 1.0
    assert page_at_k(hits, "R-intro.pdf", 12, 2) == 0.0
    assert page_at_k(hits, "R-data.pdf", 5, 1) == 0.0 and page_at_k(hits, "R-data.pdf", 5, 2) == 1.0
    # an HTML gold has no page: the file is enough
    assert page_at_k([hit("z", "wal.html")], "wal.html", None, 1) == 1.0
    # a chunk of the right PDF without a page cannot be cited by page
    assert page_at_k([hit("z", "R-data.pdf")], "R-data.pdf", 5, 1) == 0.0
