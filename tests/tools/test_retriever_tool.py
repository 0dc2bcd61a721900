"""retriever_tool: any Retriever becomes a search tool returning numbered, citable passages."""

from __future__ import annotations

import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk, Hit
from ragloom.tools import format_hits, retriever_tool


class FakeRetriever:
    """Returns fixed hits and records the calls (the collaborator of the unit under test)."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits
        self.calls: list[tuple[str, int]] = []

    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        self.calls.append((query, k))
        return self.hits[:k]


def _hit(text: str, doc: str, start: int, score: float) -> Hit:
    return Hit(Chunk(text, doc, start, start + len(text)), score)


def test_retriever_tool_formats_hits() -> None:
    fake = FakeRetriever(
        [_hit("Marley was dead.", "carol", 0, 0.91), _hit("Scrooge knew it.", "carol", 17, 0.5)]
    )
    search = retriever_tool(fake, name="search_book", description="Search the book.", k=1)
    assert search.name == "search_book" and search.required_args == ["query"]
    assert search.invoke({"query": "Marley"}) == "[1] (carol#0-16, score 0.910) Marley was dead."
    assert fake.calls == [("Marley", 1)]


def test_empty_results_and_truncation() -> None:
    assert retriever_tool(FakeRetriever([])).invoke({"query": "x"}) == "No results."
    text = format_hits([_hit("word " * 500, "d", 0, 1.0)], max_chars_per_hit=50)
    assert len(text) < 90 and "chars cut" in text


def test_bad_k() -> None:
    with pytest.raises(ConfigError, match="k must be at least 1"):
        retriever_tool(FakeRetriever([]), k=0)


def test_with_a_real_bm25_retriever() -> None:
    from ragloom.chunking.sentence import SentenceChunker
    from ragloom.core.paths import bundled_text
    from ragloom.retrieval.bm25 import BM25Retriever

    text = bundled_text().read_text(encoding="utf-8")[:20_000]
    chunks = SentenceChunker(target_words=120).split(text, "carol")
    assert 10 <= len(chunks) <= 60
    search = retriever_tool(BM25Retriever(chunks), k=2)
    out = search.invoke({"query": "Marley's ghost door knocker"})
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1] (carol#") and "Marley" in out
    ok, text_out = search.observe({"query": 42})
    assert not ok and "query: Input should be a valid string" in text_out
