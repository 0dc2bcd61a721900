"""Fixtures of the retrieval tests: the shared real embedder, a tiny real corpus, a slice of SciFact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from embedder_spy import CountingEmbedder

from ragloom.core.types import Chunk, Document

TINY_TEXTS = {
    "paris": "Paris is the capital and most populous city of France, on the river Seine.",
    "berlin": "Berlin is the capital of Germany and its largest city by population.",
    "tax": "Capital gains tax in France applies to profits from selling shares and property.",
    "cats": "Cats are small domesticated carnivorous mammals that often sleep most of the day.",
    "python": "Python is a programming language created by Guido van Rossum and released in 1991.",
    "rust": "Rust is a systems programming language focused on memory safety without garbage collection.",
    "tea": "Green tea is made from unoxidized leaves of Camellia sinensis and contains caffeine.",
    "everest": "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level.",
}


@pytest.fixture(scope="session")
def embedder():
    """The real shared all-MiniLM-L6-v2 embedder (loads once per test session)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragloom.retrieval.embedders import default_embedder

    return default_embedder()


@pytest.fixture
def tiny_docs() -> list[Document]:
    return [Document(doc_id, text) for doc_id, text in TINY_TEXTS.items()]


@pytest.fixture
def tiny_chunks() -> list[Chunk]:
    return [Chunk(text, doc_id, 0, len(text)) for doc_id, text in TINY_TEXTS.items()]


@pytest.fixture(scope="session")
def scifact_slice(shared_data: Path) -> tuple[list[Chunk], dict[str, str]]:
    """The first 400 SciFact abstracts as chunks (title + text); test queries with gold docs among them."""
    folder = shared_data / "scifact"
    chunks: list[Chunk] = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            text = f"{obj.get('title', '')}\n{obj['text']}"
            chunks.append(Chunk(text, obj["_id"], 0, len(text)))
            if len(chunks) == 400:
                break
    ids = {c.doc_id for c in chunks}
    gold: set[str] = set()
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as f:
        for line in f:
            q, d, *_ = line.rstrip("\n").split("\t")
            if d in ids:
                gold.add(q)
    queries = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            if obj["_id"] in gold:
                queries[obj["_id"]] = obj["text"]
    return chunks, queries


@pytest.fixture
def counting_embedder(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)
