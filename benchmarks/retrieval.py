"""Retrieval benchmark: BM25, dense, dense + late chunking, hybrid and hybrid + rerankers on four datasets.

Protocol ("tune on dev, report on test"): every dataset's queries are split by
:func:`ragloom.eval.datasets.split_queries` (seeded hash of the query id, 30 % dev). ONE global setting is
chosen on the dev splits of all datasets together (the mean of each dataset's primary metric): the fusion
(method, normalisation, weights, naive or late dense vectors) and each reranker's mixing weight. The test
splits are then evaluated once with those settings. Long documents (squad-articles-a) are chunked by the
harness's "auto" rule (paragraphs, long ones cut into 200-word windows); squad is also run with 200-word
windows, the boundaries of the late-chunking bar.

Timing: latency is per query, one at a time, with an uncached query embedder; index docs/s is cold (no
embedding cache) on a fixed sample for dense indexes, and the full build for BM25. The machine's 2 cores are
shared, so timings are noisy; the BM25 speed comparison alternates the engines over several rounds, best kept.

    nice .venv/bin/python benchmarks/retrieval.py                   # everything (embeddings cached on disk)
    nice .venv/bin/python benchmarks/retrieval.py --datasets scifact --no-rerank --limit 50
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

from ragloom.retrieval.embedders import SentenceTransformerEmbedder, default_embedder

try:  # run as a script (python benchmarks/retrieval.py) or as a module (python -m benchmarks.retrieval)
    from retrieval_measure import bm25_speed, index_rates, run_tests
    from retrieval_report import Report, check_bars
    from retrieval_specs import DATASETS, Bench, Models, hybrid_spec, load_bench, rerank_specs, test_specs
    from retrieval_tuning import tune_fusion, tune_rerankers
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.retrieval_measure import bm25_speed, index_rates, run_tests  # type: ignore[no-redef]
    from benchmarks.retrieval_report import Report, check_bars  # type: ignore[no-redef]
    from benchmarks.retrieval_specs import (  # type: ignore[no-redef]
        DATASETS,
        Bench,
        Models,
        hybrid_spec,
        load_bench,
        rerank_specs,
        test_specs,
    )
    from benchmarks.retrieval_tuning import tune_fusion, tune_rerankers  # type: ignore[no-redef]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--limit", type=int, default=None, help="queries per split (quick runs)")
    parser.add_argument("--no-rerank", action="store_true", help="skip the reranked pipelines")
    parser.add_argument("--no-late-tuning", action="store_true", help="hybrid uses naive dense vectors only")
    parser.add_argument("--late-everywhere", action="store_true", help="dense-late on passage corpora too")
    parser.add_argument("--rerank-depth", type=int, default=10)
    parser.add_argument("--sample", type=int, default=64, help="documents for the cold dense throughput")
    parser.add_argument("--latency-queries", type=int, default=50, help="timed queries per pipeline")
    parser.add_argument("--rerank-limit", type=int, default=None, help="dev/test queries for rerankers")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--skip", nargs="*", default=[], help="pipeline names to leave out")
    parser.add_argument("--out", default="retrieval", help="results/<OUT>.json")
    return parser.parse_args()


def main() -> None:
    import torch

    args = parse_args()
    # On shared, oversubscribed cores two intra-op threads spin against each other: one thread measured ~30x
    # faster per query here (55 ms vs 1.7 s for one MiniLM query embedding at load average 12).
    torch.set_num_threads(args.threads)
    report = Report(args.out)
    models = Models(default_embedder(), SentenceTransformerEmbedder(cache_dir=False, show_progress=False))
    benches = [load_bench(name, args.limit) for name in args.datasets]
    report.payload["load_average_at_start"] = os.getloadavg()
    report.log("embedding all queries once (cached; latency is timed separately without the cache)")
    models.embedder.embed([q for b in benches for d in (b.dev, b.test) for q in d.queries.values()])
    names = [b.name for b in benches]
    report.log("phase 1: fusion tuning on dev")
    best, fusion_rows = tune_fusion(benches, models, (False,) if args.no_late_tuning else (False, True))
    report.table(
        "Fusion tuning on dev (primary metric per dataset)", ["setting", *names, "mean"], fusion_rows
    )
    report.log(f"chosen on dev: {best}")
    report.payload.update({"chosen_on_dev": {"fusion": best}, "dev_tuning": {"fusion": fusion_rows}})
    for b in benches:
        report.log(f"phase 2: test split, first-stage pipelines, {b.name}")
        specs = [s for s in test_specs(b, best, args.late_everywhere) if s.name not in args.skip]
        report.tests[b.name] = run_tests(b, models, specs, args.latency_queries)
        report.rates[b.name] = index_rates(b, models, report.tests[b.name], args.sample)
        report.dataset_table(b, best["late"])
        report.save()
    speed = None
    if "scifact" in names:
        report.log("phase 3: BM25 speed")
        speed = bm25_speed(next(b for b in benches if b.name == "scifact"))
        rows = [[k, v, v / speed["rank-bm25"]] for k, v in speed.items()]
        report.table(
            "BM25 queries/s on SciFact (one query at a time, top 10)", ["engine", "q/s", "x rank-bm25"], rows
        )
        report.payload["bm25_speed_qps"] = speed
        report.save()
    if not args.no_rerank:
        run_rerank_phase(report, benches, models, best, args)
    bars = check_bars(report.tests, speed)
    report.table("Bars (issue 4)", ["bar", "measured", "holds"], bars)
    report.payload["bars"] = bars
    report.payload["load_average_at_end"] = os.getloadavg()
    report.log(f"wrote {report.save()}")


def run_rerank_phase(
    report: Report, benches: list[Bench], models: Models, best: dict[str, Any], args: argparse.Namespace
) -> None:
    """Reranker weights tuned on dev, then hybrid vs hybrid + each reranker on the same test queries."""
    n = args.rerank_limit
    subs = [replace(b, dev=b.dev.limit(n), test=b.test.limit(n)) for b in benches]
    report.log(f"phase 4: reranker tuning on dev ({'all' if n is None else n} queries per dataset)")
    rerank, rerank_rows = tune_rerankers(subs, models, best, args.rerank_depth)
    report.table("Reranker tuning on dev", ["setting", *[b.name for b in subs], "mean"], rerank_rows)
    report.log(f"chosen on dev: {rerank}")
    report.payload["chosen_on_dev"]["rerankers"] = rerank
    report.payload["dev_tuning"]["rerankers"] = rerank_rows
    for sub in subs:
        report.log(f"phase 5: test split, reranked pipelines, {sub.name}")
        specs = rerank_specs(sub, best, rerank, args.rerank_depth)
        if n is not None:  # the reference row on exactly the reranked queries
            specs.insert(0, hybrid_spec(f"hybrid [first {n} test queries]", best, sub))
        specs = [s for s in specs if s.name not in args.skip]
        report.tests[sub.name] += run_tests(sub, models, specs, args.latency_queries)
        report.dataset_table(next(b for b in benches if b.name == sub.name), best["late"])
        report.save()


if __name__ == "__main__":
    main()
