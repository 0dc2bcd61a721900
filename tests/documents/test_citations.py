"""Citations say where: file, physical page or page range, innermost section."""

from __future__ import annotations

from ragloom.core.types import Chunk, Hit
from ragloom.documents import cite


def _chunk(**meta: object) -> Chunk:
    return Chunk("text", "R-intro.pdf", 0, 4, dict(meta))


def test_pdf_page_and_section() -> None:
    c = _chunk(source="R-intro.pdf", page=42, page_end=42, section="5 Arrays and matrices > 5.1 Arrays")
    assert cite(c) == "R-intro.pdf p. 42, § 5.1 Arrays"
    assert cite(Hit(c, 1.0)) == cite(c)


def test_page_range() -> None:
    assert cite(_chunk(source="R-intro.pdf", page=41, page_end=42)) == "R-intro.pdf pp. 41–42"


def test_html_section_without_page() -> None:
    c = _chunk(source="wal.html", section="2. How WAL Works > 2.1. Checkpointing", format="html")
    assert cite(c) == "wal.html § 2.1. Checkpointing"


def test_a_chunk_without_metadata_cites_its_document() -> None:
    assert cite(Chunk("t", "beir-17", 0, 1)) == "beir-17"
