"""Where the graph lives next to the other indexes, and how a stored graph becomes a GraphRetriever.

``ragloom graph index SOURCE --store DIR`` writes the graph to ``DIR/graph/``; the flat index (BM25 +
vectors, ``ragloom index``) lives in ``DIR`` itself, so one folder serves flat, graph and fused retrieval.
The graph retriever's optional first stage (passage seeds) comes from that flat index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.protocols import Embedder, Retriever
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.retriever import GraphRetriever

__all__ = [
    "FIRST_STAGES",
    "GRAPH_SUBDIR",
    "LazyGraphRetriever",
    "first_stage_for",
    "graph_dir",
    "has_graph",
    "open_graph_retriever",
]

GRAPH_SUBDIR = "graph"
FIRST_STAGES = ("auto", "none", "bm25", "dense", "hybrid")


def graph_dir(store: str | os.PathLike[str]) -> Path:
    """``DIR/graph`` (or ``DIR`` itself when it is a graph folder)."""
    root = Path(store)
    return root if (root / "settings.json").is_file() else root / GRAPH_SUBDIR


def has_graph(store: str | os.PathLike[str]) -> bool:
    """Whether ``store`` holds a graph index (``DIR/graph``, built by ``ragloom graph index``)."""
    return (graph_dir(store) / "settings.json").is_file()


def first_stage_for(store: str | os.PathLike[str], mode: str = "auto") -> Retriever | None:
    """The flat retriever in ``store`` used for passage seeds: ``auto`` = hybrid when a flat index exists."""
    if mode not in FIRST_STAGES:
        raise ConfigError(f"unknown first stage {mode!r}; choose one of {', '.join(FIRST_STAGES)}")
    root = Path(store)
    has_flat = (root / "manifest.json").is_file()
    if mode == "none" or (mode == "auto" and not has_flat):
        return None
    if not has_flat:
        raise IndexError_(
            f"first stage {mode!r} needs a flat index in {root}; "
            f"build it: ragloom index SOURCE --store {root}"
        )
    from ragloom.retrieval.index import Index

    return Index.open(root).retriever("hybrid" if mode == "auto" else mode)


def open_graph_retriever(
    store: str | os.PathLike[str],
    first_stage: str = "auto",
    embedder: Embedder | None = None,
    **linker_params: Any,
) -> GraphRetriever:
    """A GraphRetriever over the graph in ``store`` (see :func:`graph_dir`) with its first stage."""
    from ragloom.retrieval.graph.seeds import SeedLinker

    index = GraphIndex.load(graph_dir(store), embedder=embedder)
    first = first_stage_for(store, first_stage)
    return GraphRetriever(index, linker=SeedLinker(index, first_stage=first, **linker_params))


class LazyGraphRetriever:
    """A run resource that opens the graph in ``store`` on first use (loading a graph takes seconds, and
    most runs of an index never walk it). ``first_stage``: the flat retriever for passage seeds (default:
    the store's own hybrid, as :func:`open_graph_retriever`). Thread-safe: served flows run in a pool."""

    def __init__(self, store: str | os.PathLike[str], first_stage: Retriever | None = None) -> None:
        import threading

        self.store = Path(store)
        self.first_stage = first_stage
        self._lock = threading.Lock()
        self._opened: GraphRetriever | None = None

    def open(self) -> GraphRetriever:
        with self._lock:
            if self._opened is None:
                if self.first_stage is None:
                    self._opened = open_graph_retriever(self.store)
                else:
                    from ragloom.retrieval.graph.seeds import SeedLinker

                    index = GraphIndex.load(graph_dir(self.store))
                    linker = SeedLinker(index, first_stage=self.first_stage)
                    self._opened = GraphRetriever(index, linker=linker)
            return self._opened
