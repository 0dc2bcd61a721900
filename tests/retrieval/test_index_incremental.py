"""Index folders: incremental updates re-embed only what changed; deletes; settings; chunkers; sources."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.types import Document
from ragloom.retrieval.index import Index
from ragloom.retrieval.sources import iter_documents

pytestmark = pytest.mark.slow  # real embedding model


def texts(index: Index) -> dict[str, str]:
    return {c.doc_id: c.text for c in index.chunks}


@pytest.mark.parametrize("store", ["chroma", "memory"])
def test_only_changed_documents_are_re_embedded(store, tiny_docs, counting_embedder, tmp_path):
    path = tmp_path / "idx"
    index = Index.create(path, embedder=counting_embedder, vector_store=store)
    report = index.update(tiny_docs)
    assert (report.added, report.embedded, report.chunks) == (8, 8, 8)
    assert len(counting_embedder.texts) == 8

    # unchanged input: nothing to do
    counting_embedder.texts.clear()
    assert Index.open(path, counting_embedder).update(tiny_docs).embedded == 0
    assert counting_embedder.texts == []

    # change one document: only it is embedded, and every retriever sees the new text
    changed = [
        d if d.id != "tea" else Document("tea", "Matcha is powdered green tea whisked with hot water.")
        for d in tiny_docs
    ]
    index = Index.open(path, counting_embedder)
    report = index.update(changed)
    assert (report.changed, report.unchanged, report.embedded) == (1, 7, 1)
    assert counting_embedder.texts == ["Matcha is powdered green tea whisked with hot water."]
    for mode in ("bm25", "dense", "hybrid"):
        hits = index.retriever(mode).retrieve("powdered matcha", 1)
        assert hits[0].doc_id == "tea" and hits[0].text.startswith("Matcha"), mode
    assert len(index.store) == 8  # the old vector of "tea" was removed

    # delete one and add one: one embedding, the deleted one is gone everywhere
    counting_embedder.texts.clear()
    final = [d for d in changed if d.id != "cats"] + [Document("owls", "Owls are nocturnal birds of prey.")]
    reopened = Index.open(path, counting_embedder)
    report = reopened.update(final)
    assert (report.added, report.deleted, report.embedded) == (1, 1, 1)
    assert "cats" not in texts(Index.open(path, counting_embedder))
    assert all(h.doc_id != "cats" for h in reopened.dense().retrieve("cats sleeping mammals", 8))
    assert len(reopened.store) == 8
    assert sorted(p.name for p in path.iterdir() if p.name.startswith("gen-")) == [
        "gen-000003"
    ]  # noop updates write nothing


def test_partial_update_keeps_missing_documents(tiny_docs, counting_embedder, tmp_path):
    index = Index.build(tmp_path / "idx", tiny_docs, embedder=counting_embedder, vector_store="memory")
    report = index.update([Document("owls", "Owls are nocturnal birds of prey.")], delete_missing=False)
    assert (report.added, report.deleted, report.unchanged) == (1, 0, 8)
    assert len(Index.open(tmp_path / "idx", counting_embedder)) == 9


def test_chunker_and_settings_are_kept(counting_embedder, tmp_path):
    doc = Document("long", " ".join(f"word{i}" for i in range(50)))
    index = Index.build(
        tmp_path / "idx",
        [doc],
        embedder=counting_embedder,
        chunker="window",
        chunker_params={"words": 20},
        vector_store="memory",
    )
    assert len(index) == 3
    assert all(doc.text[c.start : c.end] == c.text for c in index.chunks)
    assert index.bm25().retrieve("word45", 1)[0].text.startswith("word40")
    kept = Index.create(tmp_path / "idx", embedder=counting_embedder)  # settings not given: the index's own
    assert (kept.manifest.chunker, kept.manifest.chunker_params) == ("window", {"words": 20})
    with pytest.raises(ConfigError, match="was built with"):
        Index.create(tmp_path / "idx", embedder=counting_embedder, chunker="sentence")
    with pytest.raises(ConfigError, match="unknown chunker"):
        Index.create(tmp_path / "other", embedder=counting_embedder, chunker="magic")
    with pytest.raises(ConfigError, match="vector store"):
        Index.create(tmp_path / "other", embedder=counting_embedder, vector_store="qdrant")
    with pytest.raises(IndexError_, match="no index at"):
        Index.open(tmp_path / "nothing-here")


def test_late_chunking_index(counting_embedder, tmp_path):
    doc = Document(
        "carol", "Marley was dead: to begin with. Scrooge signed it. Old Marley was as dead as a door-nail."
    )
    index = Index.build(
        tmp_path / "idx",
        [doc],
        embedder=counting_embedder,
        chunker="sentence",
        chunker_params={"target_words": 5},
        vector_store="memory",
        late_chunking=True,
    )
    assert len(index) >= 2
    # late chunking pools token vectors of the whole text; the default mix adds each chunk's own embedding
    assert counting_embedder.texts and all(t in doc.text for t in counting_embedder.texts)
    assert index.dense().retrieve("Scrooge signed", 1)[0].text.startswith("Scrooge")


def test_late_chunking_runs_each_document_through_the_model_once(counting_embedder, tmp_path):
    """Chunks are embedded in batches of _EMBED_BATCH; a document whose chunks span two or three batches
    still gets one token-level pass (the expensive transformer run) per build, not one per batch."""
    from collections import Counter

    from ragloom.chunking.late import late_chunk_embed
    from ragloom.retrieval.index import _EMBED_BATCH

    def words(tag: str, chunks: int) -> str:  # the window chunker below makes one chunk per 3 words
        return " ".join(f"{tag}{i}" for i in range(3 * chunks))

    n = _EMBED_BATCH
    docs = [
        Document("long", words("alpha", n + 10)),  # batches 1-2
        Document("short", words("beta", 4)),  # inside batch 2
        Document("mid", words("gamma", n - 5)),  # batches 2-3
    ]
    index = Index.build(
        tmp_path / "idx",
        docs,
        embedder=counting_embedder,
        chunker="window",
        chunker_params={"words": 3},
        vector_store="memory",
        late_chunking=True,
    )
    assert len(index) == 2 * n + 9  # three batches
    doc_of = {d.text: d.id for d in docs}
    assert Counter(doc_of[t] for t in counting_embedder.token_texts) == {"long": 1, "short": 1, "mid": 1}

    # same vectors as late chunking the whole document in one call
    mid = [c for c in index.chunks if c.doc_id == "mid"]
    stored = index.store.get_vectors(index.manifest.docs["mid"].keys)
    np.testing.assert_allclose(
        stored, late_chunk_embed(counting_embedder.inner, docs[2].text, mid), atol=1e-5
    )

    # an incremental update runs only the changed document through the model, once
    counting_embedder.token_texts.clear()
    changed = Document("short", words("delta", 4))
    report = Index.open(tmp_path / "idx", counting_embedder).update([docs[0], changed, docs[2]])
    assert (report.changed, report.embedded) == (1, 4)
    assert counting_embedder.token_texts == [changed.text]


def test_sources_text_folder_and_beir(tmp_path):
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"line one\r\nline two")
    (folder / "sub" / "b.md").write_text("# Title\n\nBody", encoding="utf-8")
    (folder / "skip.bin").write_bytes(b"\x00")
    docs = list(iter_documents(folder))
    assert [d.id for d in docs] == ["a.txt", "sub/b.md"]
    assert docs[0].text == "line one\r\nline two"  # CRLF kept: spans index into the file's text
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "x", "title": "T", "text": "body"}) + "\n", encoding="utf-8")
    (beir,) = list(iter_documents(corpus))
    assert (beir.id, beir.text, beir.metadata["body_offset"]) == ("x", "T\nbody", 2)
    with pytest.raises(ConfigError, match="cannot index"):
        list(iter_documents(tmp_path / "missing"))
