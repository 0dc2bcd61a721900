"""Fusion kernels, exhaustively with hypothesis: formulas, invariants, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.core.errors import ConfigError
from ragloom.retrieval.fusion import (
    confidence_weighted_fusion,
    distribution_based_score_fusion,
    fuse,
    normalize_dbsf,
    normalize_minmax,
    normalize_zscore,
    ranking_confidence,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)

ids = st.sampled_from([f"d{i}" for i in range(12)])
scores = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


@st.composite
def ranking(draw):
    """A ranking as a retriever returns it: unique ids, scores descending."""
    chosen = draw(st.lists(ids, unique=True, max_size=10))
    values = sorted(draw(st.lists(scores, min_size=len(chosen), max_size=len(chosen))), reverse=True)
    return list(zip(chosen, values, strict=True))


rankings = st.lists(ranking(), min_size=1, max_size=4)
methods = st.sampled_from(["rrf", "weighted-minmax", "weighted-zscore", "dbsf"])


def run(method: str, rs, weights=None):
    if method.startswith("weighted-"):
        return weighted_score_fusion(rs, weights, method.split("-")[1])
    return fuse(rs, method, weights)


def rrf_bruteforce(rs, k=60, weights=None):
    weights = weights or [1.0] * len(rs)
    total: dict[str, float] = {}
    for w, r in zip(weights, rs, strict=True):
        for rank, (d, _) in enumerate(r, start=1):
            total[d] = total.get(d, 0.0) + w / (k + rank)
    return total


@settings(max_examples=200, deadline=None)
@given(rankings, methods)
def test_fused_ranking_is_the_union_sorted_descending(rs, method):
    fused = run(method, rs)
    assert {d for d, _ in fused} == {d for r in rs for d, _ in r}
    values = [s for _, s in fused]
    assert values == sorted(values, reverse=True)
    assert len({d for d, _ in fused}) == len(fused)


@settings(max_examples=200, deadline=None)
@given(rankings, st.integers(min_value=0, max_value=100))
def test_rrf_matches_the_formula(rs, k):
    expected = rrf_bruteforce(rs, k)
    fused = dict(reciprocal_rank_fusion(rs, k=k))
    assert fused.keys() == expected.keys()
    for d, v in expected.items():
        assert fused[d] == pytest.approx(v)


@settings(max_examples=150, deadline=None)
@given(rankings, methods)
def test_input_order_of_rankings_does_not_change_scores(rs, method):
    forward = dict(run(method, rs))
    backward = dict(run(method, list(reversed(rs))))
    assert forward.keys() == backward.keys()
    for d in forward:
        assert forward[d] == pytest.approx(backward[d], abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(rankings, methods)
def test_an_id_first_everywhere_wins(rs, method):
    rs = [[("top", (r[0][1] + 1.0) if r else 1.0), *r] for r in rs]
    assert run(method, rs)[0][0] == "top"


@settings(max_examples=150, deadline=None)
@given(rankings, methods, st.floats(min_value=0.1, max_value=10))
def test_scaling_all_weights_scales_scores(rs, method, c):
    base = dict(run(method, rs, [1.0] * len(rs)))
    scaled = dict(run(method, rs, [c] * len(rs)))
    for d in base:
        assert scaled[d] == pytest.approx(c * base[d], rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(rankings, methods)
def test_zero_weight_ranking_has_no_influence_on_shared_ids(rs, method):
    extra = [("zz", 5.0), *[(d, 0.0) for r in rs for d, _ in r[:1]]]
    with_zero = dict(run(method, [*rs, extra], [1.0] * len(rs) + [0.0]))
    without = dict(run(method, rs))
    for d, v in without.items():
        assert with_zero[d] == pytest.approx(v, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(scores, min_size=1, max_size=30))
def test_normalisations(values):
    x = np.array(values)
    mm = normalize_minmax(x)
    assert mm.min() >= 0 and mm.max() == pytest.approx(1.0)
    if np.ptp(x) > 1e-9:
        assert mm[np.argmin(x)] == pytest.approx(0.0)
    z = normalize_zscore(x)
    assert abs(z.mean()) < 1e-6
    assert z.std() == pytest.approx(1.0, abs=1e-6) or np.allclose(z, 0)
    db = normalize_dbsf(x)
    assert db.min() >= 0 and db.max() <= 1
    # all three keep the order of the scores
    for norm in (mm, z, db):
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(norm[order]) >= -1e-12)


def test_dbsf_uses_three_sigma_limits():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    mean, std = x.mean(), x.std()
    expected = (x - (mean - 3 * std)) / (6 * std)
    assert np.allclose(normalize_dbsf(x), expected)
    assert dict(distribution_based_score_fusion([list(zip("abcde", x[::-1], strict=True))])) == pytest.approx(
        dict(zip("abcde", expected[::-1], strict=True))
    )


def test_absent_ids_count_as_the_floor():
    fused = dict(weighted_score_fusion([[("a", 3.0), ("b", 1.0)], [("c", 10.0), ("a", 0.0)]]))
    # minmax: a = 1 + 0, b = 0 + floor 0, c = floor 0 + 1
    assert fused == {"a": 1.0, "b": 0.0, "c": 1.0}
    z = dict(
        weighted_score_fusion([[("a", 3.0), ("b", 1.0)], [("c", 10.0), ("a", 0.0)]], normalization="zscore")
    )
    assert z["b"] == pytest.approx(-1.0 + -1.0)  # its own z plus the second ranking's lowest z


def test_edge_cases_and_errors():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []
    assert weighted_score_fusion([[("a", 2.0)]]) == [("a", 1.0)]
    assert reciprocal_rank_fusion([[("a", 1.0), ("a", 0.5)]]) == [("a", pytest.approx(1 / 61))]
    with pytest.raises(ConfigError, match="one weight per retriever"):
        reciprocal_rank_fusion([[("a", 1.0)]], weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match="minmax"):
        weighted_score_fusion([[("a", 1.0)]], normalization="softmax")
    with pytest.raises(ConfigError, match="rrf"):
        fuse([[("a", 1.0)]], method="borda")
    with pytest.raises(ConfigError, match=">= 0"):
        fuse([[("a", 1.0)]], weights=[-1.0])


@pytest.mark.parametrize(
    "method,normalization", [("weighted", "minmax"), ("weighted", "zscore"), ("dbsf", "")]
)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_score_fusion_rejects_non_finite_scores(method, normalization, bad):
    """One NaN used to turn every fused score into NaN (and an infinity made a ranking look constant)."""
    rankings = [[("a", 2.0), ("b", bad), ("c", 0.5)], [("c", 1.0)]]
    with pytest.raises(ConfigError, match=r"ranking 0.*'b'"):
        fuse(rankings, method, normalization=normalization or "minmax")
    assert fuse(rankings, "rrf")[0][0] == "c"  # rank fusion ignores scores, so it still works


def test_confidence_fusion_follows_the_ranking_that_separates_its_head_from_its_tail() -> None:
    """A ranking whose head does not stand out (most results alike) barely counts; one whose first results
    stand far above the rest decides the order."""
    flat = (
        [(f"f{i}", 10.0 - 0.001 * i) for i in range(90)] + [("a", 9.0)] + [(f"g{i}", 0.0) for i in range(9)]
    )
    peaked = [("a", 0.9), ("b", 0.85)] + [(f"h{i}", 0.8) for i in range(8)]
    peaked += [(f"p{i}", 0.1 - 0.001 * i) for i in range(90)]
    fused = confidence_weighted_fusion([flat, peaked])
    assert [d for d, _ in fused[:2]] == ["a", "b"]
    z_flat = normalize_zscore(np.array([s for _, s in flat]))
    z_peaked = normalize_zscore(np.array([s for _, s in peaked]))
    assert ranking_confidence(np.sort(z_peaked)[::-1]) > ranking_confidence(np.sort(z_flat)[::-1])


def test_confidence_fusion_edge_cases_and_dispatch() -> None:
    assert confidence_weighted_fusion([]) == []
    assert confidence_weighted_fusion([[("a", 1.0)], []]) == [("a", 0.0)]  # no confidence: equal weights
    assert ranking_confidence(np.array([1.0])) == 0.0
    same = [[("a", 3.0), ("b", 1.0), ("c", 0.0)], [("b", 2.0), ("a", 1.0), ("c", 0.5)]]
    assert fuse(same, "confidence") == confidence_weighted_fusion(same)
    with pytest.raises(ConfigError, match="finite"):
        confidence_weighted_fusion([[("a", float("nan"))]])


@settings(max_examples=200, deadline=None)
@given(st.lists(ranking(), min_size=1, max_size=3))
def test_confidence_fusion_returns_every_id_once_sorted(rankings) -> None:
    fused = confidence_weighted_fusion(rankings)
    got = [d for d, _ in fused]
    assert sorted(got) == sorted({d for r in rankings for d, _ in r})
    values = [s for _, s in fused]
    assert values == sorted(values, reverse=True) and all(np.isfinite(values))
