"""Graph RAG: an entity/passage graph index and LEGO-GraphRAG's query modules.

- index: :class:`GraphIndex` (networkx; spaCy entities, optional LLM triples with gleaning, synonym edges,
  incremental updates, saved next to the flat index under ``DIR/graph``);
- subgraph extraction: :class:`SeedLinker` + :class:`PPRSubgraph` (HippoRAG) or :class:`KHopSubgraph`;
- path filtering: :class:`PathFilter`; path refinement: :class:`PathPruner` (PathRAG);
- :class:`GraphRetriever`: ``retrieve(query, k)`` like every retriever, plus ``paths`` / ``path_texts``.

Imports are lazy so that ``import ragloom.retrieval.graph`` loads neither spaCy nor torch.
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS = {
    "GraphIndex": "ragloom.retrieval.graph.graph_index",
    "GraphSettings": "ragloom.retrieval.graph.records",
    "GraphRetriever": "ragloom.retrieval.graph.retriever",
    "KHopSubgraph": "ragloom.retrieval.graph.subgraph",
    "LLMTripleExtractor": "ragloom.retrieval.graph.llm_extract",
    "PPRSubgraph": "ragloom.retrieval.graph.subgraph",
    "PathFilter": "ragloom.retrieval.graph.paths",
    "PathPruner": "ragloom.retrieval.graph.pathrag",
    "SeedLinker": "ragloom.retrieval.graph.seeds",
    "SpacyEntityExtractor": "ragloom.retrieval.graph.extract",
    "estimate_llm_build": "ragloom.retrieval.graph.preflight",
    "open_graph_retriever": "ragloom.retrieval.graph.store",
    "personalized_pagerank": "ragloom.retrieval.graph.ppr",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
