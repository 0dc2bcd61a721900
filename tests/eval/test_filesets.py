"""The docs-a layout: detection, loading, validation errors that name file and line, splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.core.errors import DatasetError
from ragloom.eval.filesets import Evidence, is_files_dataset, load_files_dataset


def write_dataset(root: Path, evidence: list[dict] | None = None) -> Path:
    (root / "files").mkdir(parents=True)
    (root / "files" / "a.md").write_text("# A\n\nThe answer is 42.\n", encoding="utf-8")
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "What is the answer?"}) + "\n", encoding="utf-8"
    )
    (root / "answers.jsonl").write_text(json.dumps({"_id": "q1", "answers": ["42"]}) + "\n", encoding="utf-8")
    rows = (
        evidence if evidence is not None else [{"_id": "q1", "source": "a.md", "page": None, "evidence": "x"}]
    )
    (root / "evidence.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_docs_a_loads_with_sixty_questions(shared_data: Path) -> None:
    root = shared_data / "docs-a"
    assert is_files_dataset(root) and not is_files_dataset(shared_data / "scifact")
    data = load_files_dataset(root)
    assert len(data.queries) == 60 and set(data.answers) == set(data.queries) == set(data.evidence)
    pdf = [e for e in data.evidence.values() if e.source.endswith(".pdf")]
    assert len(pdf) == 30 and all(e.page is not None and e.page >= 1 for e in pdf)
    assert data.qrels["q01"] == {"limits.html": 1}
    dev, test = data.split("dev"), data.split("test")
    assert set(dev.queries) | set(test.queries) == set(data.queries)
    assert not set(dev.queries) & set(test.queries)
    assert list(data.limit(3).queries) == ["q01", "q02", "q03"]


def test_small_dataset_loads(tmp_path: Path) -> None:
    data = load_files_dataset(write_dataset(tmp_path / "d"))
    assert data.evidence == {"q1": Evidence("a.md", None)}
    assert data.qrels == {} and data.sources() == ["a.md"]


def test_evidence_naming_a_missing_file_is_an_error_with_the_line(tmp_path: Path) -> None:
    rows = [{"_id": "q1", "source": "gone.pdf", "page": 3}]
    with pytest.raises(DatasetError, match=r"evidence.jsonl:1: source 'gone.pdf' is not a file"):
        load_files_dataset(write_dataset(tmp_path / "d", rows))


def test_bad_page_is_an_error(tmp_path: Path) -> None:
    rows = [{"_id": "q1", "source": "a.md", "page": 0}]
    with pytest.raises(DatasetError, match=r"evidence.jsonl:1: page must be a 1-based integer"):
        load_files_dataset(write_dataset(tmp_path / "d", rows))


def test_query_without_evidence_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"query 'q1' has no record in evidence.jsonl"):
        load_files_dataset(write_dataset(tmp_path / "d", []))


def test_a_beir_folder_is_not_a_files_dataset(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d")
    (root / "corpus.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match="not a files dataset"):
        load_files_dataset(root)
