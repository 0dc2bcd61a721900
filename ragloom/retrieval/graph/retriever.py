"""GraphRetriever: the Retriever protocol over the graph index (seeds -> subgraph scores -> ranked chunks).

Chunks are ranked by their node's subgraph score (PPR probability by default). Chunks the walk does not
reach are filled in from the first stage, below every reached chunk, so ``k`` is honoured whenever the
first stage has enough hits. Path texts (for prompts) come from :meth:`GraphRetriever.paths`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragloom.core.protocols import Retriever
from ragloom.core.types import Hit
from ragloom.retrieval.filters import Filter, Where, compile_filter
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.pathrag import PathPruner
from ragloom.retrieval.graph.paths import PathFilter, ScoredPath
from ragloom.retrieval.graph.seeds import SeedLinker, Seeds
from ragloom.retrieval.graph.subgraph import PPRSubgraph, SubgraphExtractor

__all__ = ["GraphRetriever"]


class GraphRetriever:
    """Ranked chunks from the graph: ``retrieve(query, k) -> list[Hit]`` with ``source="graph"``.

    ``linker`` finds seeds (default: entity linking only); ``subgraph`` scores nodes (default PPR);
    ``path_filter`` and ``pruner`` produce the reasoning paths of :meth:`paths`.
    """

    source = "graph"

    def __init__(
        self,
        index: GraphIndex,
        *,
        linker: SeedLinker | None = None,
        subgraph: SubgraphExtractor | None = None,
        first_stage: Retriever | None = None,
        path_filter: PathFilter | None = None,
        pruner: PathPruner | None = None,
    ) -> None:
        self.index = index
        self.linker = linker or SeedLinker(index, first_stage=first_stage)
        self.subgraph = subgraph or PPRSubgraph(index)
        self.path_filter = path_filter or PathFilter(index)
        self.pruner = pruner or PathPruner(index)
        self._variants: dict[tuple[int | None, float | None, float | None], GraphRetriever] = {}

    def with_settings(
        self, passages: int | None = None, passage_share: float | None = None, damping: float | None = None
    ) -> GraphRetriever:
        """This retriever with other passage seeds / passage share / PPR damping (None keeps the current
        value): one graph, several walks, as workflow search tries them. Variants are memoised, and share the
        graph, the first stage and the entity-linking memo, so a variant costs no extra linking."""
        key = (passages, passage_share, damping)
        if key == (None, None, None):
            return self
        if key not in self._variants:
            base = self.linker
            linker = SeedLinker(
                self.index,
                extractor=base.extractor,
                first_stage=base.first_stage,
                top_k=base.top_k,
                min_similarity=base.min_similarity,
                sharpness=base.sharpness,
                match_query=base.match_query,
                passages=base.passages if passages is None else passages,
                passage_share=base.passage_share if passage_share is None else passage_share,
            )
            linker._memo = base._memo  # entity links do not depend on the passage settings
            subgraph = self.subgraph
            if damping is not None:
                edges = getattr(subgraph, "edge_weights", None)
                subgraph = PPRSubgraph(self.index, damping, edges)
            self._variants[key] = GraphRetriever(
                self.index, linker=linker, subgraph=subgraph, path_filter=self.path_filter, pruner=self.pruner
            )
        return self._variants[key]

    def seeds(
        self,
        query: str,
        first_stage_hits: Sequence[Hit] | None = None,
        where: Where | Filter | None = None,
    ) -> Seeds:
        """Seed nodes of ``query``; with ``where`` the first stage only supplies matching passages."""
        compiled = compile_filter(where)
        first = self.linker.first_stage
        if first_stage_hits is None and compiled is not None and first is not None:
            first_stage_hits = first.retrieve(query, self.linker.depth, compiled.where)
        return self.linker.link(query, first_stage_hits)

    def retrieve(self, query: str, k: int = 10, where: Where | Filter | None = None) -> list[Hit]:
        """At most ``k`` chunks, best first; an empty index or a query without seeds gives ``[]``.

        ``where`` keeps only matching chunks, before the top ``k`` is cut (walk scores and first-stage
        fill-up alike); the walk itself still crosses non-matching passages to reach matching ones.
        """
        if k <= 0 or len(self.index) == 0:
            return []
        compiled = compile_filter(where)
        first, hits = self.linker.first_stage, None
        if compiled is not None and first is not None:  # enough matching passages to fill k from
            hits = first.retrieve(query, max(self.linker.depth, k), compiled.where)
        return self.rank(self.seeds(query, hits, compiled), k, compiled)

    def retrieve_many(
        self, queries: Sequence[str], k: int = 10, where: Where | Filter | None = None
    ) -> list[list[Hit]]:
        """``retrieve`` per query, running the first stage in one batch when it has ``retrieve_many``."""
        compiled = compile_filter(where)
        first = self.linker.first_stage
        many = getattr(first, "retrieve_many", None)
        if first is None or many is None or k <= 0:
            return [self.retrieve(q, k, compiled) for q in queries]
        extra = {} if compiled is None else {"where": compiled.where}
        depth = self.linker.depth if compiled is None else max(self.linker.depth, k)
        batches = many(list(queries), depth, **extra)
        return [self.rank(self.seeds(q, hits), k, compiled) for q, hits in zip(queries, batches, strict=True)]

    def rank(self, seeds: Seeds, k: int, where: Where | Filter | None = None) -> list[Hit]:
        """Chunks by subgraph score, then unreached first-stage hits (see the module docstring)."""
        if k <= 0 or (not seeds.nodes and not seeds.first_stage):
            return []
        return self.rank_scores(seeds, self.subgraph.scores(seeds) if seeds.nodes else {}, k, where)

    def rank_scores(
        self, seeds: Seeds, scores: dict[str, float], k: int, where: Where | Filter | None = None
    ) -> list[Hit]:
        """The top ``k`` chunks of precomputed node ``scores``, filled up from ``seeds.first_stage``; only
        chunks matching ``where`` count."""
        compiled = compile_filter(where)
        index = self.index

        def keep(cid: str) -> bool:
            return compiled is None or compiled.matches_chunk(index.chunk(cid))

        ranked = sorted(
            ((s, n[2:]) for n, s in scores.items() if n.startswith("c:") and s > 0 and keep(n[2:])),
            key=lambda t: (-t[0], t[1]),
        )
        hits = [Hit(index.chunk(cid), score, self.source) for score, cid in ranked[:k]]
        if len(hits) < k:
            taken = {h.id for h in hits}
            floor = min((h.score for h in hits), default=1.0)
            extra = [
                h for h in seeds.first_stage if h.id not in taken and h.id in index.records and keep(h.id)
            ]
            for i, h in enumerate(extra[: k - len(hits)]):
                hits.append(Hit(index.chunk(h.id), floor * 0.5 / (i + 1), self.source))
        return hits

    def paths(self, query: str, n: int = 5, seeds: Seeds | None = None) -> list[ScoredPath]:
        """Up to ``n`` reasoning paths between the query's seed entities, most reliable first, with text."""
        seeds = seeds or self.seeds(query)
        candidates = self.path_filter.paths(query, seeds)
        return self.pruner.prune(candidates, seeds, n)

    def path_texts(self, query: str, n: int = 5) -> list[str]:
        """The rendered texts of :meth:`paths`."""
        return [p.text for p in self.paths(query, n)]
