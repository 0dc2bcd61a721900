"""Dense retrieval: embed the query, ask a vector store for neighbours, map store ids back to chunks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ragloom.core.protocols import Embedder, VectorStore
from ragloom.core.types import Chunk, Hit

__all__ = ["DenseRetriever"]


class DenseRetriever:
    """Retriever over ``store`` (vectors from ``embedder``); ``chunks`` maps each store id to its Chunk.

    Store ids missing from ``chunks`` are skipped: they are vectors of an index update that was interrupted
    before its chunk table was committed (see :mod:`ragloom.retrieval.index`), so the retriever over-fetches
    a little and fills ``k`` from the known ids.
    """

    source = "dense"

    def __init__(self, embedder: Embedder, store: VectorStore, chunks: Mapping[str, Chunk]) -> None:
        self.embedder = embedder
        self.store = store
        self.chunks = chunks

    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        """At most ``k`` hits (cosine similarity), best first; an empty store gives ``[]``."""
        if k <= 0 or len(self.store) == 0:
            return []
        return self._search(self.embedder.embed([query])[0], k)

    def retrieve_many(self, queries: Sequence[str], k: int = 10) -> list[list[Hit]]:
        """Batch version: all queries embedded in one call (much faster than one at a time)."""
        if k <= 0 or len(self.store) == 0:
            return [[] for _ in queries]
        vectors = self.embedder.embed(list(queries))
        return [self._search(v, k) for v in vectors]

    def _search(self, vector: np.ndarray, k: int) -> list[Hit]:
        total = len(self.store)
        fetch = min(k, total)
        while True:
            pairs = self.store.query(vector, fetch)
            hits = [Hit(self.chunks[i], s, self.source) for i, s in pairs if i in self.chunks]
            if len(hits) >= k or fetch >= total:
                return hits[:k]
            fetch = min(total, max(2 * fetch, k + (fetch - len(hits)) * 2))
