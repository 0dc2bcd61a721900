"""Hybrid retrieval: run several retrievers and fuse their rankings (kernels in :mod:`.fusion`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Retriever
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.filters import Filter, Where, compile_filter
from ragloom.retrieval.fusion import FUSION_METHODS, NORMALIZATIONS, RRF_K, fuse

__all__ = ["HybridRetriever"]


class HybridRetriever:
    """Retriever fusing ``retrievers`` (e.g. BM25 + dense).

    - ``fusion``: ``"rrf"`` (reciprocal rank fusion, ``rrf_k`` = 60), ``"weighted"`` (weighted sum of scores
      normalised by ``normalization``: ``"minmax"`` or ``"zscore"`` or ``"dbsf"``), or ``"dbsf"``
      (distribution-based score fusion).
    - ``weights``: one non-negative weight per retriever (default all 1).
    - ``depth``: how many hits to ask each retriever for before fusing (at least ``k``).
    Hits carry the fused score and ``source="hybrid"``.
    """

    source = "hybrid"

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        fusion: str = "rrf",
        weights: Sequence[float] | None = None,
        normalization: str = "minmax",
        depth: int = 100,
        rrf_k: int = RRF_K,
    ) -> None:
        if not retrievers:
            raise ConfigError("HybridRetriever needs at least one retriever")
        if fusion not in FUSION_METHODS:
            raise ConfigError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSION_METHODS)}")
        if normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}"
            )
        if weights is not None and len(weights) != len(retrievers):
            raise ConfigError(f"HybridRetriever got {len(weights)} weights for {len(retrievers)} retrievers")
        if depth <= 0:
            raise ConfigError(f"HybridRetriever depth must be > 0, got {depth}")
        self.retrievers = list(retrievers)
        self.fusion = fusion
        self.weights = list(weights) if weights is not None else None
        self.normalization = normalization
        self.depth = depth
        self.rrf_k = rrf_k

    def retrieve(self, query: str, k: int = 10, where: Where | Filter | None = None) -> list[Hit]:
        """At most ``k`` fused hits, best first; ``where`` goes to every retriever (each filters before its
        own top ``depth``, so the fused list is drawn from matching chunks only)."""
        if k <= 0:
            return []
        depth = max(self.depth, k)
        scope = _plain(where)
        runs = [
            r.retrieve(query, depth) if scope is None else r.retrieve(query, depth, scope)
            for r in self.retrievers
        ]
        return self.fuse_hits(runs, k)

    def retrieve_many(
        self, queries: Sequence[str], k: int = 10, where: Where | Filter | None = None
    ) -> list[list[Hit]]:
        """Batch version: each retriever's ``retrieve_many`` when it has one (dense embeds in one batch)."""
        if k <= 0:
            return [[] for _ in queries]
        depth = max(self.depth, k)
        scope = _plain(where)
        extra = {} if scope is None else {"where": scope}
        per_retriever = []
        for r in self.retrievers:
            many = getattr(r, "retrieve_many", None)
            if many is not None:
                per_retriever.append(many(queries, depth, **extra))
            else:
                per_retriever.append([r.retrieve(q, depth, **extra) for q in queries])
        return [self.fuse_hits([runs[i] for runs in per_retriever], k) for i in range(len(queries))]

    def fuse_hits(self, runs: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
        """Fuse one query's hit lists (one per retriever) into the top ``k``."""
        chunks: dict[str, Chunk] = {}
        rankings = []
        for hits in runs:
            rankings.append([(h.id, h.score) for h in hits])
            for h in hits:
                chunks.setdefault(h.id, h.chunk)
        fused = fuse(rankings, self.fusion, self.weights, self.normalization, self.rrf_k)
        return [Hit(chunks[i], s, self.source) for i, s in fused[:k]]


def _plain(where: Where | Filter | None) -> dict[str, Any] | None:
    """The filter as the plain mapping every Retriever takes (validated here, once, for a clear error)."""
    compiled = compile_filter(where)
    return None if compiled is None else compiled.where
