"""Path refinement (LEGO-GraphRAG's third module): PathRAG's flow-based pruning and path reranking.

PathRAG (Chen et al., 2025, arXiv:2502.14902) spreads a unit of *resource* from a start node: each node
passes ``decay * S(v) / deg(v)`` to each neighbour one hop further out, and a share below ``threshold`` is
not passed on (early stopping). A path's reliability is the mean resource of its nodes after the start.
Paths are kept by reliability (optionally mixed with the filter's query similarity) and rendered as text.

:func:`propagate_resources` is the pure kernel. Properties the tests check: the total resource arriving at
hop ``h`` is at most ``decay ** h``, and raising ``threshold`` never adds a reached node nor raises any
node's resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ragloom.core.errors import ConfigError
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.paths import ScoredPath, render_path
from ragloom.retrieval.graph.seeds import Seeds

__all__ = ["PathPruner", "path_reliability", "propagate_resources"]


def propagate_resources(
    neighbours: Callable[[str], Sequence[str]],
    source: str,
    decay: float = 0.8,
    threshold: float = 0.05,
    max_hops: int = 4,
) -> dict[str, float]:
    """Resource of every node reached from ``source`` (which holds 1.0), layer by layer (BFS order).

    A node at hop ``h`` passes ``decay * S / deg`` to each neighbour not in an earlier layer when that share
    is >= ``threshold``; ``deg`` counts all its neighbours (resource sent back is lost, as in PathRAG).
    """
    if not 0.0 < decay <= 1.0 or threshold < 0:
        raise ConfigError(
            f"resource propagation needs 0 < decay <= 1 and threshold >= 0, got {decay}, {threshold}"
        )
    resources = {source: 1.0}
    layer = {source: 1.0}
    done = {source}
    for _ in range(max_hops):
        incoming: dict[str, float] = {}
        for node, amount in layer.items():
            nbrs = list(neighbours(node))
            if not nbrs:
                continue
            share = decay * amount / len(nbrs)
            if share < threshold:
                continue
            for nb in nbrs:
                if nb not in done:
                    incoming[nb] = incoming.get(nb, 0.0) + share
        if not incoming:
            break
        for node, amount in incoming.items():
            resources[node] = resources.get(node, 0.0) + amount
        done.update(incoming)
        layer = incoming
    return resources


def path_reliability(nodes: Sequence[str], resources: dict[str, float]) -> float:
    """Mean resource of the path's nodes after its start (0 for a node the flow did not reach)."""
    if len(nodes) < 2:
        return 0.0
    return sum(resources.get(n, 0.0) for n in nodes[1:]) / (len(nodes) - 1)


class PathPruner:
    """Score candidate paths by flow reliability from their start, keep the best ``n``, render their text.

    Final score = ``reliability ** (1 - mix) * similarity ** mix`` (``mix`` 0 = pure PathRAG reliability).
    Entity-only neighbourhoods are used (the graph the paths live on).
    """

    def __init__(
        self,
        index: GraphIndex,
        decay: float = 0.8,
        threshold: float = 0.01,
        max_hops: int = 4,
        mix: float = 0.3,
    ) -> None:
        if not 0.0 <= mix <= 1.0:
            raise ConfigError(f"PathPruner: mix must be in [0, 1], got {mix}")
        self.index = index
        self.decay = decay
        self.threshold = threshold
        self.max_hops = max_hops
        self.mix = mix

    def _neighbours(self, node: str) -> list[str]:
        g = self.index.graph
        return [n for n in g[node] if n.startswith("e:")] if node in g else []

    def prune(self, candidates: Sequence[ScoredPath], seeds: Seeds, n: int = 5) -> list[ScoredPath]:
        """The ``n`` most reliable candidates (ties: higher similarity, then node order), best first."""
        flows: dict[str, dict[str, float]] = {}
        scored: list[ScoredPath] = []
        for path in candidates:
            start = path.nodes[0]
            if start not in flows:
                flows[start] = propagate_resources(
                    self._neighbours, start, self.decay, self.threshold, self.max_hops
                )
            rel = path_reliability(path.nodes, flows[start])
            if rel <= 0:
                continue
            final = rel ** (1.0 - self.mix) * max(path.score, 1e-9) ** self.mix
            scored.append(ScoredPath(path.nodes, path.score, final, render_path(self.index, path.nodes)))
        scored.sort(key=lambda p: (-p.reliability, -p.score, p.nodes))
        return scored[:n]
