"""Workflow search (AFlow-style MCTS) vs the default flow, random search and hill-climbing.

Search on the dev half of a BEIR-layout dataset (default hotpotqa-300), report the found flow's metric on
the test half (never searched on). Metric: Recall@5 of the final context (no LLM). Same evaluation budget
for every method, several seeds; each (method, seed) run starts with a cold result cache (the index and
the embedder's on-disk vectors are shared), so wall times are comparable.

    python benchmarks/workflow_search.py [--dataset DIR] [--budget 60] [--seeds 0 1 2]

The default flow is the demo's retriever without its LLM stages: hybrid BM25 + dense, reciprocal rank
fusion, top 5 (the seed of examples/search_space.yaml).
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

from ragloom.agents.search import DatasetScorer, SearchConfig, load_space, resources_for_dataset, run_search
from ragloom.core.paths import data_dir
from ragloom.eval.datasets import load_dataset

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("mcts", "random", "hill")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=data_dir() / "hotpotqa-300")
    ap.add_argument("--space", type=Path, default=ROOT / "examples" / "search_space.yaml")
    ap.add_argument("--metric", default="recall@5")
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dev-fraction", type=float, default=0.5)
    ap.add_argument(
        "--patience",
        type=int,
        default=0,
        help="MCTS convergence patience in rounds; 0 (default) spends the whole budget, as the baselines do",
    )
    ap.add_argument("--name", default="workflow_search")
    return ap.parse_args()


def run_one(method: str, seed: int, ctx: dict[str, Any], budget: int, patience: int) -> dict[str, Any]:
    ctx["resources"].clear_cache()
    started = time.perf_counter()
    config = SearchConfig(method=method, budget=budget, seed=seed, patience=patience)
    outcome = run_search(ctx["space"], ctx["dev"], config)
    wall = time.perf_counter() - started
    best = outcome.best
    test = ctx["test"].evaluate(best.candidate)
    return {
        "method": method,
        "seed": seed,
        "dev": best.score,
        "test": test.score,
        "evaluations": len(outcome.records),
        "stopped": outcome.stopped,
        "wall_s": wall,
        "flow": best.candidate.describe(),
        "candidate": best.candidate.to_dict(),
        "retrieval_calls": best.evaluation.cost.get("retrieval_calls", 0.0),
    }


def summarise(
    runs: list[dict[str, Any]], default: dict[str, float]
) -> tuple[list[list[Any]], dict[str, Any]]:
    rows: list[list[Any]] = [
        ["default flow (hybrid rrf top-5)", default["dev"], default["test"], "-", 1, "-"]
    ]
    summary: dict[str, Any] = {"default": default}
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        tests = [r["test"] for r in mine]
        summary[method] = {
            "dev_mean": statistics.mean(r["dev"] for r in mine),
            "test_mean": statistics.mean(tests),
            "test_std": statistics.pstdev(tests),
            "evaluations_mean": statistics.mean(r["evaluations"] for r in mine),
            "wall_s_mean": statistics.mean(r["wall_s"] for r in mine),
        }
        s = summary[method]
        rows.append(
            [
                f"{method} best flow",
                s["dev_mean"],
                s["test_mean"],
                s["test_std"],
                s["evaluations_mean"],
                s["wall_s_mean"],
            ]
        )
    return rows, summary


def main() -> None:
    args = parse_args()
    space = load_space(args.space)
    data = load_dataset(args.dataset)
    resources = resources_for_dataset(data, args.dataset)
    dev = data.split("dev", dev_fraction=args.dev_fraction)
    test = data.split("test", dev_fraction=args.dev_fraction)
    ctx = {
        "space": space,
        "resources": resources,
        "dev": DatasetScorer(space, dev, resources, args.metric),
        "test": DatasetScorer(space, test, resources, args.metric),
    }
    default = {"dev": ctx["dev"].evaluate(space.seed).score, "test": ctx["test"].evaluate(space.seed).score}
    runs = []
    for seed in args.seeds:
        for method in METHODS:
            run = run_one(method, seed, ctx, args.budget, args.patience)
            runs.append(run)
            print(
                f"{method:6s} seed {seed}: dev {run['dev']:.4f} test {run['test']:.4f} "
                f"evals {run['evaluations']} {run['wall_s']:.1f}s  {run['flow']}",
                flush=True,
            )
    rows, summary = summarise(runs, default)
    title = (
        f"Workflow search on {data.name}: {args.metric} of the final context, budget {args.budget}, "
        f"seeds {args.seeds} (dev {len(dev.queries)} q, test {len(test.queries)} q)"
    )
    table = print_table(title, ["flow", "dev", "test (mean)", "test std", "evaluations", "wall s"], rows)
    per_seed = print_table(
        "Per seed",
        ["method", "seed", "dev", "test", "evaluations", "wall s", "best flow"],
        [
            [r["method"], r["seed"], r["dev"], r["test"], r["evaluations"], r["wall_s"], r["flow"]]
            for r in runs
        ],
    )
    bar = {
        "mcts_beats_random_on_test": summary["mcts"]["test_mean"] > summary["random"]["test_mean"],
        "mcts_minus_default_points": 100 * (summary["mcts"]["test_mean"] - default["test"]),
    }
    bar["passed"] = bar["mcts_beats_random_on_test"] and bar["mcts_minus_default_points"] >= 3.0
    print(f"BAR: {bar}")
    path = write_results(
        args.name,
        {
            "dataset": str(args.dataset),
            "patience": args.patience,
            "metric": args.metric,
            "budget": args.budget,
            "seeds": args.seeds,
            "dev_queries": len(dev.queries),
            "test_queries": len(test.queries),
            "summary": summary,
            "runs": runs,
            "bar": bar,
            "table_markdown": table,
            "per_seed_markdown": per_seed,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
