"""Every retriever answers retrieve(query, k): at most k hits, sorted by score, unique, and [] when empty."""

from __future__ import annotations

import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Retriever
from ragloom.core.types import Hit
from ragloom.retrieval.bm25 import BM25Retriever
from ragloom.retrieval.chroma_store import ChromaVectorStore
from ragloom.retrieval.dense import DenseRetriever
from ragloom.retrieval.hybrid import HybridRetriever
from ragloom.retrieval.index import Index
from ragloom.retrieval.memory_store import InMemoryVectorStore

pytestmark = pytest.mark.slow  # loads the embedding model

QUERIES = ["What is the capital of France?", "programming language", "zzzz qqqq", ""]
KINDS = [
    "bm25",
    "dense-memory",
    "dense-chroma",
    "hybrid-rrf",
    "hybrid-minmax",
    "hybrid-zscore",
    "hybrid-dbsf",
    "index",
]


def dense(embedder, chunks, store):
    if chunks:
        store.add([c.id for c in chunks], embedder.embed([c.text for c in chunks]), [{} for _ in chunks])
    return DenseRetriever(embedder, store, {c.id: c for c in chunks})


def build(kind: str, chunks, embedder, tmp_path, docs) -> Retriever:
    if kind == "bm25":
        return BM25Retriever(chunks)
    if kind == "dense-memory":
        return dense(embedder, chunks, InMemoryVectorStore())
    if kind == "dense-chroma":
        return dense(embedder, chunks, ChromaVectorStore(tmp_path / "chroma", collection="conformance"))
    if kind == "index":
        return Index.build(tmp_path / "index", docs, embedder=embedder, vector_store="memory")
    fusion, normalization = {"rrf": ("rrf", "minmax"), "dbsf": ("dbsf", "minmax")}.get(
        kind.split("-")[1], ("weighted", kind.split("-")[1])
    )
    parts = [BM25Retriever(chunks), dense(embedder, chunks, InMemoryVectorStore())]
    return HybridRetriever(parts, fusion=fusion, normalization=normalization, weights=[0.4, 0.6])


def check_contract(retriever: Retriever, corpus_size: int) -> None:
    assert isinstance(retriever, Retriever)
    for query in QUERIES:
        for k in (1, 3, 100):
            hits = retriever.retrieve(query, k)
            assert len(hits) <= min(k, corpus_size)
            assert all(isinstance(h, Hit) for h in hits)
            assert len({h.id for h in hits}) == len(hits)
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)
        assert retriever.retrieve(query, 0) == []


@pytest.mark.parametrize("kind", KINDS)
def test_retriever_contract(kind, tiny_chunks, tiny_docs, embedder, tmp_path):
    retriever = build(kind, tiny_chunks, embedder, tmp_path, tiny_docs)
    check_contract(retriever, len(tiny_chunks))
    top = retriever.retrieve("What is the capital city of France?", 3)
    assert top and top[0].doc_id == "paris"
    many = getattr(retriever, "retrieve_many", None)
    if many is not None:
        batch = many(QUERIES[:2], 3)
        assert [[h.id for h in hits] for hits in batch] == [
            [h.id for h in retriever.retrieve(q, 3)] for q in QUERIES[:2]
        ]


@pytest.mark.parametrize("kind", KINDS)
def test_empty_index_gives_no_hits(kind, embedder, tmp_path):
    retriever = build(kind, [], embedder, tmp_path, [])
    for query in QUERIES:
        assert retriever.retrieve(query, 5) == []


def test_dense_finds_meaning_bm25_cannot(tiny_chunks, embedder):
    retriever = dense(embedder, tiny_chunks, InMemoryVectorStore())
    assert retriever.retrieve("kitten", 1)[0].doc_id == "cats"
    assert BM25Retriever(tiny_chunks).retrieve("kitten", 1) == []


def test_dense_skips_store_ids_it_does_not_know(tiny_chunks, embedder):
    store = InMemoryVectorStore()
    store.add(["orphan"], embedder.embed(["Paris, capital of France"]), [{}])
    retriever = dense(embedder, tiny_chunks, store)
    hits = retriever.retrieve("capital of France", 3)
    assert len(hits) == 3 and "orphan" not in {h.id for h in hits}


def test_hybrid_validates_its_settings():
    with pytest.raises(ConfigError, match="rrf"):
        HybridRetriever([BM25Retriever()], fusion="max")
    with pytest.raises(ConfigError, match="weights"):
        HybridRetriever([BM25Retriever()], weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="at least one"):
        HybridRetriever([])
