"""Index folders under stress: readers outliving a generation, damaged files, bad input to update."""

from __future__ import annotations

import pytest

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.types import Document
from ragloom.retrieval.index import Index
from ragloom.retrieval.manifest import Manifest

DOCS = [
    Document("paris", "Paris is the capital of France."),
    Document("cats", "Cats sleep most of the day."),
]


@pytest.mark.slow
def test_a_reader_whose_memory_vectors_were_replaced_fails_loudly(embedder, tmp_path):
    """A reader opened at generation 1 must not answer dense queries from an empty store once a writer has
    committed generation 2 and removed generation 1's vectors (it used to return [] silently)."""
    path = tmp_path / "idx"
    Index.build(path, DOCS, embedder=embedder, vector_store="memory")
    reader = Index.open(path, embedder)
    Index.open(path, embedder).update([*DOCS, Document("owls", "Owls are nocturnal birds.")])
    with pytest.raises(IndexError_, match=r"vectors\.npz") as info:
        reader.dense().retrieve("sleeping cats", 2)
    assert str(path) in str(info.value) and "reopen" in str(info.value)
    # a fresh reader sees the new generation and every document
    hits = Index.open(path, embedder).dense().retrieve("sleeping cats", 3)
    assert hits[0].doc_id == "cats" and len(hits) == 3


@pytest.mark.slow
def test_a_missing_vector_file_is_an_error_not_an_empty_index(embedder, tmp_path):
    path = tmp_path / "idx"
    Index.build(path, DOCS, embedder=embedder, vector_store="memory")
    (vectors,) = path.glob("gen-*/vectors.npz")
    vectors.unlink()
    index = Index.open(path, embedder)
    assert index.bm25().retrieve("cats", 1)[0].doc_id == "cats"  # what is intact still works
    with pytest.raises(IndexError_, match=r"vectors\.npz"):
        index.dense().retrieve("cats", 1)


def test_duplicate_document_ids_are_an_error_and_nothing_is_written(embedder, tmp_path):
    """Two input documents with one id used to keep the last one silently (one document lost)."""
    path = tmp_path / "idx"
    index = Index.create(path, embedder=embedder, vector_store="memory")
    dupes = [*DOCS, Document("paris", "Paris is also a town in Texas.")]
    with pytest.raises(ConfigError, match=r"'paris'.*(twice|more than once)"):
        index.update(dupes)
    assert not (path / "manifest.json").exists()
    assert not list(path.glob("gen-*"))


@pytest.mark.parametrize("text", ["[]", "null", '"x"', "3"])
def test_a_manifest_that_is_not_an_object_is_a_clear_error(text, tmp_path):
    with pytest.raises(IndexError_, match="unreadable index manifest"):
        Manifest.from_json(text)
    (tmp_path / "manifest.json").write_text(text, encoding="utf-8")
    with pytest.raises(IndexError_, match="unreadable index manifest") as info:
        Index.open(tmp_path)
    assert str(tmp_path) in str(info.value)  # says which index folder is damaged


def test_a_beir_corpus_with_a_byte_order_mark_reads_like_a_plain_one(tmp_path):
    from ragloom.retrieval.sources import iter_documents

    lines = ['{"_id": "a", "title": "T", "text": "Alpha."}', '{"_id": "b", "text": "Beta."}']
    (tmp_path / "plain.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8"))
    assert list(iter_documents(tmp_path / "bom.jsonl")) == list(iter_documents(tmp_path / "plain.jsonl"))


@pytest.mark.slow
def test_the_memory_store_after_an_update_points_at_the_committed_file(embedder, tmp_path):
    """It used to keep the path of the temp folder the generation was written in (renamed away since), so
    ``index.store.save()`` recreated that folder instead of writing the generation's file."""
    path = tmp_path / "idx"
    index = Index.build(path, DOCS, embedder=embedder, vector_store="memory")
    assert index.store.path == path / "gen-000001" / "vectors.npz"
    index.store.save()
    assert sorted(p.name for p in path.iterdir() if p.name.startswith("gen-")) == ["gen-000001"]
