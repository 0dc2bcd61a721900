"""Deleting documents across an index folder: the flat index (``Index.delete``) and the graph beside it.

The flat index and the graph (``DIR/graph``) commit separately, flat first. Killed in between, the flat
index no longer holds the documents while the graph still does; running the same delete again finishes it,
because an id is "known" while either index holds it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from ragloom.core.errors import ConfigError

__all__ = ["check_known", "delete_from_graph", "graph_doc_ids"]


def graph_doc_ids(root: Path) -> set[str]:
    """Document ids of the graph index in ``root/graph`` (empty when there is none)."""
    from ragloom.retrieval.graph.store import graph_dir

    folder = graph_dir(root)
    if not (folder / "settings.json").is_file():
        return set()
    from ragloom.retrieval.graph.graph_index import GraphIndex

    return set(GraphIndex.load(folder).doc_hashes)


def check_known(root: Path, doc_ids: Sequence[str], flat: Collection[str]) -> None:
    """Refuse ids that neither the flat index nor the graph holds (a typo must not pass silently)."""
    if not doc_ids:
        raise ConfigError("delete: no document ids given")
    unknown = [d for d in doc_ids if d not in flat]
    if unknown:
        unknown = [d for d in unknown if d not in graph_doc_ids(root)]
    if unknown:
        sample = ", ".join(repr(d) for d in sorted(flat)[:5])
        raise ConfigError(
            f"delete: no document {', '.join(repr(d) for d in unknown)} in the index at {str(root)!r} "
            f"(it holds {len(flat)} documents, e.g. {sample or 'none'}); nothing was deleted"
        )


def delete_from_graph(root: Path, doc_ids: Sequence[str]) -> int:
    """Drop ``doc_ids`` from the graph in ``root/graph`` (its passages, their edges, entities nothing else
    mentions) and save it atomically; returns how many documents it held (0 without a graph)."""
    from ragloom.retrieval.graph.store import graph_dir

    folder = graph_dir(root)
    if not (folder / "settings.json").is_file():
        return 0
    from ragloom.retrieval.graph.graph_index import GraphIndex

    graph = GraphIndex.load(folder)
    removed = graph.delete(doc_ids)
    if removed:
        graph.save(folder)
    return removed
