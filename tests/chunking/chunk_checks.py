"""The span-invariant check shared by the chunking tests (imported as a plain module from this folder)."""

from __future__ import annotations

from ragloom.chunking.base import word_spans
from ragloom.core.types import Chunk


def check_chunks(text: str, chunks: list[Chunk], doc_id: str = "d1") -> None:
    """The span invariant, order, trimming, and that no word of the text is lost."""
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.doc_id == doc_id
        assert c.text and c.text == c.text.strip()
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    lost = [text[s:e] for s, e in word_spans(text) if not all(covered[s:e])]
    assert not lost, f"words not in any chunk: {lost[:5]}"
