"""Is the default hybrid fusion robust? BM25, dense, the old default and candidate rules on every dataset.

The old default (z-score fusion, BM25 0.4 / dense 0.6, chosen on the dev sets) loses to dense alone on a
held-out set where BM25 is weak. A default must not lose to its better arm on a corpus it was not tuned on.
Rules are compared on the dev splits (where a rule may be chosen) and reported on the test splits, with each
dataset's primary metric (the retrieval benchmark's). The first-stage runs come from ``fusion_runs.py``.

    nice .venv/bin/python benchmarks/fusion_default.py            # prints the tables, writes the JSON
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import print_table, write_results
from fusion_runs import Runs, load_runs
from retrieval_specs import DATASETS, PRIMARY

from ragloom.core.types import Hit
from ragloom.eval.fusion_choice import choose_fusion, fuse_runs
from ragloom.eval.harness import body_offsets, mean_metrics, score_query
from ragloom.retrieval.hybrid import HybridRetriever

Fuser = Callable[[list[Hit], list[Hit]], list[Hit]]


def _weighted(weights: Sequence[float], normalization: str) -> Fuser:
    fuser = HybridRetriever([_Nothing(), _Nothing()], "weighted", list(weights), normalization)
    return lambda bm25, dense: fuser.fuse_hits([bm25, dense], 100)


def _rrf(k: int = 60) -> Fuser:
    fuser = HybridRetriever([_Nothing(), _Nothing()], "rrf", rrf_k=k)
    return lambda bm25, dense: fuser.fuse_hits([bm25, dense], 100)


def _method(method: str) -> Fuser:
    fuser = HybridRetriever([_Nothing(), _Nothing()], method)
    return lambda bm25, dense: fuser.fuse_hits([bm25, dense], 100)


def chosen_on_dev(runs: Runs) -> dict[str, Any]:
    """The new default (``auto``): the fusion :func:`choose_fusion` picks on this dataset's dev split, by
    span-hit@1 where gold spans exist, else nDCG@10 (what ``RetrievalPipeline.tune`` does)."""
    offsets = body_offsets(runs.documents)
    dev = runs.dev
    metric = "span-hit@1" if dev.spans else "nDCG@10"
    dev_runs = {q: [runs.runs["bm25"][q], runs.runs["dense"][q]] for q in dev.queries}
    fusion, _ = choose_fusion(dev_runs, lambda q, hits: score_query(dev, offsets, q, hits).get(metric, 0.0))
    return fusion


class _Nothing:
    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        return []


RULES: dict[str, Fuser] = {
    "bm25": lambda bm25, dense: bm25,
    "dense": lambda bm25, dense: dense,
    "hybrid-old (zscore 0.4/0.6)": _weighted([0.4, 0.6], "zscore"),
    "rrf k=60": _rrf(60),
    "zscore 0.5/0.5": _weighted([0.5, 0.5], "zscore"),
    "dbsf 0.5/0.5": _weighted([0.5, 0.5], "dbsf"),
    "confidence-weighted z": _method("confidence"),
}
NEW = "hybrid-new (auto, chosen on dev)"


def score(runs: Runs, split: str, fuser: Fuser) -> float:
    dataset = runs.dev if split == "dev" else runs.test
    offsets = body_offsets(runs.documents)
    per_query = {
        qid: score_query(dataset, offsets, qid, fuser(runs.runs["bm25"][qid], runs.runs["dense"][qid]))
        for qid in dataset.queries
    }
    return mean_metrics(per_query)[PRIMARY[runs.name]]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    args = parser.parse_args()
    started = time.perf_counter()
    table: dict[str, dict[str, dict[str, float]]] = {}
    chosen: dict[str, dict[str, Any]] = {}
    for name in args.datasets:
        runs = load_runs(name)
        fusion = chosen_on_dev(runs)
        chosen[name] = fusion
        rules = {**RULES, NEW: lambda bm25, dense, f=fusion: fuse_runs(f, [bm25, dense], 100)}
        table[name] = {
            split: {rule: score(runs, split, f) for rule, f in rules.items()} for split in ("dev", "test")
        }
    results: dict[str, Any] = {"datasets": table, "primary": PRIMARY, "chosen": chosen, "tables_markdown": []}
    rule_names = list(next(iter(table.values()))["test"])
    for split in ("dev", "test"):
        rows = [[rule, *(f"{table[d][split][rule]:.3f}" for d in args.datasets)] for rule in rule_names]
        best_arm = [
            "better arm",
            *(f"{max(table[d][split]['bm25'], table[d][split]['dense']):.3f}" for d in args.datasets),
        ]
        rows.append(best_arm)
        header = ["rule", *(f"{d} ({PRIMARY[d]})" for d in args.datasets)]
        results["tables_markdown"].append(print_table(f"Fusion on {split} splits", header, rows))
    results["never_loses_to_better_arm"] = {
        d: {
            split: table[d][split][NEW] >= max(table[d][split]["bm25"], table[d][split]["dense"])
            for split in ("dev", "test")
        }
        for d in args.datasets
    }
    results["wall_seconds"] = time.perf_counter() - started
    write_results("fusion_default", results)


if __name__ == "__main__":
    main()
