"""Seed nodes of a query: entities linked by name embedding, and optionally passages from a first stage.

HippoRAG links each query entity to its nearest graph entities by embedding and weights them by *node
specificity* (rarer entities say more about which passage is meant; v1 uses 1/|passages|, we use the IDF
``log(1 + N / df)``, which does not crush entities that appear twice). HippoRAG 2 adds dense passage scores
as reset mass on passage nodes; here any Retriever (dense, BM25, hybrid) can supply them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Retriever
from ragloom.core.types import Hit
from ragloom.retrieval.graph.extract import SpacyEntityExtractor, normalize_entity
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.records import chunk_node, entity_node

__all__ = ["SeedLinker", "Seeds"]


@dataclass(frozen=True)
class Seeds:
    """Reset weights by node id (entity and chunk nodes), the query's mention names and first-stage hits."""

    nodes: dict[str, float]
    mentions: tuple[str, ...] = ()
    first_stage: tuple[Hit, ...] = field(default=())

    @property
    def entities(self) -> list[str]:
        return [n for n in self.nodes if n.startswith("e:")]


class SeedLinker:
    """Find a query's seed nodes in ``index``.

    - ``top_k`` graph entities per query mention with cosine >= ``min_similarity`` (exact names match at 1);
      the whole query is also matched when ``match_query`` (catches entities the extractor split or missed);
    - entity weight = cosine ** ``sharpness`` * IDF;
    - ``first_stage``: a Retriever whose top ``passages`` hits become passage seeds; passage seeds get
      ``passage_share`` of the reset mass (the entities the rest), each passage weighted by its
      min-max-normalised first-stage score. Defaults (2 passages, 0.8) were chosen on the hotpotqa-300 dev
      split (benchmarks/graph_rag.py): a few confident first-hop passages, walked from, find the second hop.
    """

    def __init__(
        self,
        index: GraphIndex,
        *,
        extractor: SpacyEntityExtractor | None = None,
        first_stage: Retriever | None = None,
        top_k: int = 3,
        min_similarity: float = 0.8,
        sharpness: float = 1.0,
        match_query: bool = False,
        passages: int = 2,
        passage_share: float = 0.8,
    ) -> None:
        if not 0.0 <= passage_share <= 1.0:
            raise ConfigError(f"SeedLinker: passage_share must be in [0, 1], got {passage_share}")
        if top_k <= 0 or passages < 0:
            raise ConfigError(f"SeedLinker: top_k must be > 0 and passages >= 0, got {top_k}, {passages}")
        self.index = index
        self.extractor = extractor or index.extractor
        self.first_stage = first_stage
        self.top_k = top_k
        self.min_similarity = min_similarity
        self.sharpness = sharpness
        self.match_query = match_query
        self.passages = passages
        self.passage_share = passage_share
        self._memo: dict[tuple[int, str], tuple[tuple[str, ...], dict[str, float]]] = {}

    def link(self, query: str, first_stage_hits: Sequence[Hit] | None = None) -> Seeds:
        """Seeds of ``query``; ``first_stage_hits`` overrides running the first stage (batch callers)."""
        key = (self.index.version, query)  # an updated index links to other entities: key by its version
        memo = self._memo.get(key)
        if memo is None:  # linking runs spaCy and the embedder: repeated queries skip both
            found = [m.name for m in self.extractor.extract(query)]
            memo = (tuple(found), self.link_entities(found, query))
            if len(self._memo) >= 4096:  # another thread may clear too: ``memo`` is read from the local
                self._memo.clear()
            self._memo[key] = memo
        names, entities = memo
        hits = list(first_stage_hits) if first_stage_hits is not None else self._first_stage(query)
        passages = _passage_weights(hits[: self.passages])
        return Seeds(_mix(entities, passages, self.passage_share), names, tuple(hits))

    def link_entities(self, names: Sequence[str], query: str = "") -> dict[str, float]:
        """Entity node -> weight for the query's mention ``names`` (see the class docstring)."""
        index = self.index
        texts = list(dict.fromkeys(n for n in names if n))
        if self.match_query and normalize_entity(query):
            texts.append(normalize_entity(query))
        if not texts or not index.entity_names:
            return {}
        sims = index.embedder.embed(texts) @ index.entity_vectors.T
        weights: dict[str, float] = {}
        total = max(len(index.records), 1)
        for row in sims:
            take = min(self.top_k, row.shape[0])
            for j in np.argpartition(-row, take - 1)[:take]:
                sim = float(row[j])
                if sim < self.min_similarity:
                    continue
                node = entity_node(index.entity_names[j])
                df = index.graph.nodes[node].get("chunks", 1) if node in index.graph else 1
                w = max(sim, 0.0) ** self.sharpness * math.log(1.0 + total / max(df, 1))
                weights[node] = max(weights.get(node, 0.0), w)
        return weights

    def _first_stage(self, query: str) -> list[Hit]:
        if self.first_stage is None or self.passages == 0:
            return []
        return self.first_stage.retrieve(query, self.depth)

    @property
    def depth(self) -> int:
        """First-stage hits fetched per query: the passage seeds, and fill-up for unreached ranks."""
        return max(self.passages, 20)


def _passage_weights(hits: Sequence[Hit]) -> dict[str, float]:
    if not hits:
        return {}
    scores = np.array([h.score for h in hits], dtype=np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    norm = (scores - lo) / (hi - lo) if hi > lo else np.ones_like(scores)
    out: dict[str, float] = {}
    for h, s in zip(hits, norm, strict=True):
        out[chunk_node(h.id)] = max(out.get(chunk_node(h.id), 0.0), 0.1 + 0.9 * float(s))
    return out


def _mix(entities: dict[str, float], passages: dict[str, float], share: float) -> dict[str, float]:
    """Entity and passage weights, each group normalised, passages getting ``share`` of the total."""
    if not entities or not passages:
        only = entities or passages
        total = sum(only.values())
        return {n: w / total for n, w in only.items()} if total > 0 else {}
    e_total, p_total = sum(entities.values()), sum(passages.values())
    out = {n: (1.0 - share) * w / e_total for n, w in entities.items()}
    for n, w in passages.items():
        out[n] = out.get(n, 0.0) + share * w / p_total
    return out
