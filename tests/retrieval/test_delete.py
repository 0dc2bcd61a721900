"""Index.delete and ``ragloom index --delete``: a document leaves every index (chunks, BM25, vectors,
manifest, graph), an unknown id changes nothing, and ``ragloom query --where`` scopes the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.core.errors import ConfigError
from ragloom.core.types import Document
from ragloom.retrieval.index import Index

pytestmark = pytest.mark.slow

TEXTS = {
    "r/intro.pdf": ("pdf", "R vectors and arrays: the basic data structures of the R language."),
    "r/io.pdf": ("pdf", "read.fwf reads fixed-width formatted files into an R data frame."),
    "sql/select.html": ("html", "SQLite SELECT statements join rows of two tables with JOIN."),
    "sql/wal.html": ("html", "Write-ahead logging in SQLite: the WAL journal mode and checkpoints."),
    "notes/tea.md": ("md", "Green tea is made from unoxidized leaves of Camellia sinensis."),
}


def docs() -> list[Document]:
    return [Document(i, t, {"source": i, "format": f}) for i, (f, t) in TEXTS.items()]


def everything(index: Index, query: str) -> set[str]:
    """Doc ids any flat retriever returns for ``query`` (k = all)."""
    return {
        h.doc_id for mode in ("bm25", "dense", "hybrid") for h in index.retriever(mode).retrieve(query, 10)
    }


@pytest.mark.parametrize("store", ["chroma", "memory"])
def test_delete_removes_a_document_from_every_part(store, embedder, tmp_path):
    path = tmp_path / "idx"
    index = Index.build(path, docs(), embedder=embedder, vector_store=store)
    doomed_keys = set(index.manifest.docs["r/io.pdf"].keys)
    assert "r/io.pdf" in everything(index, "fixed-width files read.fwf")

    report = index.delete(["r/io.pdf"])

    assert (report.deleted, report.chunks) == (1, 4)
    for opened in (index, Index.open(path, embedder)):  # in memory and as committed on disk
        assert "r/io.pdf" not in opened.documents
        assert all(c.doc_id != "r/io.pdf" for c in opened.chunks)
        assert all(c.doc_id != "r/io.pdf" for c in opened.bm25().chunks)
        assert not doomed_keys & set(opened.store.ids())  # type: ignore[attr-defined]
        assert "r/io.pdf" not in everything(opened, "fixed-width files read.fwf")
        assert opened.retrieve("SQLite write-ahead log", 1)[0].doc_id == "sql/wal.html"
    assert len([p for p in path.iterdir() if p.name.startswith("gen-")]) == 1


def test_delete_unknown_id_changes_nothing(embedder, tmp_path):
    index = Index.build(tmp_path / "idx", docs(), embedder=embedder, vector_store="memory")
    generation = index.manifest.generation
    with pytest.raises(ConfigError, match=r"no document 'r/nope\.pdf'.*nothing was deleted"):
        index.delete(["notes/tea.md", "r/nope.pdf"])
    reopened = Index.open(tmp_path / "idx", embedder)
    assert reopened.manifest.generation == generation and len(reopened.documents) == 5
    with pytest.raises(ConfigError, match="no document ids"):
        index.delete([])


def test_update_after_delete_reindexes_the_document(embedder, tmp_path):
    index = Index.build(tmp_path / "idx", docs(), embedder=embedder, vector_store="chroma")
    index.delete(["notes/tea.md", "sql/wal.html"])
    report = index.update(docs())
    assert (report.added, report.unchanged) == (2, 3)
    assert index.retrieve("Camellia sinensis leaves", 1)[0].doc_id == "notes/tea.md"


def test_the_graph_index_follows(embedder, tmp_path):
    from ragloom.retrieval.graph.graph_index import GraphIndex
    from ragloom.retrieval.graph.records import chunk_node, entity_node
    from ragloom.retrieval.graph.store import graph_dir, open_graph_retriever

    path = tmp_path / "idx"
    index = Index.build(path, docs(), embedder=embedder, vector_store="memory")
    graph = GraphIndex(embedder=embedder)
    graph.update(docs())
    graph.save(graph_dir(path))
    tea_chunks = graph.doc_chunks["notes/tea.md"]
    assert entity_node("camellia sinensis") in graph.graph

    index.delete(["notes/tea.md"])

    after = GraphIndex.load(graph_dir(path), embedder=embedder)
    assert "notes/tea.md" not in after.doc_hashes
    assert not any(chunk_node(c) in after.graph for c in tea_chunks)
    assert entity_node("camellia sinensis") not in after.graph  # nothing else mentions it
    assert "camellia sinensis" not in after.entity_names
    retriever = open_graph_retriever(path, embedder=embedder)
    assert "notes/tea.md" not in {h.doc_id for h in retriever.retrieve("Camellia sinensis green tea", 10)}
    # an id only the graph still holds (a delete killed between the two commits) is finished, not refused
    graph.save(graph_dir(path))
    Index.open(path, embedder).delete(["notes/tea.md"])
    assert "notes/tea.md" not in GraphIndex.load(graph_dir(path), embedder=embedder).doc_hashes


def test_cli_delete_and_query_where(embedder, tmp_path):
    path = tmp_path / "idx"
    Index.build(path, docs(), embedder=embedder, vector_store="memory")
    runner = CliRunner()

    done = runner.invoke(
        app, ["index", "--store", str(path), "--delete", "r/io.pdf", "--delete", "notes/tea.md"]
    )
    assert done.exit_code == 0, done.output
    assert "deleted from" in done.output and "2 documents" in done.output
    assert set(Index.open(path, embedder).documents) == {"r/intro.pdf", "sql/select.html", "sql/wal.html"}

    where = json.dumps({"source": {"$glob": "sql/*.html"}})
    done = runner.invoke(
        app, ["query", str(path), "R vectors and arrays", "-k", "5", "--json", "--where", where]
    )
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in done.output.splitlines() if line.startswith("{")]
    assert {r["doc_id"] for r in rows} == {"sql/select.html", "sql/wal.html"}

    bad = runner.invoke(app, ["query", str(path), "x", "--where", '{"page": {"$gte": "ten"}}'])
    assert bad.exit_code == 2 and "'page'" in bad.output and "'$gte'" in bad.output
    bad = runner.invoke(app, ["query", str(path), "x", "--where", "source=*.pdf"])
    assert bad.exit_code == 2 and "--where must be a JSON object" in bad.output
    bad = runner.invoke(app, ["index", "--store", str(path), "--delete", "nope"])
    assert bad.exit_code == 2 and "no document 'nope'" in bad.output
