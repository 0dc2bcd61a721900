"""Files through the index: retrieval with page citations, incremental updates by content hash, the CLI's
report of skipped files, BEIR bodies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ragloom.documents import cite
from ragloom.retrieval.index import Index

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, docs_a_files: Path) -> Path:
    """Pages 13-16 of R-data.pdf (read.fwf is on the third) and one SQLite page: tens of chunks."""
    from pypdf import PdfReader, PdfWriter

    root = tmp_path_factory.mktemp("corpus")
    writer = PdfWriter()
    writer.append(PdfReader(str(docs_a_files / "R-data.pdf")), pages=(12, 16))
    with open(root / "R-data-part.pdf", "wb") as f:
        writer.write(f)
    shutil.copy(docs_a_files / "autoinc.html", root / "autoinc.html")
    (root / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    return root


@pytest.fixture(scope="module")
def index(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Index:
    return Index.build(tmp_path_factory.mktemp("idx") / "index", corpus, vector_store="memory")


def test_a_folder_indexes_through_the_documents_layer(index: Index) -> None:
    assert index.manifest.chunker == "structured"
    assert sorted(index.documents) == ["R-data-part.pdf", "autoinc.html"]  # binary.txt skipped
    pdf_chunks = [c for c in index.chunks if c.metadata["format"] == "pdf"]
    assert pdf_chunks and all(isinstance(c.metadata["page"], int) for c in pdf_chunks)


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_the_fixed_width_question_is_answered_with_a_page_citation(index: Index, mode: str) -> None:
    hits = index.retriever(mode).retrieve("Which R function reads fixed-width files?", 3)
    best = next(h for h in hits if "read.fwf" in h.text)
    assert cite(best).startswith("R-data-part.pdf p. 3")  # physical page 15 of R-data.pdf is page 3 here


def test_a_resaved_identical_pdf_is_not_re_embedded(corpus: Path, index: Index) -> None:
    pdf = corpus / "R-data-part.pdf"
    data = pdf.read_bytes()
    pdf.unlink()
    pdf.write_bytes(data)  # a new file (new mtime, new inode), the same content
    from ragloom.retrieval.sources import iter_documents

    update = Index.open(index.path).update(iter_documents(corpus))
    assert (update.added, update.changed, update.embedded, update.unchanged) == (0, 0, 0, 2)


def test_the_cli_reports_skipped_files_and_ends_with_a_summary(corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    md = tmp_path / "docs"
    md.mkdir()
    (md / "a.md").write_text("# A\n\nAlpha text about owls.", encoding="utf-8")
    (md / "bad.pdf").write_bytes(b"%PDF-1.7 truncated")
    (md / "junk.txt").write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(
        app, ["index", str(md), "--store", str(tmp_path / "s"), "--vector-store", "memory"]
    )
    assert result.exit_code == 0, result.output
    assert "skipped bad.pdf: corrupt" in result.output and "skipped junk.txt: binary" in result.output
    assert "1 files read (1 markdown), 2 skipped; 1 added" in result.output.splitlines()[-1]
    query = CliRunner().invoke(app, ["query", str(tmp_path / "s"), "owls", "-k", "1", "--mode", "bm25"])
    assert " a.md § A " in query.output  # hits print where they stand
    (md / "b.md").write_text("# B\n\nBeta text about rivers.", encoding="utf-8")
    (md / "a.md").write_bytes(b"\x00" * 64)  # damaged since the last run: its indexed chunks stay
    again = CliRunner().invoke(app, ["index", str(md), "--store", str(tmp_path / "s")])
    assert again.exit_code == 0, again.output
    assert "skipped a.md: binary" in again.output
    assert "1 added, 0 changed, 0 deleted, 1 unchanged" in again.output
    assert sorted(Index.open(tmp_path / "s").documents) == ["a.md", "b.md"]


def test_ask_reports_the_same_binary_file(corpus: Path) -> None:
    from ragloom.apps.qa import corpus_documents
    from ragloom.documents import IngestReport

    report = IngestReport()
    docs = corpus_documents(corpus, report)
    assert [d.id for d in docs] == ["R-data-part.pdf", "autoinc.html"]
    assert [(s.source, s.reason) for s in report.skipped] == [("binary.txt", "binary")]


def test_a_null_beir_body_is_an_error_naming_its_line_not_none(tmp_path: Path) -> None:
    import pytest

    from ragloom.core.errors import DatasetError
    from ragloom.retrieval.sources import iter_documents

    corpus = tmp_path / "corpus.jsonl"
    rows = [{"_id": "b", "text": "body"}, {"_id": "a", "title": "T", "text": None}]
    corpus.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: 'text' must be a string, got null"):
        list(iter_documents(corpus))
