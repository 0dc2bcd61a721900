"""Workflow search over real flows (``ragloom search --seed FLOW.yaml``): MCTS vs random search vs the seed.

Seeded from examples/flows/qa.yaml, searched on (a limited part of) the dev half of a BEIR-layout dataset,
every candidate scored by the one flow evaluator (``evaluate_flow``); the seed and each method's best flow are
scored ONCE on the test half. Objective: support recall of the final context (``context-support-R``, the
context under the seed's token budget, which the search never changes), LLM steps left out (no model needed).
Equal evaluation budget per method, several seeds.

    python benchmarks/flow_search.py [--dataset DIR] [--budget 8] [--seeds 0 1 2] [--dev-limit 0]

The whole dev half (82 questions on hotpotqa-300) is the command's default: with graph retrieval in the space
many flows tie on 60 dev questions (0.933 = 112/120 supporting documents), and ties go to latency noise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import print_table, write_results

from ragloom.agents.search.flow_search import evaluate_candidates, read_seed, search_flow
from ragloom.eval.datasets import load_dataset
from ragloom.eval.files_index import resources_for_dataset

ROOT = Path(__file__).resolve().parents[1]
#: Left out of the benchmark's space for time only: MaxSim over token vectors costs seconds per question here.
SLOW = ("retrieval.rerank.maxsim",)


def _describe(seed: dict[str, Any], flow: dict[str, Any]) -> str:
    """The flow as its differences from the seed (nodes added, removed or changed)."""
    a, b = seed["nodes"], flow["nodes"]
    diff = [f"-{n}" for n in a if n not in b] + [f"+{n}:{b[n]['uses']}" for n in b if n not in a]
    diff += [f"{n}:{b[n]}" for n in b if n in a and a[n] != b[n]]
    return "; ".join(diff) or "(seed)"


def compare(
    dataset_path: Path,
    *,
    seed_flow: Path = ROOT / "examples" / "flows" / "qa.yaml",
    objective: str = "context-support-R",
    budget: int = 8,
    seeds: list[int] | tuple[int, ...] = (0, 1, 2),
    dev_limit: int | None = 60,
    dev_fraction: float | None = None,
    graph: bool = True,
) -> dict[str, Any]:
    """Seed vs MCTS vs random on one dataset (what ``benchmarks/workflow_search.py`` calls per dataset).

    Returns the table rows (``rows``: flow, dev, test mean, test std, evaluations, wall s, best flow), every
    run, the bar and the split sizes. ``dev_fraction``: the seeded dev share (None: the harness's default);
    a document set (``files/``, no corpus.jsonl) is indexed through the ingestion layer, once, cached;
    ``graph``: build (once, cached) and search graph retrieval too."""
    data = load_dataset(dataset_path, corpus_optional=True)
    split = {} if dev_fraction is None else {"dev_fraction": dev_fraction}
    dev, test = data.split("dev", **split).limit(dev_limit), data.split("test", **split)
    resources, facts = resources_for_dataset(data, dataset_path, graph=graph)
    print(f"resources: {facts}", flush=True)
    seed = read_seed(seed_flow)

    def on_test(flow: dict[str, Any]) -> float:
        return evaluate_candidates([flow], test, resources, objective, concurrency=2)[0][0]

    started = time.perf_counter()
    seed_dev = evaluate_candidates([seed], dev, resources, objective, concurrency=2)[0][0]
    seed_row = ["seed (qa.yaml)", seed_dev, on_test(seed), 0.0, 1, time.perf_counter() - started, "(seed)"]
    runs: list[dict[str, Any]] = []
    for method in ("mcts", "random"):
        for s in seeds:
            t0 = time.perf_counter()
            out = search_flow(
                seed,
                dev,
                resources,
                objective=objective,
                budget=budget,
                method=method,
                seed=s,
                concurrency=2,
                exclude=SLOW,
            )
            wall = time.perf_counter() - t0
            runs.append(
                {
                    "method": method,
                    "seed": s,
                    "dev": out.best.score,
                    "test": on_test(out.best.data),
                    "evaluations": len(out.records),
                    "wall_s": wall,
                    "flow": _describe(seed, out.best.data),
                }
            )
            print(runs[-1], flush=True)
    rows = [seed_row]
    for method in ("mcts", "random"):
        mine = [r for r in runs if r["method"] == method]
        tests = [r["test"] for r in mine]
        rows.append(
            [
                method,
                statistics.mean(r["dev"] for r in mine),
                statistics.mean(tests),
                statistics.pstdev(tests),
                mine[0]["evaluations"],
                statistics.mean(r["wall_s"] for r in mine),
                mine[0]["flow"],
            ]
        )
    mcts_test, random_test = rows[1][2], rows[2][2]
    bar = {
        "mcts_minus_seed_points": 100 * (mcts_test - seed_row[2]),
        "mcts_ge_random": mcts_test >= random_test,
    }
    bar["passed"] = bar["mcts_ge_random"] and bar["mcts_minus_seed_points"] >= 5.0
    return {
        "dataset": str(dataset_path),
        "name": data.name,
        "objective": objective,
        "budget": budget,
        "seeds": list(seeds),
        "dev_queries": len(dev.queries),
        "test_queries": len(test.queries),
        "seed": seed_row,
        "rows": rows,
        "runs": runs,
        "bar": bar,
        "resources": facts,
        "load_average": os.getloadavg(),
    }


HEADER = ["flow", "dev", "test (mean)", "test std", "evaluations", "wall s", "best flow (seed 0)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared" / "data" / "hotpotqa-300")
    parser.add_argument("--seed-flow", type=Path, default=ROOT / "examples" / "flows" / "qa.yaml")
    parser.add_argument("--objective", default="context-support-R")
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--dev-limit", type=int, default=0, help="search on the first N dev questions (0: the whole dev half)"
    )
    parser.add_argument(
        "--dev-fraction", type=float, default=0.0, help="the seeded dev share (0: the harness's default, 0.3)"
    )
    parser.add_argument("--name", default="flow_search")
    parser.add_argument("--no-graph", action="store_true", help="leave graph retrieval out (no graph index)")
    args = parser.parse_args()

    result = compare(
        args.dataset,
        seed_flow=args.seed_flow,
        objective=args.objective,
        budget=args.budget,
        seeds=args.seeds,
        dev_limit=args.dev_limit or None,
        dev_fraction=args.dev_fraction or None,
        graph=not args.no_graph,
    )
    title = (
        f"Flow search on {result['name']}: {args.objective}, budget {args.budget} evaluations, seeds "
        f"{args.seeds} (search on {result['dev_queries']} dev q, scored once on "
        f"{result['test_queries']} test q)"
    )
    table = print_table(title, HEADER, result["rows"])
    print(f"BAR: {result['bar']}")
    print(f"load average (1, 5, 15 min): {result['load_average']}")
    payload = {k: v for k, v in result.items() if k not in ("rows", "name")}
    path = write_results(args.name, {**payload, "table_markdown": table})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
