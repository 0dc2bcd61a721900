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

__all__ = ["FIRST_STAGES", "GRAPH_SUBDIR", "first_stage_for", "graph_dir", "open_graph_retriever"]

GRAPH_SUBDIR = "graph"
FIRST_STAGES = ("auto", "none", "bm25", "dense", "hybrid")


def graph_dir(store: str | os.PathLike[str]) -> Path:
    """``DIR/graph`` (or ``DIR`` itself when it is a graph folder)."""
    root = Path(store)
    return root if (root / "settings.json").is_file() else root / GRAPH_SUBDIR


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
