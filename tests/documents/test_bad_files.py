"""Bad files are reported with name and reason and skipped; the rest of the folder is read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from doc_files import encrypted_pdf, write_epub, zip_bytes

from ragloom.core.errors import DocumentError
from ragloom.documents import IngestReport, iter_documents, load_file, load_folder


@pytest.fixture
def messy_folder(tmp_path: Path, docs_a_files: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "good.md").write_text("# Good\n\nReadable text.", encoding="utf-8")
    (root / "sub" / "page.html").write_bytes((docs_a_files / "autoinc.html").read_bytes())
    (root / "secret.pdf").write_bytes(encrypted_pdf(docs_a_files / "R-data.pdf"))
    (root / "truncated.pdf").write_bytes((docs_a_files / "R-data.pdf").read_bytes()[:50_000])
    (root / "empty.txt").write_bytes(b"")
    rng = os.urandom(4096)
    (root / "noise.pdf").write_bytes(rng)
    (root / "noise.txt").write_bytes(b"\x00\x01" + rng)
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng)
    (root / "table.xyz").write_text("a,b\n1,2\n", encoding="utf-8")
    (root / "archive.docx").write_bytes(zip_bytes({"hello.txt": "not word"}))
    (root / "locked.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + rng)
    write_epub(root / "drm.epub", encrypted=True)
    (root / ".hidden.txt").write_text("ignored", encoding="utf-8")
    return root


def test_a_bad_file_never_stops_the_run(messy_folder: Path) -> None:
    docs, report = load_folder(messy_folder)
    assert [d.id for d in docs] == ["good.md", "sub/page.html"]
    reasons = {s.source: s.reason for s in report.skipped}
    assert reasons == {
        "archive.docx": "unsupported",
        "drm.epub": "encrypted",
        "empty.txt": "empty",
        "locked.docx": "encrypted",
        "noise.pdf": "corrupt",
        "noise.txt": "binary",
        "picture.png": "unsupported",
        "secret.pdf": "encrypted",
        "table.xyz": "unsupported",
        "truncated.pdf": "corrupt",
    }
    assert report.loaded == 2 and report.by_format == {"html": 1, "markdown": 1}
    assert report.summary() == "2 files read (1 html, 1 markdown), 10 skipped"
    assert "skipped secret.pdf: encrypted (the PDF is encrypted (a password is required))" in report.lines()


def test_a_single_bad_file_raises_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "zero.pdf"
    path.write_bytes(b"")
    with pytest.raises(DocumentError, match=r"^zero\.pdf: the file is empty") as info:
        load_file(path)
    assert info.value.reason == "empty"


def test_an_empty_user_password_pdf_still_reads(tmp_path: Path, docs_a_files: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(str(docs_a_files / "R-data.pdf")), pages=(0, 1))
    writer.encrypt("", "owner-only")
    out = io.BytesIO()
    writer.write(out)
    (tmp_path / "owner.pdf").write_bytes(out.getvalue())
    assert "R Data Import/Export" in load_file(tmp_path / "owner.pdf").text


def test_a_missing_path_is_a_config_error(tmp_path: Path) -> None:
    from ragloom.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        list(iter_documents(tmp_path / "nope", IngestReport()))
