"""Workflow search (AFlow-style MCTS) vs the default flow, random search and hill-climbing.

Search on the dev half of a BEIR-layout dataset (default hotpotqa-300), report the found flow's metric on
the test half (never searched on). Metric: Recall@5 of the final context (no LLM). Same evaluation budget
for every method, several seeds; each (method, seed) run starts with a cold result cache (the index and
the embedder's on-disk vectors are shared), so wall times are comparable.

    python benchmarks/workflow_search.py [--dataset DIR] [--budget 60] [--seeds 0 1 2] [--holdout dev-val]

``--holdout dev-val`` is for developing the search method without ever touching the test half: it splits
the dev half again (dev-search 2/3, dev-val 1/3), searches on dev-search and reports on dev-val.

Each search returns one flow per final-selection rule (``best``: highest dev score; ``lcb``: lower
confidence bound over per-query scores; ``smooth``: value averaged with evaluated one-step neighbours, see
ragloom/agents/search/final.py); every rule's pick is scored on the held-out queries, for every method, so
the effect of the rule is visible separately from the search. A method's headline row uses its own rule
(``SearchConfig.final='auto'``, which is ``best``).

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
from ragloom.agents.search.final import FINAL_RULES
from ragloom.core.paths import data_dir
from ragloom.eval.datasets import Dataset, load_dataset, split_queries

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("mcts", "random", "hill")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=data_dir() / "hotpotqa-300")
    ap.add_argument("--space", type=Path, default=ROOT / "examples" / "search_space_full.yaml")
    ap.add_argument("--metric", default="recall@5")
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dev-fraction", type=float, default=0.5)
    ap.add_argument(
        "--holdout",
        choices=["test", "dev-val"],
        default="test",
        help="where found flows are scored: the test half, or (for method development) dev-val, a third "
        "of the dev half held out from a search that then runs on the other two thirds",
    )
    ap.add_argument(
        "--patience",
        type=int,
        default=0,
        help="MCTS convergence patience in rounds; 0 (default) spends the whole budget, as the baselines do",
    )
    ap.add_argument(
        "--val-split-seed",
        type=int,
        default=1,
        help="seed of the dev-search/dev-val split (repeat with several to average out the split)",
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
    held: dict[str, float] = {}
    picks: dict[str, dict[str, Any]] = {}
    for rule, rec in outcome.finals.items():
        key = rec.candidate.key()
        if key not in held:
            held[key] = ctx["test"].evaluate(rec.candidate).score
        picks[rule] = {"dev": rec.score, "test": held[key], "flow": rec.candidate.describe()}
    return {
        "method": method,
        "seed": seed,
        "rule": config.final_rule,
        "dev": best.score,
        "test": held[best.candidate.key()],
        "picks": picks,
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
    """Headline rows (each method with its own final rule), then every (method, rule) pair."""
    rows: list[list[Any]] = [
        ["default flow (hybrid rrf top-5)", default["dev"], default["test"], "-", 1, "-"]
    ]
    summary: dict[str, Any] = {"default": default, "by_rule": {}}
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        summary[method] = _stats(mine, [r["dev"] for r in mine], [r["test"] for r in mine])
        summary[method]["rule"] = mine[0]["rule"]
        rows.append(_row(f"{method} best flow (final={mine[0]['rule']})", summary[method]))
    for method in METHODS:
        mine = [r for r in runs if r["method"] == method]
        for rule in FINAL_RULES:
            if rule == mine[0]["rule"]:
                continue
            picks = [r["picks"][rule] for r in mine]
            s = _stats(mine, [p["dev"] for p in picks], [p["test"] for p in picks])
            summary["by_rule"][f"{method}/{rule}"] = s
            rows.append(_row(f"  {method}, final={rule} (same runs)", s))
    return rows, summary


def _stats(runs: list[dict[str, Any]], devs: list[float], tests: list[float]) -> dict[str, Any]:
    return {
        "dev_mean": statistics.mean(devs),
        "test_mean": statistics.mean(tests),
        "test_std": statistics.pstdev(tests),
        "evaluations_mean": statistics.mean(r["evaluations"] for r in runs),
        "wall_s_mean": statistics.mean(r["wall_s"] for r in runs),
    }


def _row(name: str, s: dict[str, Any]) -> list[Any]:
    return [name, s["dev_mean"], s["test_mean"], s["test_std"], s["evaluations_mean"], s["wall_s_mean"]]


def splits(
    data: Dataset, holdout: str, dev_fraction: float, val_seed: int = 1
) -> tuple[Dataset, Dataset, str]:
    """(search split, held-out split, held-out name). ``dev-val`` never touches the test half."""
    dev = data.split("dev", dev_fraction=dev_fraction)
    if holdout == "test":
        return dev, data.split("test", dev_fraction=dev_fraction), "test"
    search_ids, val_ids = split_queries(list(dev.queries), seed=val_seed, dev_fraction=2 / 3)
    return data.with_queries(search_ids), data.with_queries(val_ids), "dev-val"


def main() -> None:
    args = parse_args()
    space = load_space(args.space)
    data = load_dataset(args.dataset)
    resources = resources_for_dataset(data, args.dataset)
    dev, test, held_name = splits(data, args.holdout, args.dev_fraction, args.val_split_seed)
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
                f"{method:6s} seed {seed}: dev {run['dev']:.4f} {held_name} {run['test']:.4f} "
                f"evals {run['evaluations']} {run['wall_s']:.1f}s  {run['flow']}",
                flush=True,
            )
    rows, summary = summarise(runs, default)
    title = (
        f"Workflow search on {data.name}: {args.metric} of the final context, budget {args.budget}, "
        f"seeds {args.seeds} (search on {len(dev.queries)} q, scored on {held_name} {len(test.queries)} q)"
    )
    columns = ["flow", "dev", f"{held_name} (mean)", f"{held_name} std", "evaluations", "wall s"]
    table = print_table(title, columns, rows)
    per_seed = print_table(
        "Per seed (each final rule's pick)",
        ["method", "seed", "rule", "dev", held_name, "evaluations", "wall s", "flow"],
        [
            [r["method"], r["seed"], rule, p["dev"], p["test"], r["evaluations"], r["wall_s"], p["flow"]]
            for r in runs
            for rule, p in r["picks"].items()
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
            "holdout": held_name,
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
