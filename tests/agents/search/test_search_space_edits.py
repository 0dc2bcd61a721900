"""Edits always yield valid, compilable candidates; candidates round-trip through YAML flows."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from search_fakes import full_space, tiny_space

from ragloom.agents.search import (
    candidate_flow,
    candidate_from_flow,
    check_candidate,
    compile_candidate,
    load_space,
    neighbours,
    random_candidate,
)
from ragloom.flows import Flow

ROOT = Path(__file__).resolve().parents[3]
SPACE = full_space()


def _walk(seed: int, steps: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    c = random_candidate(SPACE, rng) if seed % 2 else SPACE.seed
    for _ in range(steps):
        edits = neighbours(c, SPACE, rng)
        assert edits, f"no edit of {c.describe()}"
        c = rng.choice(edits).result
    return c


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 3))
def test_every_edit_compiles_and_stays_in_the_space(seed: int, steps: int) -> None:
    c = _walk(seed, steps)
    for edit in neighbours(c, SPACE, random.Random(seed)):
        check_candidate(edit.result, SPACE)
        compile_candidate(edit.result, SPACE)
        assert edit.result.key() != c.key()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(0, 3))
def test_candidates_round_trip_through_yaml(seed: int, steps: int) -> None:
    c = _walk(seed, steps) if steps else SPACE.seed
    text = candidate_flow(c, SPACE).to_yaml()
    again = Flow.from_yaml(text)
    again.compile()
    assert candidate_from_flow(again, SPACE) == c
    assert again.to_yaml() == text


def test_neighbours_are_distinct_and_cover_structural_edits() -> None:
    edits = neighbours(SPACE.seed, SPACE, random.Random(0))
    keys = [e.result.key() for e in edits]
    assert len(keys) == len(set(keys))
    assert {"param", "insert", "branch"} <= {e.kind for e in edits}
    branched = next(e.result for e in edits if e.kind == "branch")
    flow = candidate_flow(branched, SPACE)
    assert any(len(edge.sources) == 2 for edge in flow.edges)  # fan-in join of the two arms
    assert {e.kind for e in neighbours(branched, SPACE)} >= {"unbranch", "param"}


def test_example_space_file_loads() -> None:
    space = load_space(ROOT / "examples" / "search_space.yaml")
    assert space.seed.ops() == ["retrieve"] and not space.uses_llm
    assert tiny_space().op("retrieve").params["k"].values() == [5, 10, 15, 20]


def test_full_example_space_takes_the_library_ranges() -> None:
    space = load_space(ROOT / "examples" / "search_space_full.yaml")
    retrieve = space.op("retrieve").params
    assert retrieve["method"].values() == ["bm25", "dense", "hybrid", "graph"]
    assert retrieve["k"].values() == list(range(5, 55, 5))
    assert set(space.operators) >= {"retrieve", "multihop", "prf", "rerank", "select"}
    assert space.op("rerank").params["method"].values() == ["collaborative"] and not space.uses_llm
