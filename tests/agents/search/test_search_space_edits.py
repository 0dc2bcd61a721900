"""Edits always yield valid, compilable candidates; candidates round-trip through YAML flows."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
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
from ragloom.core.errors import ConfigError
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


BAD_SPACES = [
    ("operators:\n  retrieve: {params: [\n", r"bad\.yaml: line 3, column 1: not valid YAML"),
    ("operators:\n\tretrieve:\n", r"bad\.yaml: line 2, column 1: not valid YAML"),
    ("operators:\n  retrieve: [k]\n", r"bad\.yaml\.operators\.retrieve: expected a mapping"),
    ("operators:\n  retrieve: {params: [k]}\n", r"operators\.retrieve\.params: expected a mapping"),
    ("operators:\n  retrieve: {params: {k: {int: 5}}}\n", r"retrieve\.k: int: needs a \[low, high\] pair"),
    ("operators:\n  retrieve: {params: {k: {int: [5]}}}\n", r"retrieve\.k: int: needs a \[low, high\] pair"),
    ("operators:\n  retrieve: {params: {k: {int: [a, 9]}}}\n", r"retrieve\.k: int: .* must be numbers"),
    ("operators:\n  retrieve: {params: {k: {int: [20, 5]}}}\n", r"retrieve\.k: .*need low <= high"),
    (
        "operators:\n  retrieve: {params: {k: {int: [1, 2], step: 0.5}}}\n",
        r"bad\.yaml\.operators\.retrieve\.k: .*int step must be a whole number >= 1, got 0\.5",
    ),
    (
        "operators:\n  retrieve: {params: {k: {int: [1.5, 4]}}}\n",
        r"bad\.yaml\.operators\.retrieve\.k: .*int bounds must be whole numbers, got \[1\.5, 4\.0\]",
    ),
    ("operators:\n  retrieve: {params: {method: {choices: bm25}}}\n", r"retrieve\.method: choices must"),
    ("operators:\n  retrieve: {only: k}\n", r"retrieve\.only: expected a list"),
    ("operators:\n  retrieve: {fixed: [1]}\n", r"retrieve\.fixed: expected a mapping"),
    ("seed: {op: retrieve}\noperators:\n  retrieve:\n", r"bad\.yaml\.seed: expected a list of steps"),
    ("seed: [retrieve]\noperators:\n  retrieve:\n", r"bad\.yaml\.seed\[0\]: a step must be a mapping"),
    ("operators:\n  retrieve:\nbranches: [1]\n", r"bad\.yaml\.branches: expected a mapping"),
    (
        "seed:\n  - {op: retrieve, with: {method: nope}}\noperators:\n  retrieve:\n",
        r"bad\.yaml\.seed: retrieve: method='nope' is outside the space's range",
    ),
    (
        "seed:\n  - {op: retrieve}\n  - {op: prf}\noperators:\n  retrieve:\n",
        r"bad\.yaml\.seed: operator 'prf' is not in this search space",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPACES)
def test_a_malformed_space_file_says_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_space(path)


def test_a_space_of_single_values_has_one_candidate(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "operators:\n  retrieve: {params: {method: [bm25], k: {int: [5, 5]}}, only: [method, k]}\n"
    )
    space = load_space(path)
    assert space.op("retrieve").params["k"].values() == [5]
    assert space.op("retrieve").params["k"].neighbours(5) == []
    assert space.seed.steps[0].kwargs["k"] == 5


def test_the_search_command_reports_a_malformed_space_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text(BAD_SPACES[0][0], encoding="utf-8")
    args = ["search", "--space", str(path), "--dataset", str(tmp_path), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"error: {path}: line 3, column 1: not valid YAML" in result.output
    assert not (tmp_path / "out").exists()
