"""Path filtering (LEGO-GraphRAG's second module): paths between the query's seed entities.

Paths run over entity nodes along entity–entity edges (relations, sentence co-occurrence, synonyms); each
path is scored by the mean cosine between the query and the names on it, so paths through entities the
question talks about win. Two searches:

- ``"shortest"``: every shortest path between each pair of seed entities (networkx, capped);
- ``"beam"``: beam search from each seed, expanding the ``beam_width`` best partial paths per hop; a path
  is kept when it reaches another seed (or, with a single seed, at every length).

Hubs (entities in more than ``max_degree`` edges, such as "american") are not expanded through.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.seeds import Seeds

__all__ = ["PathFilter", "ScoredPath", "render_path"]

METHODS = ("beam", "shortest")


@dataclass(frozen=True)
class ScoredPath:
    """A path of entity node ids; ``score``: query similarity; ``reliability``: set by pruning; ``text``."""

    nodes: tuple[str, ...]
    score: float
    reliability: float = 0.0
    text: str = ""


def _label(index: GraphIndex, node: str) -> str:
    data = index.graph.nodes.get(node, {})
    return str(data.get("label") or node[2:])


def render_path(index: GraphIndex, nodes: tuple[str, ...]) -> str:
    """``A --[relation]-- B --[co-occurs in "Title"]-- C``: names as written, edges explained."""
    g = index.graph
    parts = [_label(index, nodes[0])]
    for u, v in itertools.pairwise(nodes):
        data = g[u][v] if g.has_edge(u, v) else {}
        kinds = data.get("kinds", {})
        if data.get("relations"):
            how = " / ".join(data["relations"][:2])
        elif "cooccur" in kinds:
            common = sorted(n for n in g[u] if n.startswith("c:") and g.has_edge(n, v))
            how = f'co-occurs in "{index.chunk(common[0][2:]).doc_id}"' if common else "co-occurs with"
        elif "synonym" in kinds:
            how = "same as"
        else:
            how = "related to"
        parts.append(f"--[{how}]-- {_label(index, v)}")
    return " ".join(parts)


class PathFilter:
    """Candidate paths between seed entities, scored by similarity to the query (module docstring)."""

    def __init__(
        self,
        index: GraphIndex,
        method: str = "beam",
        max_hops: int = 3,
        beam_width: int = 8,
        max_paths: int = 20,
        max_degree: int = 300,
        max_seeds: int = 6,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"PathFilter: unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if max_hops < 1 or beam_width < 1 or max_paths < 1:
            raise ConfigError("PathFilter: max_hops, beam_width and max_paths must be >= 1")
        self.index = index
        self.method = method
        self.max_hops = max_hops
        self.beam_width = beam_width
        self.max_paths = max_paths
        self.max_degree = max_degree
        self.max_seeds = max_seeds

    def paths(self, query: str, seeds: Seeds) -> list[ScoredPath]:
        """Up to ``max_paths`` distinct paths, best score first."""
        ents = sorted(seeds.entities, key=lambda n: -seeds.nodes[n])[: self.max_seeds]
        ents = [e for e in ents if e in self.index.graph]
        if not ents:
            return []
        qvec = self.index.embedder.embed([query])[0]
        sim = _Similarity(self.index, qvec)
        found = self._shortest(ents) if self.method == "shortest" else self._beam(ents, sim)
        scored: dict[tuple[str, ...], float] = {}
        for p in found:  # a path and its reverse say the same thing: keep the first seen
            if len(p) > 1 and p[::-1] not in scored:
                scored[p] = sim.path(p)
        best = sorted(scored.items(), key=lambda item: (-item[1], item[0]))[: self.max_paths]
        return [ScoredPath(p, s) for p, s in best]

    def _entity_neighbours(self, node: str) -> Iterable[str]:
        g = self.index.graph
        if g.degree(node) > self.max_degree:
            return ()
        return (n for n in g[node] if n.startswith("e:"))

    def _shortest(self, ents: list[str]) -> list[tuple[str, ...]]:
        g = self.index.graph
        view = nx.subgraph_view(
            g, filter_node=lambda n: n.startswith("e:") and (n in ents or g.degree(n) <= self.max_degree)
        )
        out: list[tuple[str, ...]] = []
        for a, b in itertools.combinations(ents, 2):
            try:
                for p in itertools.islice(nx.all_shortest_paths(view, a, b), self.max_paths):
                    if len(p) - 1 <= self.max_hops:
                        out.append(tuple(p))
            except nx.NetworkXNoPath:
                continue
        return out

    def _beam(self, ents: list[str], sim: _Similarity) -> list[tuple[str, ...]]:
        targets = set(ents)
        out: list[tuple[str, ...]] = []
        for start in ents:
            beam: list[tuple[str, ...]] = [(start,)]
            for _ in range(self.max_hops):
                grown = [(*p, n) for p in beam for n in self._entity_neighbours(p[-1]) if n not in p]
                if not grown:
                    break
                grown.sort(key=lambda p: (-sim.path(p), p))
                beam = grown[: self.beam_width]
                reached = [p for p in beam if p[-1] in targets and p[-1] != start]
                out += reached if len(targets) > 1 else beam
        return out


class _Similarity:
    """Cosine of the query with entity names (embedded ones; others count 0), memoised per node."""

    def __init__(self, index: GraphIndex, qvec: np.ndarray) -> None:
        self.index = index
        self.qvec = qvec
        self.memo: dict[str, float] = {}

    def node(self, node: str) -> float:
        if node not in self.memo:
            row = self.index.entity_row(node[2:])
            self.memo[node] = float(self.index.entity_vectors[row] @ self.qvec) if row is not None else 0.0
        return self.memo[node]

    def path(self, nodes: tuple[str, ...]) -> float:
        return sum(self.node(n) for n in nodes) / len(nodes)
