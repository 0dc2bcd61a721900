"""Graph RAG components for flows: LEGO-GraphRAG's modules as swappable nodes (YAML ``uses:`` names).

Each node gets its graph from a store folder (``index: DIR``, loaded once per process and shared by the
nodes of a flow) or from the run's resources (``resource: NAME`` -> a :class:`GraphRetriever`). State keys
(all overridable): ``question`` in; ``graph_seeds`` (Seeds), ``subgraph`` ({node: score}), ``paths``
(list of ScoredPath), ``path_texts`` (list[str]) and ``hits`` (list[Hit]) out.

- ``graph.subgraph.ppr`` / ``graph.subgraph.khop``: seeds + node scores (Personalized PageRank / k-hop);
- ``graph.paths.filter``: candidate paths between the seed entities, scored by query similarity;
- ``graph.paths.pathrag``: flow-based pruning, best paths first, with their texts;
- ``graph.retrieve``: ranked chunks (from ``subgraph`` when an earlier node computed it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.retrieval.graph.pathrag import PathPruner
from ragloom.retrieval.graph.paths import PathFilter
from ragloom.retrieval.graph.retriever import GraphRetriever
from ragloom.retrieval.graph.seeds import Seeds
from ragloom.retrieval.graph.subgraph import KHopSubgraph, PPRSubgraph

Node = Callable[..., dict[str, Any]]
_loaded: dict[tuple[str, str], GraphRetriever] = {}
_lock = threading.Lock()


def _open(index: str, first_stage: str) -> GraphRetriever:
    from ragloom.retrieval.graph.store import open_graph_retriever

    key = (str(Path(index).resolve()), first_stage)
    with _lock:
        if key not in _loaded:
            _loaded[key] = open_graph_retriever(index, first_stage=first_stage)
        return _loaded[key]


def _node(name: str, index: str | None, resource: str | None, first_stage: str, body: Callable) -> Node:
    """A node calling ``body(retriever, state)``; the retriever comes from ``index`` or ``resource``."""
    if (index is None) == (resource is None):
        raise ConfigError(
            f"{name}: give exactly one of index= (a store folder) or resource= (a run resource)"
        )
    from ragloom.flows import node

    def run(state: Any, ctx: Any) -> dict[str, Any]:
        if resource is not None:
            retriever = _resolve(ctx.resources.get(resource))
            if not isinstance(retriever, GraphRetriever):
                raise ConfigError(
                    f"{name}: resource {resource!r} must be a GraphRetriever; "
                    f"pass invoke(..., context={{{resource!r}: GraphRetriever(...)}}), or build a graph "
                    "index beside the index (ragloom graph index SOURCE --store DIR) and run with --index DIR"
                )
        else:
            assert index is not None
            retriever = _open(index, first_stage)
        return body(retriever, state)

    run.__name__ = name.replace(".", "_")
    return node(takes_context=True)(run)


def _resolve(found: Any) -> Any:
    """A GraphRetriever from a run resource: itself, or a lazy one opened now (LazyGraphRetriever)."""
    from ragloom.retrieval.graph.store import LazyGraphRetriever

    return found.open() if isinstance(found, LazyGraphRetriever) else found


def _subgraph_node(name: str, make: Callable[[GraphRetriever], Any], params: dict[str, Any]) -> Node:
    q, seeds_key, out = params["input_key"], params["seeds_key"], params["output_key"]

    def body(retriever: GraphRetriever, state: Any) -> dict[str, Any]:
        seeds = retriever.seeds(read_key(state, q, name, allow_none=False))
        return {seeds_key: seeds, out: make(retriever).scores(seeds)}

    return _node(name, params["index"], params["resource"], params["first_stage"], body)


@register("graph.subgraph.ppr")
def ppr_node(
    index: str | None = None,
    resource: str | None = None,
    first_stage: str = "auto",
    damping: float = 0.5,
    edge_weights: dict[str, float] | None = None,
    input_key: str = "question",
    seeds_key: str = "graph_seeds",
    output_key: str = "subgraph",
) -> Node:
    """Seeds of the question, then Personalized PageRank scores of the graph's nodes (HippoRAG)."""
    params = dict(locals())
    return _subgraph_node("graph.subgraph.ppr", lambda r: _ppr(r, damping, edge_weights), params)


def _ppr(retriever: GraphRetriever, damping: float, weights: dict[str, float] | None) -> PPRSubgraph:
    current = retriever.subgraph
    if isinstance(current, PPRSubgraph) and current.damping == damping and weights is None:
        return current  # keeps the cached transition matrix
    return PPRSubgraph(retriever.index, damping, weights)


@register("graph.subgraph.khop")
def khop_node(
    index: str | None = None,
    resource: str | None = None,
    first_stage: str = "auto",
    hops: int = 2,
    decay: float = 0.5,
    input_key: str = "question",
    seeds_key: str = "graph_seeds",
    output_key: str = "subgraph",
) -> Node:
    """Seeds of the question, then nodes within ``hops`` edges scored by decayed seed weight."""
    params = dict(locals())
    return _subgraph_node("graph.subgraph.khop", lambda r: KHopSubgraph(r.index, hops, decay), params)


@register("graph.paths.filter")
def path_filter_node(
    index: str | None = None,
    resource: str | None = None,
    first_stage: str = "auto",
    method: str = "beam",
    max_hops: int = 3,
    beam_width: int = 8,
    max_paths: int = 20,
    input_key: str = "question",
    seeds_key: str = "graph_seeds",
    output_key: str = "paths",
) -> Node:
    """Candidate paths between the seed entities (shortest paths or beam search), by query similarity."""
    name = "graph.paths.filter"

    def body(retriever: GraphRetriever, state: Any) -> dict[str, Any]:
        question = read_key(state, input_key, name, allow_none=False)
        seeds = _seeds(state, seeds_key, retriever, question)
        pf = PathFilter(retriever.index, method, max_hops, beam_width, max_paths)
        return {output_key: pf.paths(question, seeds)}

    return _node(name, index, resource, first_stage, body)


def _seeds(state: Any, key: str, retriever: GraphRetriever, question: str) -> Seeds:
    value = read_key(state, key, "graph", None)
    return value if isinstance(value, Seeds) else retriever.seeds(question)


@register("graph.paths.pathrag")
def pathrag_node(
    index: str | None = None,
    resource: str | None = None,
    first_stage: str = "auto",
    decay: float = 0.8,
    threshold: float = 0.01,
    mix: float = 0.3,
    n: int = 5,
    input_key: str = "question",
    seeds_key: str = "graph_seeds",
    paths_key: str = "paths",
    output_key: str = "paths",
    texts_key: str = "path_texts",
) -> Node:
    """PathRAG flow-based pruning of candidate paths; the best ``n`` paths and their texts."""
    name = "graph.paths.pathrag"

    def body(retriever: GraphRetriever, state: Any) -> dict[str, Any]:
        question = read_key(state, input_key, name, allow_none=False)
        seeds = _seeds(state, seeds_key, retriever, question)
        candidates = read_key(state, paths_key, name, param="paths_key", allow_none=False)
        kept = PathPruner(retriever.index, decay, threshold, mix=mix).prune(candidates, seeds, n)
        return {output_key: kept, texts_key: [p.text for p in kept]}

    return _node(name, index, resource, first_stage, body)


@register(
    "graph.retrieve",
    role="retriever",
    search={
        "k": [10, 20, 30, 50],
        "passages": [1, 2, 3, 5],
        "passage_share": [0.5, 0.8, 0.9],
        "damping": [0.3, 0.5, 0.7],
    },
    defaults={"resource": "graph"},
)
def retrieve_node(
    index: str | None = None,
    resource: str | None = None,
    first_stage: str = "auto",
    k: int = 5,
    input_key: str = "question",
    seeds_key: str = "graph_seeds",
    subgraph_key: str = "subgraph",
    output_key: str = "hits",
    where: dict[str, Any] | None = None,
    where_key: str = "where",
    passages: int | None = None,
    passage_share: float | None = None,
    damping: float | None = None,
) -> Node:
    """Ranked chunks of the graph (GraphRetriever); reuses an earlier node's seeds and subgraph scores.

    ``where`` (and a filter in state key ``where_key``, per request) keeps only matching chunks.
    ``passages`` / ``passage_share`` (first-stage passage seeds and their share of the restart mass) and
    ``damping`` (of the walk) override the graph's defaults for this node; workflow search tunes them.
    """
    if k <= 0:
        raise ConfigError(f"graph.retrieve: k must be > 0, got {k}")
    from ragloom.retrieval.components import Scope
    from ragloom.retrieval.filters import merge_where

    scope = Scope("graph.retrieve", where, where_key)
    _check_walk(passages, passage_share, damping)

    def body(base: GraphRetriever, state: Any) -> dict[str, Any]:
        name = "graph.retrieve"
        retriever = base.with_settings(passages, passage_share, damping)
        request = read_key(state, where_key, name, None)
        try:
            scoped = merge_where(scope.where, request)
        except ConfigError as e:
            raise ConfigError(f"{name}: state key {where_key!r} holds an invalid filter: {e}") from e
        seeds, scores = read_key(state, seeds_key, name, None), read_key(state, subgraph_key, name, None)
        if isinstance(seeds, Seeds) and isinstance(scores, dict):
            return {output_key: retriever.rank_scores(seeds, scores, k, scoped)}
        question = read_key(state, input_key, name, allow_none=False)
        return {output_key: retriever.retrieve(question, k, scoped)}

    return _node("graph.retrieve", index, resource, first_stage, body)


def _check_walk(passages: int | None, share: float | None, damping: float | None) -> None:
    """Bad walk settings fail when the flow is built, naming the parameter, not at the first question."""
    if passages is not None and passages < 0:
        raise ConfigError(f"graph.retrieve: passages must be >= 0, got {passages}")
    if share is not None and not 0.0 <= share <= 1.0:
        raise ConfigError(f"graph.retrieve: passage_share must be in [0, 1], got {share}")
    if damping is not None and not 0.0 <= damping < 1.0:
        raise ConfigError(f"graph.retrieve: damping must be in [0, 1), got {damping}")
