"""Structured chunks on all of docs-a: spans hold, chunks stay in one section and page, fit MiniLM's window,
carry the metadata contract, and none is navigation chrome."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ragloom.core.types import Chunk, Document
from ragloom.documents import StructuredChunker, load_folder, loaded_from

CONTRACT = {"source", "title", "section", "format"}


@pytest.fixture(scope="module")
def chunked(docs_a_files: Path) -> list[tuple[Document, list[Chunk]]]:
    docs, report = load_folder(docs_a_files)
    assert report.loaded == 33 and not report.skipped  # bar (a): every file of docs-a ingests
    chunker = StructuredChunker()
    return [(d, chunker.split_document(d)) for d in docs]


def test_span_invariant_and_order_on_real_files(chunked: list[tuple[Document, list[Chunk]]]) -> None:
    for doc, chunks in chunked:
        assert chunks, doc.id
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text and c.text.strip() == c.text
        assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))


def test_metadata_contract_and_pdf_pages(chunked: list[tuple[Document, list[Chunk]]]) -> None:
    for doc, chunks in chunked:
        pdf = doc.metadata["format"] == "pdf"
        for c in chunks:
            assert set(c.metadata) == (CONTRACT | {"page", "page_end"} if pdf else CONTRACT)
            assert c.metadata["source"] == doc.id
            if pdf:  # bar (a): every PDF chunk has a physical page
                assert 1 <= c.metadata["page"] <= c.metadata["page_end"] <= len(doc.metadata["page_starts"])


def test_chunks_cross_no_section_or_page_unless_a_tiny_piece_merged(
    chunked: list[tuple[Document, list[Chunk]]],
) -> None:
    crossing = 0
    for doc, chunks in chunked:
        loaded = loaded_from(doc)
        cuts = {s.start for s in loaded.sections} | set(loaded.page_starts)
        for c in chunks:
            inside = sorted(x for x in cuts if c.start < x < c.end)
            if inside:
                crossing += 1
                head, tail = c.text[: inside[0] - c.start], c.text[inside[-1] - c.start :]
                assert min(len(head.split()), len(tail.split())) <= 32, (doc.id, c.text[:80])
    assert crossing < 0.15 * sum(len(cs) for _, cs in chunked)


def test_chunks_fit_the_embedders_window(chunked: list[tuple[Document, list[Chunk]]]) -> None:
    from transformers import AutoTokenizer

    from ragloom.retrieval.embedders import default_model_path

    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    texts = [c.text for _, cs in chunked for c in cs]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    assert max(lengths) <= 256


def test_no_chunk_is_navigation_chrome(chunked: list[tuple[Document, list[Chunk]]]) -> None:
    chrome = ("Small. Fast. Reliable.", "Search Documentation", "Search Changelog", "Table Of Contents")
    menu = {"Home", "Menu", "About", "Documentation", "Download", "License", "Support", "Purchase", "Search"}
    for doc, chunks in chunked:
        for c in chunks:
            assert not any(x in c.text for x in chrome), (doc.id, c.text[:80])
            assert not set(c.text.split()) <= menu, (doc.id, c.text)
            assert "function toggle" not in c.text and "<svg" not in c.text


def test_a_document_without_structure_is_one_region() -> None:
    text = "One sentence here. " * 200
    chunks = StructuredChunker(target_tokens=50, max_tokens=60, min_tokens=10).split(text, "plain")
    assert len(chunks) > 5 and all(c.metadata["section"] == "" and "page" not in c.metadata for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_a_lone_heading_merges_into_its_body() -> None:
    from ragloom.documents.base import LoadedDocument, Section

    text = "Intro\n\nBody sentence one. Body sentence two.\n\nNext\n\nMore words follow here."
    cut = text.index("Next")
    sections = (Section(0, cut, ("Intro",)), Section(cut, len(text), ("Next",)))
    loaded = LoadedDocument(text, "x.md", "markdown", "X", sections=sections)
    chunks = StructuredChunker(target_tokens=12, max_tokens=20, min_tokens=4).split_document(
        loaded.to_document()
    )
    assert [c.text for c in chunks] == [
        "Intro\n\nBody sentence one. Body sentence two.",
        "Next\n\nMore words follow here.",
    ]
    assert [c.metadata["section"] for c in chunks] == ["Intro", "Next"]


def test_bm25_sees_the_heading_path_but_hits_keep_the_chunk_text() -> None:
    from ragloom.retrieval.bm25 import BM25Retriever

    chunks = [
        Chunk(
            "It happens at 1000 pages by default.", "wal.html", 0, 36, {"section": "3. WAL > 3.1. Checkpoint"}
        ),
        Chunk("Readers do not block writers.", "wal.html", 40, 69, {"section": "2. WAL > 2.2. Concurrency"}),
    ]
    (hit,) = BM25Retriever(chunks).retrieve("checkpoint", 1)
    assert hit.chunk == chunks[0] and hit.text == "It happens at 1000 pages by default."
