"""Dense retrieval: embed the query, ask a vector store for neighbours, map store ids back to chunks."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ragloom.core.protocols import Embedder, VectorStore
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.filters import Filter, FilterCache, Where, compile_filter
from ragloom.retrieval.vector_math import matvec

__all__ = ["DenseRetriever"]


class DenseRetriever:
    """Retriever over ``store`` (vectors from ``embedder``); ``chunks`` maps each store id to its Chunk.

    Store ids missing from ``chunks`` are skipped: they are vectors of an index update that was interrupted
    before its chunk table was committed (see :mod:`ragloom.retrieval.index`), so the retriever over-fetches
    a little and fills ``k`` from the known ids.

    A ``where`` filter is checked against ``chunks`` (the committed chunk table is the truth: stored vector
    metadata can lag it), and the store searches only the matching ids, so the top ``k`` is taken among
    matching chunks. Stores without an ``ids=`` restriction get an exact scan of the matching vectors.
    """

    source = "dense"

    def __init__(self, embedder: Embedder, store: VectorStore, chunks: Mapping[str, Chunk]) -> None:
        self.embedder = embedder
        self.store = store
        self.chunks = chunks
        self._allowed: FilterCache[list[str]] = FilterCache()

    def retrieve(self, query: str, k: int = 10, where: Where | Filter | None = None) -> list[Hit]:
        """At most ``k`` hits (cosine similarity), best first; an empty store gives ``[]``."""
        if k <= 0 or len(self.store) == 0:
            return []
        return self._search(self.embedder.embed([query])[0], k, compile_filter(where))

    def retrieve_many(
        self, queries: Sequence[str], k: int = 10, where: Where | Filter | None = None
    ) -> list[list[Hit]]:
        """Batch version: all queries embedded in one call (much faster than one at a time)."""
        if k <= 0 or len(self.store) == 0:
            return [[] for _ in queries]
        compiled = compile_filter(where)
        vectors = self.embedder.embed(list(queries))
        return [self._search(v, k, compiled) for v in vectors]

    def allowed_ids(self, where: Filter) -> list[str]:
        """Store ids whose chunk matches ``where`` (cached per filter)."""
        return self._allowed.get(where, lambda f: [i for i, c in self.chunks.items() if f.matches_chunk(c)])

    def _search(self, vector: np.ndarray, k: int, where: Filter | None) -> list[Hit]:
        if where is None:
            return self._fill(lambda n: self.store.query(vector, n), k, len(self.store))
        allowed = self.allowed_ids(where)
        if not allowed:
            return []
        if not _takes_ids(self.store):  # a store without the ids= restriction: score the allowed exactly
            return self._exact(vector, allowed, k)
        query: Callable[..., list[tuple[str, float]]] = self.store.query
        return self._fill(lambda n: query(vector, n, ids=allowed), k, len(allowed))

    def _fill(self, ask: Callable[[int], list[tuple[str, float]]], k: int, total: int) -> list[Hit]:
        """Ask for more neighbours until ``k`` known chunks came back or the store has no more."""
        fetch = min(k, total)
        while True:
            pairs = ask(fetch)
            hits = [Hit(self.chunks[i], s, self.source) for i, s in pairs if i in self.chunks]
            if len(hits) >= k or fetch >= total:
                return hits[:k]
            fetch = min(total, max(2 * fetch, k + (fetch - len(hits)) * 2))

    def _exact(self, vector: np.ndarray, allowed: list[str], k: int) -> list[Hit]:
        get = getattr(self.store, "get_vectors", None)
        if get is None:
            from ragloom.core.errors import ConfigError

            raise ConfigError(
                f"{type(self.store).__name__} can neither restrict a query to ids nor return vectors; "
                "a where filter needs one of query(..., ids=) or get_vectors(ids)"
            )
        scores = matvec(np.asarray(get(allowed), dtype=np.float32), np.asarray(vector, dtype=np.float32))
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.chunks[allowed[i]], float(scores[i]), self.source) for i in order.tolist()]


def _takes_ids(store: VectorStore) -> bool:
    """Whether ``store.query`` accepts ``ids=`` (the protocol's minimum is ``query(vector, k)``)."""
    try:
        return "ids" in inspect.signature(store.query).parameters
    except (TypeError, ValueError):
        return False
