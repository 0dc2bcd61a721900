"""Evaluation on files: a small docs-a subset (one SQLite page, three pages of R-data.pdf) through the real
ingestion layer, BM25 and the real MiniLM embedder; and ``ragloom eval`` on that folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.core.types import Chunk
from ragloom.eval.doc_system import RagloomDocumentSystem, heading_path, index_text
from ragloom.eval.files_harness import count_pages, evaluate_files, score_file_query
from ragloom.eval.filesets import load_files_dataset

#: R-data.pdf physical pages 8-10 become pages 1-3 of the subset; q51 (page 8) and q52 (page 10) move along.
PAGES = (8, 9, 10)
QUESTIONS = {"q06": None, "q51": 1, "q52": 3}


@pytest.fixture(scope="module")
def subset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pypdfium2

    src = shared_data / "docs-a"
    root = tmp_path_factory.mktemp("docs-sub")
    (root / "files").mkdir()
    shutil.copy(src / "files" / "autoinc.html", root / "files" / "autoinc.html")
    pdf, out = pypdfium2.PdfDocument(str(src / "files" / "R-data.pdf")), pypdfium2.PdfDocument.new()
    out.import_pages(pdf, [p - 1 for p in PAGES])
    out.save(str(root / "files" / "R-data.pdf"))
    for name in ("queries.jsonl", "answers.jsonl", "evidence.jsonl"):
        rows = [json.loads(line) for line in (src / name).read_text(encoding="utf-8").splitlines() if line]
        rows = [r for r in rows if r["_id"] in QUESTIONS]
        for r in rows:
            if name == "evidence.jsonl":
                r["page"] = QUESTIONS[r["_id"]]
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_ragloom_bm25_finds_file_page_and_answer(subset: Path) -> None:
    from ragloom.eval.chunk_stats import minilm_token_counter

    dataset = load_files_dataset(subset)
    system = RagloomDocumentSystem(dense=False)
    (result,) = evaluate_files(system, dataset, counter=minilm_token_counter(), keep_per_query=True)
    assert result.pipeline == "bm25" and result.n_queries == 3
    assert result.pages == count_pages(dataset.files_dir) == 1 + len(PAGES)
    assert result.chunks > 0 and result.ingest_seconds > 0 and result.latency_ms_p95 >= result.latency_ms_p50
    assert result.metrics["source@5"] == 1.0 and result.metrics["page@5"] == 1.0
    assert result.metrics["answer@1024"] >= result.metrics["answer@512"] >= result.metrics["answer@256"]
    assert result.metrics["answer@10"] == 1.0
    assert set(result.per_query) == set(QUESTIONS)


@pytest.mark.slow
def test_ragloom_dense_and_hybrid_on_real_minilm(subset: Path) -> None:
    from ragloom.eval.chunk_stats import minilm_token_counter

    dataset = load_files_dataset(subset)
    counter = minilm_token_counter()  # budgets in MiniLM tokens: no LLM tokenizer conversion in this test
    system = RagloomDocumentSystem(heading_prefix=True)
    results = evaluate_files(system, dataset, counter=counter, window_counter=counter)
    by_name = {r.pipeline: r for r in results}
    assert set(by_name) == {"bm25", "dense", "hybrid"}
    assert by_name["hybrid"].metrics["page@10"] == 1.0
    # the structure-aware chunker keeps every chunk inside MiniLM's window and indexes no markup
    assert by_name["hybrid"].chunk_stats["over_window_share"] == 0.0
    assert by_name["hybrid"].chunk_stats["markup_chunks"] == 0.0


def test_heading_prefix_is_seen_by_the_index_not_the_chunk() -> None:
    chunk = Chunk("text", "a.pdf", 0, 4, {"title": "R Data", "section": "2 Spreadsheet-like data"})
    assert heading_path(chunk) == "R Data > 2 Spreadsheet-like data"
    assert index_text(chunk, True) == "R Data > 2 Spreadsheet-like data\ntext"
    assert index_text(chunk, False) == "text"
    same = Chunk("t", "b", 0, 1, {"title": "WAL", "section": "WAL > Checkpointing"})
    assert heading_path(same) == "WAL > Checkpointing"


def test_score_file_query_reports_every_metric() -> None:
    class FakeWordCounter:
        def count_tokens(self, text: str) -> int:
            return len(text.split())

    from ragloom.core.types import Hit

    hits = [
        Hit(
            Chunk("read.fwf reads fixed width", "R-data.pdf", 0, 26, {"source": "R-data.pdf", "page": 15}),
            1.0,
        )
    ]
    scores = score_file_query(hits, ["read.fwf"], "R-data.pdf", 15, FakeWordCounter())
    assert scores["answer@256"] == scores["answer@1"] == scores["source@1"] == scores["page@1"] == 1.0
    assert len(scores) == 3 + 3 * 4 - 3


def test_cli_eval_on_a_files_dataset(subset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ragloom.cli import app
    from ragloom.eval.chunk_stats import minilm_token_counter
    from ragloom.retrieval.select import base

    # budgets in the selectors' shared tokenizer; MiniLM's spares this test the LLM tokenizer conversion
    monkeypatch.setattr(base, "_shared_default", base.CachedTokenCounter(minilm_token_counter()))

    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["eval", str(subset), "-p", "bm25", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "page@5" in result.output and "answer@512" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data[0]["pipeline"] == "bm25" and data[0]["metrics"]["page@5"] == 1.0


def test_cli_eval_rejects_an_unknown_files_pipeline(subset: Path) -> None:
    from ragloom.cli import app

    result = CliRunner().invoke(app, ["eval", str(subset), "-p", "bm25,colbert"])
    assert result.exit_code == 2
    assert "colbert" in result.output
