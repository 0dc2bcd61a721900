"""Workflow search over real flows (``ragloom search --seed FLOW.yaml``): the seed vs MCTS vs random search,
on hotpotqa-300 and on the docs-a document set.

Each dataset runs :func:`flow_search.compare` (benchmarks/flow_search.py): seeded from
examples/flows/qa.yaml, searched on the dev part of a seeded split, every candidate scored by the one flow
evaluator, the seed and each method's best flow scored ONCE on the test part; equal evaluation budget per
method, seeds 0 1 2.

- hotpotqa-300: ``context-support-R`` (support recall of the final context, under the seed's token budget),
  the harness's default split (30 % dev, the first 60 dev questions searched), scored on the 210 test ones.
- docs-a: ``answer@512`` (the gold answer within the first 512 budget tokens of the flow's final context),
  its 33 files read through the ingestion layer into an index built once and cached; dev half of the seeded
  split (``dev_fraction=0.5``: 27 dev, 33 test questions).

Both objectives read no answer, so candidates run without their LLM step (no model needed). Results of the
datasets run are merged into benchmarks/results/workflow_search.json (a dataset not run keeps its last
result).

    python benchmarks/workflow_search.py [--datasets hotpotqa-300 docs-a] [--budget N] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import RESULTS_DIR, print_table, write_results
from flow_search import HEADER, compare

from ragloom.core.paths import data_dir

#: Per dataset: objective, evaluation budget, dev questions searched (None: all), dev share (None: default),
#: graph retrieval in the space (its graph index built once, cached).
SETTINGS: dict[str, dict[str, Any]] = {
    "hotpotqa-300": {
        "objective": "context-support-R",
        "budget": 16,
        "dev_limit": 60,
        "dev_fraction": None,
        "graph": True,
    },
    "docs-a": {
        "objective": "answer@512",
        "budget": 16,
        "dev_limit": None,
        "dev_fraction": 0.5,
        "graph": False,
    },
}
NAME = "workflow_search"


def _load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"


def run_dataset(name: str, budget: int | None, seeds: list[int]) -> dict[str, Any]:
    """``compare`` on one dataset with its settings; adds the machine load before and after."""
    settings = dict(SETTINGS[name])
    if budget is not None:
        settings["budget"] = budget
    before = _load()
    result = compare(data_dir() / name, seeds=seeds, **settings)
    return {**result, "load_before": before, "load_after": _load()}


def _title(result: dict[str, Any]) -> str:
    return (
        f"{result['name']}: {result['objective']}, {result['budget']} evaluations per search, seeds "
        f"{result['seeds']}, searched on {result['dev_queries']} dev q, scored once on "
        f"{result['test_queries']} test q"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument(
        "--budget", type=int, default=None, help="evaluations per search (default per dataset)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    path = RESULTS_DIR / f"{NAME}.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    datasets: dict[str, Any] = dict(old.get("datasets") or {})
    for name in args.datasets:
        datasets[name] = run_dataset(name, args.budget, args.seeds)
    datasets = {n: datasets[n] for n in [*SETTINGS, *datasets] if n in datasets}  # a stable order
    tables = []
    for name, result in datasets.items():
        tables.append(print_table(_title(result), HEADER, result["rows"]))
        print(f"BAR {name}: {result['bar']} (load {result.get('load_after', '?')})")
    out = write_results(NAME, {"datasets": datasets, "table_markdown": "\n\n".join(tables)})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
