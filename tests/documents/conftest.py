"""docs-a (real SQLite HTML pages and R manual PDFs) and small files written per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from doc_files import write_docx, write_epub


@pytest.fixture(scope="session")
def docs_a(shared_data: Path) -> Path:
    return shared_data / "docs-a"


@pytest.fixture(scope="session")
def docs_a_files(docs_a: Path) -> Path:
    return docs_a / "files"


@pytest.fixture
def docx_file(tmp_path: Path) -> Path:
    return write_docx(tmp_path / "guide.docx")


@pytest.fixture
def epub_file(tmp_path: Path) -> Path:
    return write_epub(tmp_path / "book.epub")
