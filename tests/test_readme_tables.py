"""README.md's result tables are generated from benchmarks/results/*.json and must agree with them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tables() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_tables", ROOT / "benchmarks" / "readme_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_readme_table_block_matches_its_benchmark_json() -> None:
    tables = _tables()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [m.group("name") for m in tables.BLOCK.finditer(text)]
    assert {"engine_overhead", "retrieval", "fusion", "workflow_search"} <= set(names)
    assert tables.rewrite(text) == text, "README tables are stale: run python benchmarks/readme_tables.py"


def test_a_changed_result_changes_the_table_and_an_unknown_block_is_an_error(tmp_path: Path) -> None:
    tables = _tables()
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    data = json.loads((tmp_path / "workflow_search.json").read_text())
    name, result = next(iter(data["datasets"].items()))
    result["rows"][0][2] = 0.123456  # the seed flow's test score
    (tmp_path / "workflow_search.json").write_text(json.dumps(data))
    block = "<!-- table:workflow_search -->\nold\n<!-- /table -->"
    seed_row = f"| {name} ({result['objective']}) | seed (qa.yaml) | {result['rows'][0][1]:.3f} | 0.123 |"
    assert seed_row in tables.rewrite(f"x\n{block}\ny", tmp_path)
    with pytest.raises(KeyError, match="table:nope has no generator"):
        tables.rewrite("<!-- table:nope -->\n<!-- /table -->", tmp_path)
