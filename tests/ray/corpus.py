"""A tiny real corpus for the Ray tests: paragraphs of the bundled novel as documents (tens of chunks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import ragloom
from ragloom.core.types import Document
from ragloom.retrieval.index import Index
from ragloom.retrieval.memory_store import InMemoryVectorStore

NOVEL = Path(ragloom.__file__).parent / "data" / "a_christmas_carol.txt"


def documents(n: int = 12, offset: int = 40) -> list[Document]:
    paras = [p.strip() for p in NOVEL.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 300]
    return [Document(f"p{i:03d}", " ".join(p.split())) for i, p in enumerate(paras[offset : offset + n])]


def index_vectors(index: Index) -> dict[str, np.ndarray]:
    """``{vector key: vector}`` of a memory-store index's committed generation."""
    store = index.store
    assert isinstance(store, InMemoryVectorStore)
    keys = store.ids()
    return dict(zip(keys, store.get_vectors(keys), strict=True))


def chunk_rows(index: Index) -> list[tuple[str, str, int, int]]:
    return [(c.id, c.doc_id, c.start, c.end) for c in index.chunks]
