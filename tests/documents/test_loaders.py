"""Each loader on real docs-a files and on small files written here: text, structure, chrome left out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from doc_files import small_pdf

from ragloom.documents import FORMATS, Loader, load_file, loader_for
from ragloom.documents.pdf import strip_running_lines


def _norm(text: str) -> str:
    return " ".join(text.replace("\u00a0", " ").split()).lower()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_loader_satisfies_the_protocol(fmt: str) -> None:
    loader = loader_for(fmt)
    assert isinstance(loader, Loader) and loader.format == fmt


def test_pdf_pages_are_physical_and_structure_comes_from_the_outline(docs_a_files: Path) -> None:
    doc = load_file(docs_a_files / "R-data.pdf")
    assert (doc.format, doc.title, len(doc.page_starts)) == ("pdf", "R Data Import/Export", 41)
    assert doc.page_starts[0] == 0 and list(doc.page_starts) == sorted(doc.page_starts)
    at = doc.text.index("read.fwf")
    assert doc.page_at(at) == 15  # physical page; its printed label is 11
    section = doc.section_at(at)
    assert section is not None and section.label == "2 Spreadsheet-like data > 2.2 Fixed-width-format files"


def test_pdf_text_has_no_running_heads_and_whole_hyphenated_words(docs_a_files: Path) -> None:
    doc = load_file(docs_a_files / "R-intro.pdf")
    assert not re.search(r"(?m)^Chapter \d+: .* \d+$", doc.text)  # "Chapter 7: Reading data from files 35"
    assert "respectively" in doc.text and "re-\nspectively" not in doc.text and "\ufffe" not in doc.text
    page16 = doc.text[doc.page_starts[15] : doc.page_starts[16]]
    assert page16.startswith("The construction 30:1 may be used")


def test_running_lines_are_only_taken_from_page_edges() -> None:
    words = ["alpha", "beta", "gamma", "delta"]
    pages = [
        [f"Manual {n}", f"{w} starts.", "Manual 9", f"{w} ends.", "Chapter 1", str(n)]
        for n, w in enumerate(words, 1)
    ]
    out = strip_running_lines(pages)  # "Manual 9" in the middle of a page is content
    assert out == [[f"{w} starts.", "Manual 9", f"{w} ends."] for w in words]


def test_html_keeps_content_tables_and_code_but_not_chrome(docs_a_files: Path) -> None:
    doc = load_file(docs_a_files / "wal.html")
    assert (doc.format, doc.title) == ("html", "Write-Ahead Logging")
    for chrome in (
        "Small. Fast. Reliable.",
        "Search Documentation",
        "Table Of Contents",
        "toggle_div",
        "Purchase",
    ):
        assert chrome not in doc.text
    assert "PRAGMA journal_mode=DELETE;" in doc.text  # a <pre> block
    labels = [s.label for s in doc.sections]
    assert "2. How WAL Works > 2.1. Checkpointing" in labels
    table = load_file(docs_a_files / "datatype3.html").text
    assert "NUMERIC DECIMAL(10,5) BOOLEAN DATE DATETIME | NUMERIC | 5" in table  # one row per line


def test_html_inline_svg_diagrams_are_not_text(docs_a_files: Path) -> None:
    raw = (docs_a_files / "lang_select.html").read_bytes()
    doc = load_file(docs_a_files / "lang_select.html")
    assert len(doc.text) < len(raw) / 20
    assert "<path" not in doc.text and "polygon" not in doc.text and "viewBox" not in doc.text
    assert "The SELECT statement is used to query the database." in doc.text


def test_every_gold_answer_is_in_its_file_and_page(docs_a: Path) -> None:
    import json

    answers = {r["_id"]: r["answers"][0] for r in map(json.loads, (docs_a / "answers.jsonl").open())}
    loaded = {}
    for row in map(json.loads, (docs_a / "evidence.jsonl").open()):
        doc = loaded.setdefault(row["source"], load_file(docs_a / "files" / row["source"]))
        text = doc.text
        if row["page"] is not None:
            text = text[doc.page_starts[row["page"] - 1] : [*doc.page_starts, len(text)][row["page"]]]
        assert _norm(answers[row["_id"]]) in _norm(text), (row["_id"], row["source"], row["page"])


def test_markdown_sections_and_text_kept_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(
        b"# Guide\r\n\r\nIntro.\r\n\r\n## Install\r\n\r\n```\r\n# not a heading\r\n```\r\n"
        b"Setup\r\n-----\r\nDone."
    )
    doc = load_file(path)
    assert doc.text == path.read_bytes().decode() and doc.title == "Guide" and doc.format == "markdown"
    assert [s.label for s in doc.sections] == ["Guide", "Guide > Install", "Guide > Setup"]
    assert doc.text[doc.sections[2].start :].startswith("Setup")


def test_text_keeps_crlf_and_drops_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfline one\r\nline two")
    doc = load_file(path)
    assert (doc.text, doc.format, doc.sections, doc.page_starts) == ("line one\r\nline two", "text", (), ())


def test_docx_headings_paragraphs_and_tables(docx_file: Path) -> None:
    doc = load_file(docx_file)
    assert (doc.format, doc.title) == ("docx", "Field Guide")
    assert [s.label for s in doc.sections] == ["Birds", "Birds > Owls", "Fish"]
    assert "species | wingspan\nbarn owl | 95 cm" in doc.text
    owls = doc.sections[1]
    assert "barn owl hunts" in doc.text[owls.start : owls.end]


def test_epub_chapters_in_spine_order_without_navigation(epub_file: Path) -> None:
    doc = load_file(epub_file)
    assert (doc.format, doc.title) == ("epub", "Two Chapters")
    assert doc.text.index("Bristol") < doc.text.index("fresh water")
    assert "Home" not in doc.text and "color" not in doc.text and "contents" not in doc.text
    assert [s.label for s in doc.sections] == ["The Voyage", "The Island"]


def test_content_beats_the_suffix(tmp_path: Path, docs_a_files: Path) -> None:
    fake_txt = tmp_path / "really-a-pdf.txt"
    fake_txt.write_bytes(small_pdf(2, docs_a_files / "R-data.pdf"))
    html = tmp_path / "saved-page"
    html.write_bytes((docs_a_files / "autoinc.html").read_bytes())
    assert load_file(fake_txt).format == "pdf" and len(load_file(fake_txt).page_starts) == 2
    assert load_file(html).format == "html"
