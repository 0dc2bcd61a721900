"""Every chunker keeps ``text[c.start:c.end] == c.text`` on unicode, CRLF and novel text, in order."""

from __future__ import annotations

import pytest
from chunk_checks import check_chunks

from ragloom.chunking.recursive import RecursiveChunker
from ragloom.chunking.sentence import SentenceChunker
from ragloom.chunking.token import TokenChunker
from ragloom.chunking.window import ParagraphChunker, WindowChunker
from ragloom.core.protocols import Chunker
from ragloom.documents.chunker import StructuredChunker

PURE_CHUNKERS = {
    "token": lambda: TokenChunker(size=24, overlap=6),
    "sentence": lambda: SentenceChunker(target_words=15, overlap=1),
    "recursive": lambda: RecursiveChunker(chunk_size=80),
    "window": lambda: WindowChunker(words=12, stride=8),
    "paragraph": lambda: ParagraphChunker(),
    "paragraph_max": lambda: ParagraphChunker(max_words=20),
    "structured": lambda: StructuredChunker(target_tokens=24, max_tokens=30, min_tokens=4),
}


def test_carol_slice_really_has_crlf_and_the_text_is_unicode(sample_texts: dict[str, str]) -> None:
    assert "\r\n" in sample_texts["carol"] and "\r\n" in sample_texts["crlf"]
    assert any(ord(ch) > 0xFFFF for ch in sample_texts["unicode"])  # astral code points (emoji)


@pytest.mark.parametrize("name", sorted(PURE_CHUNKERS))
@pytest.mark.parametrize("kind", ["unicode", "crlf", "carol"])
def test_span_invariant(name: str, kind: str, sample_texts: dict[str, str]) -> None:
    chunker = PURE_CHUNKERS[name]()
    assert isinstance(chunker, Chunker)
    text = sample_texts[kind]
    chunks = chunker.split(text, "d1")
    assert chunks
    check_chunks(text, chunks)


@pytest.mark.parametrize("name", sorted(PURE_CHUNKERS))
@pytest.mark.parametrize("text", ["", "   ", "\r\n\r\n", "\t \u00a0\n"])
def test_empty_or_whitespace_text_gives_no_chunks(name: str, text: str) -> None:
    assert PURE_CHUNKERS[name]().split(text, "d") == []


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["unicode", "crlf", "carol"])
def test_span_invariant_semantic(kind: str, sample_texts: dict[str, str]) -> None:
    from ragloom.chunking.semantic import SemanticChunker

    text = sample_texts[kind][:3000]
    chunks = SemanticChunker(percentile=80, max_words=60).split(text, "d1")
    assert chunks
    check_chunks(text, chunks)
    assert all(len(c.text.split()) <= 60 or c.text.count(".") <= 1 for c in chunks)
