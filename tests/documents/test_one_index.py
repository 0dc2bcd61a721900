"""One folder, one set of chunks: every entry point that indexes a folder of files (``Index.build``, ``ragloom
index``, ``ragloom ask``, the flow-eval / search cache, the files harness of ``ragloom eval DIR`` and the
documents benchmark, the graph index) cuts it into the same chunks; an index or cache cut by other chunking
code or other settings is re-chunked or kept apart, never reused as if current."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ragloom.core.types import Chunk
from ragloom.documents.settings import ChunkSettings, chunking_version
from ragloom.retrieval.index import Index
from ragloom.retrieval.sources import iter_documents

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, docs_a_files: Path) -> Path:
    """Two real SQLite pages and pages 13-15 of R-data.pdf: a few dozen chunks."""
    from pypdf import PdfReader, PdfWriter

    root = tmp_path_factory.mktemp("files")
    for name in ("autoinc.html", "lang_attach.html"):
        shutil.copy(docs_a_files / name, root / name)
    writer = PdfWriter()
    writer.append(PdfReader(str(docs_a_files / "R-data.pdf")), pages=(12, 15))
    with open(root / "R-data-part.pdf", "wb") as f:
        writer.write(f)
    return root


def rows(chunks: list[Chunk]) -> list[tuple[str, str, dict[str, Any]]]:
    """What must match: id, text and metadata of every chunk (order by document and span)."""
    ordered = sorted(chunks, key=lambda c: (c.doc_id, c.start, c.end))
    return [(c.id, c.text, json.loads(json.dumps(c.metadata))) for c in ordered]


@pytest.fixture(scope="module")
def expected(folder: Path) -> list[tuple[str, str, dict[str, Any]]]:
    return rows(ChunkSettings.for_source(folder).chunk(iter_documents(folder)))


def test_the_default_of_a_folder_is_structured_and_of_a_beir_corpus_whole_passages(
    folder: Path, shared_data: Path
) -> None:
    assert ChunkSettings.for_source(folder) == ChunkSettings("structured")
    assert ChunkSettings.for_source(shared_data / "scifact").chunker == "document"


def test_every_entry_point_gives_the_same_chunks(
    folder: Path, expected: list[tuple[str, str, dict[str, Any]]], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ragloom.apps.qa import build_index, corpus_documents
    from ragloom.cli import app
    from ragloom.eval.doc_system import RagloomDocumentSystem
    from ragloom.eval.files_index import files_index_resources

    assert len(expected) >= 10 and {m["format"] for _, _, m in expected} == {"html", "pdf"}
    api = Index.build(tmp_path / "api", folder, vector_store="memory")
    cli = CliRunner().invoke(app, ["index", str(folder), "--store", str(tmp_path / "cli")])
    assert cli.exit_code == 0, cli.output
    resources, facts = files_index_resources(folder)  # ragloom eval FLOW --dataset / ragloom search
    ask = build_index(corpus_documents(folder), tmp_path / "ask", late_chunking=False)
    harness = RagloomDocumentSystem(dense=False).ingest(folder)  # ragloom eval DIR, benchmarks/documents.py
    assert rows(api.chunks) == expected
    assert rows(Index.open(tmp_path / "cli").chunks) == expected
    assert rows(resources["index"].chunks) == expected and facts["index_chunks"] == len(expected)
    assert rows(ask.chunks) == expected
    assert rows(list(harness)) == expected


def test_the_graph_index_cuts_documents_as_the_flat_index_does(
    folder: Path, expected: list[tuple[str, str, dict[str, Any]]]
) -> None:
    from ragloom.retrieval.graph.graph_index import GraphIndex

    graph = GraphIndex(chunker=ChunkSettings().make())
    assert rows([c for d in iter_documents(folder) for c in graph.chunks_of(d)]) == expected


def test_an_index_cut_by_other_chunking_code_is_re_chunked_not_reused(
    folder: Path,
    expected: list[tuple[str, str, dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The docs-a case: the documents did not change, the chunker did (2,657 chunks then, 2,185 now)."""
    from typer.testing import CliRunner

    from ragloom.cli import app
    from ragloom.documents.chunker import StructuredChunker

    store = tmp_path / "old"
    with monkeypatch.context() as older:  # yesterday's chunker: smaller chunks, another code version
        older.setattr(StructuredChunker.__init__, "__defaults__", (60, 80, 16, True))
        older.setattr("ragloom.retrieval.index.chunking_version", lambda name: "older-code")
        old = Index.build(store, folder, vector_store="memory")
    assert len(old) > len(expected) and old.manifest.chunker_version == "older-code"
    again = CliRunner().invoke(app, ["index", str(folder), "--store", str(store)])
    assert again.exit_code == 0, again.output
    assert "re-chunked 3 unchanged documents: the chunking code changed" in again.output
    index = Index.open(store)
    assert rows(index.chunks) == expected
    assert index.manifest.chunker_version == chunking_version("structured")


def test_an_index_from_before_versions_is_re_chunked_in_place_keeping_its_vectors(
    folder: Path, expected: list[tuple[str, str, dict[str, Any]]], tmp_path: Path
) -> None:
    store = tmp_path / "unversioned"
    Index.build(store, folder, vector_store="memory")
    manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
    del manifest["chunker_version"]  # written by code that did not record it (such as the 2,657-chunk caches)
    (store / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    index = Index.open(store)  # still opens and answers
    assert index.manifest.chunker_version == "" and rows(index.chunks) == expected
    report = index.update(iter_documents(folder))
    assert (report.changed, report.rechunked, report.embedded) == (3, 3, 0)  # same chunks: vectors kept
    assert Index.open(store).manifest.chunker_version == chunking_version("structured")
    assert index.update(iter_documents(folder)).rechunked == 0


def test_a_partial_update_keeps_the_old_version_until_every_document_is_re_chunked(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "partial"
    with monkeypatch.context() as older:
        older.setattr("ragloom.retrieval.index.chunking_version", lambda name: "older-code")
        Index.build(store, folder, vector_store="memory")
    one = [d for d in iter_documents(folder) if d.id == "autoinc.html"]
    report = Index.open(store).update(one, delete_missing=False)
    assert (report.rechunked, report.unchanged) == (1, 2)
    assert Index.open(store).manifest.chunker_version == "older-code"  # two documents still cut by it


def test_the_eval_cache_is_kept_per_chunk_settings_and_embedder(
    folder: Path, expected: list[tuple[str, str, dict[str, Any]]]
) -> None:
    from ragloom.eval.files_index import files_index_dir, files_index_resources
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    small = ChunkSettings("structured", {"target_tokens": 60, "max_tokens": 80})
    assert files_index_dir(folder) == files_index_dir(folder, ChunkSettings())
    assert files_index_dir(folder, small) != files_index_dir(folder)
    fp32, bf16 = (SentenceTransformerEmbedder(precision=p, cache_dir=False) for p in ("fp32", "bf16"))
    assert files_index_dir(folder, embedder=fp32) != files_index_dir(folder, embedder=bf16)
    resources, facts = files_index_resources(folder, settings=small)
    assert facts["index"] == str(files_index_dir(folder, small))
    assert len(resources["index"].chunks) > len(expected)
    assert rows(resources["index"].chunks) == rows(small.chunk(iter_documents(folder)))


def test_the_chunking_version_covers_the_code_that_cuts_chunks() -> None:
    from ragloom.documents.settings import _sources

    assert set(_sources("ragloom.documents.chunker")) >= {
        "ragloom.documents.chunker",
        "ragloom.chunking.sentence",
        "ragloom.chunking.base",
    }
    versions = {name: chunking_version(name) for name in ("structured", "sentence", "document")}
    assert len(set(versions.values())) == 3
    assert chunking_version("structured") == ChunkSettings().version


def test_a_cached_graph_cut_by_other_chunking_is_rebuilt_with_the_flat_index_chunks(
    docs_a_files: Path, tmp_path: Path
) -> None:
    from ragloom.eval.flow_resources import ensure_graph
    from ragloom.retrieval.graph.graph_index import GraphIndex

    (tmp_path / "files").mkdir()
    shutil.copy(docs_a_files / "lang_attach.html", tmp_path / "files" / "lang_attach.html")
    docs = list(iter_documents(tmp_path / "files"))
    flat = {c.id for c in ChunkSettings().chunk(docs)}
    first = ensure_graph(tmp_path / "store", docs, "structured", {})
    assert first["graph_cache"].startswith("built") and len(flat) >= 3
    assert ensure_graph(tmp_path / "store", docs, "structured", {})["graph_cache"].startswith("warm")
    record = tmp_path / "store" / "graph" / "chunking.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "version": "older-code"}))
    assert ensure_graph(tmp_path / "store", docs, "structured", {})["graph_cache"].startswith("built")
    assert set(GraphIndex.load(tmp_path / "store" / "graph").records) == flat
    record.unlink()  # a graph from before the record: rebuilt, unless its chunks are whole documents
    assert ensure_graph(tmp_path / "store", docs, "structured", {})["graph_cache"].startswith("built")
    assert ensure_graph(tmp_path / "whole", docs, "document")["graph_cache"].startswith("built")
    (tmp_path / "whole" / "graph" / "chunking.json").unlink()
    assert ensure_graph(tmp_path / "whole", docs, "document")["graph_cache"].startswith("warm")


def test_a_beir_corpus_gives_the_same_passages_to_the_index_and_the_eval_pipelines(tmp_path: Path) -> None:
    import tiny_beir

    from ragloom.eval.build import CorpusIndex
    from ragloom.eval.datasets import indexable_documents, load_dataset
    from ragloom.eval.pipelines import ComponentSpec
    from ragloom.retrieval.embedders import default_embedder

    beir = tiny_beir.write_beir(tmp_path / "beir")
    settings = ChunkSettings.for_source(beir)
    expected = rows(settings.chunk(iter_documents(beir)))
    index = Index.build(tmp_path / "index", beir, vector_store="memory")  # ragloom index corpus.jsonl
    documents = indexable_documents(load_dataset(beir), with_title=True)
    embedder = default_embedder()  # not loaded: chunking needs no model
    pipelines = CorpusIndex(documents, ComponentSpec(settings.chunker), embedder, embedder)  # ragloom eval
    assert len(expected) == len(tiny_beir.DOCS)
    assert rows(index.chunks) == expected and rows(pipelines.chunks) == expected
