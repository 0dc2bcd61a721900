"""Shared fixtures: the shared datasets folder and a per-test ragloom cache dir."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ragloom.core.paths import data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "scifact").is_dir():
        pytest.fail(
            f"shared datasets not found at {path}; set RAGLOOM_DATA to the folder holding scifact/ etc."
        )
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep test caches out of the user cache dir; one cache per session (model conversions are shared)."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ragloom-cache"))


@pytest.fixture
def beir_folder(tmp_path: Path) -> Callable[..., Path]:
    """Writes a tiny BEIR folder under ``tmp_path``: ``write(docs, questions, name="tiny")`` with docs as
    (id, title, text) and questions as (id, text, gold doc id, answer); each question judges its one doc."""

    def write(
        docs: Sequence[tuple[str, str, str]],
        questions: Sequence[tuple[str, str, str, str]],
        name: str = "tiny",
    ) -> Path:
        root = tmp_path / name
        (root / "qrels").mkdir(parents=True)
        corpus = [json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs]
        (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
        (root / "queries.jsonl").write_text(
            "\n".join(json.dumps({"_id": q, "text": t}) for q, t, *_ in questions)
        )
        answers = [json.dumps({"_id": q, "answers": [a]}) for q, *_, a in questions]
        (root / "answers.jsonl").write_text("\n".join(answers))
        rows = "".join(f"{q}\t{d}\t1\n" for q, _, d, _ in questions)
        (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
        return root

    return write
