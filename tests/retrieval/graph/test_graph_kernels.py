"""Pure kernels: PPR against networkx, synonym pairs, PathRAG resource propagation invariants."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.core.errors import ConfigError
from ragloom.retrieval.graph.pathrag import path_reliability, propagate_resources
from ragloom.retrieval.graph.ppr import personalized_pagerank
from ragloom.retrieval.graph.synonyms import synonym_pairs


def random_graph(seed: int, n: int = 30, p: float = 0.12) -> nx.Graph:
    rng = np.random.default_rng(seed)
    g = nx.gnp_random_graph(n, p, seed=seed)
    for u, v in g.edges:
        g[u][v]["weight"] = float(rng.uniform(0.1, 3.0))
    g.add_node(n)  # an isolated (dangling) node
    return g


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("damping", [0.5, 0.85])
def test_ppr_matches_networkx(seed: int, damping: float) -> None:
    g = random_graph(seed)
    nodes = list(g.nodes)
    reset = {nodes[1]: 2.0, nodes[5]: 1.0, nodes[-1]: 0.5}
    expected = nx.pagerank(g, alpha=damping, personalization=reset, weight="weight", tol=1e-12, max_iter=1000)
    matrix = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight")
    r = np.array([reset.get(n, 0.0) for n in nodes])
    got = personalized_pagerank(matrix, r, damping=damping, tol=1e-12, max_iter=1000)
    assert got.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(got, [expected[n] for n in nodes], atol=1e-8)


def test_ppr_rejects_bad_input() -> None:
    matrix = nx.to_scipy_sparse_array(nx.path_graph(3))
    with pytest.raises(ConfigError, match="seed"):
        personalized_pagerank(matrix, np.zeros(3))
    with pytest.raises(ConfigError, match="3 nodes"):
        personalized_pagerank(matrix, np.ones(4))
    with pytest.raises(ConfigError, match="damping"):
        personalized_pagerank(matrix, np.ones(3), damping=1.0)


def test_synonym_pairs_threshold_and_k() -> None:
    v = np.array([[1, 0, 0], [0.99, 0.14, 0], [0.9, 0.43, 0], [0, 0, 1]], dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    pairs = synonym_pairs(v, np.array([0]), threshold=0.95, k=5)
    assert [(i, j) for i, j, _ in pairs] == [(0, 1)]
    assert [(i, j) for i, j, _ in synonym_pairs(v, np.array([0]), threshold=0.5, k=1)] == [(0, 1)]
    assert {j for _, j, _ in synonym_pairs(v, np.array([0]), threshold=0.5, k=5)} == {1, 2}
    assert all(s >= 0.5 for _, _, s in synonym_pairs(v, np.arange(4), threshold=0.5, k=3))
    assert synonym_pairs(v, np.array([], dtype=np.int64)) == []


def neighbours_of(g: nx.Graph):
    return lambda n: [str(x) for x in g[int(n)]]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    decay=st.floats(0.1, 1.0),
    t1=st.floats(0.0, 0.2),
    t2=st.floats(0.0, 0.2),
)
def test_propagation_decay_bound_and_threshold_monotone(
    seed: int, decay: float, t1: float, t2: float
) -> None:
    g = random_graph(seed, n=25, p=0.15)
    lo, hi = min(t1, t2), max(t1, t2)
    low = propagate_resources(neighbours_of(g), "0", decay=decay, threshold=lo, max_hops=5)
    high = propagate_resources(neighbours_of(g), "0", decay=decay, threshold=hi, max_hops=5)
    assert low["0"] == high["0"] == 1.0
    assert set(high) <= set(low)  # a higher threshold never reaches more nodes ...
    assert all(high[n] <= low[n] + 1e-12 for n in high)  # ... nor gives any node more resource
    dist = nx.single_source_shortest_path_length(g, 0)
    for h in range(1, 6):  # mass arriving at hop h is at most decay ** h
        assert sum(r for n, r in low.items() if dist[int(n)] == h) <= decay**h + 1e-9


def test_reliability_is_mean_resource_after_start() -> None:
    g = nx.path_graph(4)
    res = propagate_resources(neighbours_of(g), "0", decay=0.5, threshold=0.0)
    assert res == pytest.approx({"0": 1.0, "1": 0.5, "2": 0.125, "3": 0.03125})
    assert path_reliability(["0", "1", "2"], res) == pytest.approx((0.5 + 0.125) / 2)
    assert path_reliability(["0"], res) == 0.0
    cut = propagate_resources(neighbours_of(g), "0", decay=0.5, threshold=0.2)
    assert set(cut) == {"0", "1"}  # node 1 would pass on 0.125 < 0.2: early stop
