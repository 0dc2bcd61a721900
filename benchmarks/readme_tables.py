"""Generate README.md's result tables from benchmarks/results/*.json, so the README cannot drift.

Each table lives between ``<!-- table:NAME -->`` and ``<!-- /table -->`` in README.md; this script rewrites
the block with the table built from the JSON the benchmark wrote. ``tests/test_readme_tables.py`` checks that
README.md and the JSON agree.

    python benchmarks/readme_tables.py           # rewrite the blocks in README.md
    python benchmarks/readme_tables.py --check   # exit 1 when a block differs from its JSON
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _load(name: str, results: Path) -> dict[str, Any]:
    return json.loads((results / f"{name}.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _num(value: float) -> str:
    """The benchmarks' cell format: 4 significant digits, thousands separated."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


_SYSTEMS = {"plain python": "plain Python", "ragloom": "ragloom", "langgraph": "LangGraph"}
_CHECKPOINTERS = {  # (ragloom label, LangGraph label): like for like, the same durability on both sides
    "none": ("none", "none"),
    "memory": ("memory", "memory"),
    "sqlite": ("SQLite, each step durable before the next", 'SQLite, `durability="sync"`'),
    "sqlite-async": ('SQLite, `durability="async"`', "SQLite, default (`async`)"),
    "sqlite-pickle": ("SQLite, pickle (opt-in)", "SQLite, pickle"),
    "sqlite-json": ("SQLite, JSON state", "SQLite, JSON state"),
    "postgres": ("PostgreSQL, each step durable before the next", 'PostgresSaver, `durability="sync"`'),
    "postgres-async": ('PostgreSQL, `durability="async"`', "PostgresSaver, default (`async`)"),
}


def engine_overhead(results: Path) -> str:
    """CPU µs per node step (the bar is on CPU: the machine is shared, wall time is noisy)."""
    rows = []
    for r in _load("engine_overhead", results)["rows"]:
        labels = _CHECKPOINTERS.get(r["checkpointer"], (r["checkpointer"], r["checkpointer"]))
        checkpointer = labels[1] if r["system"] == "langgraph" else labels[0]
        system = _SYSTEMS.get(r["system"], r["system"])
        rows.append([system, checkpointer, _num(r["chain_cpu_us"]), _num(r["loop_cpu_us"])])
    return _markdown(["system", "checkpointer", "10-node chain", "100-iteration loop"], rows)


_DATASET_LABELS = {
    "scifact": "SciFact",
    "msmarco-5k": "msmarco-5k",
    "hotpotqa-300": "hotpotqa-300",
    "squad-articles-a": "squad-articles-a",
}


def retrieval(results: Path) -> str:
    """Test splits from fusion_default.json: BM25, dense (late chunking where chunked) and the default hybrid;
    the best of each row in bold."""
    data = _load("fusion_default", results)
    rows = []
    for name, splits in data["datasets"].items():
        test = splits["test"]
        values = [test["bm25"], test["dense"], test["hybrid-new (auto, chosen on dev)"]]
        best = max(values)
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in values]
        rows.append([f"{_DATASET_LABELS.get(name, name)} ({data['primary'][name]})", *cells])
    return _markdown(["dataset (metric)", "BM25", "dense", "hybrid (default)"], rows)


def fusion(results: Path) -> str:
    """Every rule of fusion_default.json on the test splits, with the better arm for reference."""
    data = _load("fusion_default", results)
    names = list(data["datasets"])
    rules = list(next(iter(data["datasets"].values()))["test"])
    rows = [[rule, *(f"{data['datasets'][d]['test'][rule]:.3f}" for d in names)] for rule in rules]
    return _markdown(["rule (test split)", *names], rows)


_SEARCH_LABELS = {"mcts": "MCTS", "random": "random search"}


def workflow_search(results: Path) -> str:
    """Per dataset: the seed flow, MCTS and random search (dev, test mean of seeds, evaluations, wall s)."""
    rows = []
    for name, result in _load("workflow_search", results)["datasets"].items():
        for flow, dev, test, _std, evaluations, wall, *_ in result["rows"]:
            label = _SEARCH_LABELS.get(flow, flow)
            cells = [f"{dev:.3f}", f"{test:.3f}", str(evaluations), f"{wall:.1f}"]
            rows.append([f"{name} ({result['objective']})", label, *cells])
    header = ["dataset (objective)", "flow", "dev", "test (mean of seeds)", "evaluations", "s per search"]
    return _markdown(header, rows)


TABLES: dict[str, Callable[[Path], str]] = {
    "engine_overhead": engine_overhead,
    "retrieval": retrieval,
    "fusion": fusion,
    "workflow_search": workflow_search,
}


def rewrite(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked block replaced by its generated table (unknown names are an error)."""

    def one(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise KeyError(f"README block table:{name} has no generator; known: {', '.join(TABLES)}")
        return m.group(1) + TABLES[name](results) + m.group(4)

    return BLOCK.sub(one, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is stale")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args()
    text = args.readme.read_text(encoding="utf-8")
    new = rewrite(text)
    if args.check:
        if new != text:
            print(f"{args.readme}: tables differ from benchmarks/results; run benchmarks/readme_tables.py")
            return 1
        return 0
    args.readme.write_text(new, encoding="utf-8")
    print(f"rewrote {len(BLOCK.findall(text))} tables in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
