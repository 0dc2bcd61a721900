"""Retrieval components for flows (YAML ``uses:`` names): the thin adapter from retrievers to nodes.

Retriever nodes read the question (``input_key``, default ``question``) and write hits (``output_key``,
default ``hits``). They get their retriever from an index folder (``index: PATH``, opened once, on first
use) or, with ``resource: NAME``, from the run's resources
(``compiled.invoke(state, context={NAME: retriever})``). ``where:`` scopes a retriever node to chunks
whose metadata matches (:mod:`ragloom.retrieval.filters`), and so does a filter in state key ``where``
(``where_key:``), per request: both apply when both are given. Reranker nodes read the question and
``hits_key`` (default ``hits``) and write ``output_key`` (default ``hits``).

- ``retrieval.bm25`` / ``retrieval.dense`` / ``retrieval.hybrid`` / ``retrieval.index`` (``mode:``)
- ``retrieval.rerank.maxsim`` / ``.collaborative`` / ``.llm`` (the LLM from resources, default key ``llm``)
  / ``.cross_encoder`` (``model_path:``)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Reranker, Retriever
from ragloom.core.registry import register
from ragloom.core.state_access import read_key, read_str
from ragloom.core.types import Hit

Node = Callable[..., dict[str, Any]]


def _with_context(fn: Callable[[Any, Any], dict[str, Any]]) -> Node:
    from ragloom.flows import node  # the adapter edge: only context-taking nodes need the flow engine

    return node(takes_context=True)(fn)


def _lazy(make: Callable[[], Any]) -> Callable[[], Any]:
    """Build on first call, then reuse (opening an index loads BM25, chunks and the store once).

    Thread-safe: ``ragloom serve`` runs flows in a thread pool, and concurrent first calls must not each
    open the index.
    """
    box: list[Any] = []
    lock = threading.Lock()

    def get() -> Any:
        if not box:
            with lock:
                if not box:
                    box.append(make())
        return box[0]

    return get


def _retriever_node(
    name: str,
    make: Callable[[], Retriever] | None,
    resource: str | None,
    k: int,
    input_key: str,
    output_key: str,
    scope: Scope | None = None,
) -> Node:
    if k <= 0:
        raise ConfigError(f"{name}: k must be > 0, got {k}")
    if (make is None) == (resource is None):
        raise ConfigError(
            f"{name}: give exactly one of index= (an index folder) or resource= (a run resource name)"
        )
    scope = scope or Scope(name)
    if resource is not None:

        def from_resource(state: Any, ctx: Any) -> dict[str, Any]:
            retriever = ctx.resources.get(resource)
            if retriever is None:
                raise ConfigError(
                    f"{name}: no resource {resource!r}; pass invoke(..., context={{{resource!r}: retriever}})"
                )
            question = read_str(state, input_key, name, "the question")
            return {output_key: scope.retrieve(retriever, question, k, state)}

        from_resource.__name__ = name.replace(".", "_")
        return _with_context(from_resource)
    assert make is not None
    get = _lazy(make)

    def retrieve(state: Any) -> dict[str, Any]:
        question = read_str(state, input_key, name, "the question")
        return {output_key: scope.retrieve(get(), question, k, state)}

    retrieve.__name__ = name.replace(".", "_")
    return retrieve


class Scope:
    """A retrieve node's metadata filter: ``where`` fixed in the flow (checked when the flow is built) AND
    the request's own, read from state key ``where_key`` (default ``where``; absent or None = no filter).
    """

    def __init__(self, name: str, where: Mapping[str, Any] | None = None, where_key: str = "where") -> None:
        from ragloom.retrieval.filters import compile_filter

        self.name = name
        try:
            self.where = compile_filter(where)
        except ConfigError as e:
            raise ConfigError(f"{name}: with.where is invalid: {e}") from e
        self.where_key = where_key

    def retrieve(self, retriever: Retriever, question: str, k: int, state: Any) -> list[Hit]:
        from ragloom.retrieval.filters import merge_where

        request = read_key(state, self.where_key, self.name, None)
        try:
            where = merge_where(self.where, request)
        except ConfigError as e:
            raise ConfigError(
                f"{self.name}: state key {self.where_key!r} holds an invalid filter: {e}"
            ) from e
        if where is None:
            return retriever.retrieve(question, k)
        return retriever.retrieve(question, k, where.where)


def _open(index: str) -> Any:
    from ragloom.retrieval.index import Index

    return Index.open(index)


def _index_node(
    name: str,
    mode: str,
    options: dict[str, Any],
    index: str | None,
    resource: str | None,
    k: int,
    input_key: str,
    output_key: str,
    where: dict[str, Any] | None,
    where_key: str,
) -> Node:
    """What the index-backed retriever factories share: the ``where`` scope checked now, the index folder
    opened on first use (``mode``: bm25, dense or hybrid with ``options``), or the run resource instead."""
    scope = Scope(name, where, where_key)
    make = (lambda: _open(index).retriever(mode, **options)) if index is not None else None
    return _retriever_node(name, make, resource, k, input_key, output_key, scope)


@register("retrieval.bm25")
def bm25_node(
    index: str | None = None,
    k: int = 5,
    resource: str | None = None,
    input_key: str = "question",
    output_key: str = "hits",
    where: dict[str, Any] | None = None,
    where_key: str = "where",
) -> Node:
    """BM25 (bm25s, stemmed) over an index folder's chunks."""
    return _index_node(
        "retrieval.bm25", "bm25", {}, index, resource, k, input_key, output_key, where, where_key
    )


@register("retrieval.dense")
def dense_node(
    index: str | None = None,
    k: int = 5,
    resource: str | None = None,
    input_key: str = "question",
    output_key: str = "hits",
    where: dict[str, Any] | None = None,
    where_key: str = "where",
) -> Node:
    """Dense retrieval (embedder + vector store) over an index folder."""
    return _index_node(
        "retrieval.dense", "dense", {}, index, resource, k, input_key, output_key, where, where_key
    )


@register(
    "retrieval.hybrid", role="retriever", search={"k": [10, 20, 30, 50]}, defaults={"resource": "retriever"}
)
def hybrid_node(
    index: str | None = None,
    k: int = 5,
    fusion: str = "rrf",
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
    depth: int = 100,
    resource: str | None = None,
    input_key: str = "question",
    output_key: str = "hits",
    where: dict[str, Any] | None = None,
    where_key: str = "where",
) -> Node:
    """BM25 + dense fused by rrf, weighted (minmax/zscore/dbsf normalisation) or dbsf."""
    options: dict[str, Any] = dict(fusion=fusion, weights=weights, normalization=normalization, depth=depth)
    from ragloom.retrieval.hybrid import HybridRetriever

    HybridRetriever([_NoRetriever(), _NoRetriever()], **options)  # validate parameters now, not at run time
    return _index_node(
        "retrieval.hybrid", "hybrid", options, index, resource, k, input_key, output_key, where, where_key
    )


@register("retrieval.index")
def index_node(
    path: str,
    mode: str = "hybrid",
    k: int = 5,
    input_key: str = "question",
    output_key: str = "hits",
    where: dict[str, Any] | None = None,
    where_key: str = "where",
    **options: Any,
) -> Node:
    """Open an index folder and retrieve with mode bm25, dense or hybrid (hybrid options pass through)."""
    from ragloom.retrieval.index import MODES

    if mode not in MODES:
        raise ConfigError(f"retrieval.index: unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if options and mode != "hybrid":
        raise ConfigError(f"retrieval.index: options {sorted(options)} only apply to mode 'hybrid'")
    return _index_node(
        "retrieval.index", mode, options, path, None, k, input_key, output_key, where, where_key
    )


class _NoRetriever:
    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        return []


def _rerank_node(name: str, get: Callable[[Any], Reranker], k: int | None, keys: dict[str, str]) -> Node:
    input_key = keys.pop("input_key", "question")
    hits_key = keys.pop("hits_key", "hits")
    output_key = keys.pop("output_key", "hits")
    if keys:
        raise ConfigError(
            f"{name}: unknown parameters {sorted(keys)}; key parameters are input_key, hits_key, output_key"
        )

    def rerank(state: Any, ctx: Any = None) -> dict[str, Any]:
        hits = list(read_key(state, hits_key, name, param="hits_key") or [])
        question = read_str(state, input_key, name, "the question")
        return {output_key: get(ctx).rerank(question, hits, k)}

    rerank.__name__ = name.replace(".", "_")
    return rerank


@register("retrieval.rerank.maxsim", role="reranker", search={"k": [4, 8, 12, 16]})
def maxsim_node(k: int | None = None, first_stage_weight: float = 0.0, **keys: str) -> Node:
    """Late-interaction MaxSim over the shared embedder's token vectors."""
    from ragloom.retrieval.embedders import default_embedder
    from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

    get = _lazy(lambda: MaxSimReranker(default_embedder(), first_stage_weight))
    return _rerank_node("retrieval.rerank.maxsim", lambda ctx: get(), k, dict(keys))


@register(
    "retrieval.rerank.collaborative",
    role="reranker",
    search={"k": [4, 8, 12, 16], "anchors": [2, 3, 5], "collab_weight": [0.05, 0.1, 0.2, 0.4]},
)
def collaborative_node(
    k: int | None = None, anchors: int = 3, collab_weight: float = 0.1, **keys: str
) -> Node:
    """HybRank-style reranking from the candidates' lexical and semantic similarities to each other."""
    from ragloom.retrieval.embedders import default_embedder
    from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker

    get = _lazy(
        lambda: CollaborativeReranker(default_embedder(), anchors=anchors, collab_weight=collab_weight)
    )
    return _rerank_node("retrieval.rerank.collaborative", lambda ctx: get(), k, dict(keys))


@register("retrieval.rerank.cross_encoder")
def cross_encoder_node(model_path: str, k: int | None = None, **keys: str) -> Node:
    """A sentence-transformers cross-encoder from a local folder."""
    from ragloom.retrieval.rerankers.cross_encoder import CrossEncoderReranker

    reranker = CrossEncoderReranker(model_path)
    return _rerank_node("retrieval.rerank.cross_encoder", lambda ctx: reranker, k, dict(keys))


@register("retrieval.rerank.llm")
def llm_rerank_node(k: int | None = None, mode: str = "yesno", llm: str = "llm", **keys: str) -> Node:
    """Pointwise LLM judgements (yes/no or 0-10); the LLM comes from the run's resources[llm]."""
    from ragloom.retrieval.rerankers.llm import MODES, LLMReranker

    if mode not in MODES:
        raise ConfigError(f"retrieval.rerank.llm: mode must be one of {', '.join(MODES)}, got {mode!r}")

    def get(ctx: Any) -> Reranker:
        model = ctx.resources.get(llm) if ctx is not None else None
        if model is None:
            raise ConfigError(
                f"retrieval.rerank.llm: no LLM in resources[{llm!r}]; "
                f"pass invoke(..., context={{{llm!r}: llm}})"
            )
        return LLMReranker(model, mode)

    return _with_context(_rerank_node("retrieval.rerank.llm", get, k, dict(keys)))


# the join and check components register with the rest of the retrieval room's components
from ragloom.retrieval import flow_components as _flow_components  # noqa: E402, F401
