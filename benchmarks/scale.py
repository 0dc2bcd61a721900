"""Scale-out: index and eval throughput locally vs on Ray with 1 and 2 worker processes on this machine, and
a projection of the wall time for 1M and 10M passages on N workers from the measured per-item costs.

This machine has 2 cores, shared: Ray cannot show a speed-up here, only its overhead (process start, one
model load per actor, shipping items). The projection uses the measured warm per-passage embedding cost of
one single-CPU Ray worker, the measured per-passage cost of the driver (chunking, writing, BM25) and the
measured cold start; it assumes workers like this one and a driver that keeps up (see the README).

Run: .venv/bin/python benchmarks/scale.py [--docs 120]
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import print_table, write_results

import ragloom
from ragloom.core.types import Document
from ragloom.retrieval.embedders import SentenceTransformerEmbedder
from ragloom.retrieval.index import Index

SETTINGS: dict[str, Any] = {"chunker": "document", "vector_store": "memory"}
PASSAGES = (1_000_000, 10_000_000)
WORKERS = (1, 8, 32, 128)


def passages(n: int) -> list[Document]:
    """Paragraphs of the bundled novel as passages (~100 words each, one chunk each)."""
    text = (Path(ragloom.__file__).parent / "data" / "a_christmas_carol.txt").read_text(encoding="utf-8")
    paras = [" ".join(p.split()) for p in text.split("\n\n") if len(p.split()) >= 40]
    return [Document(f"p{i:04d}", paras[i % len(paras)] + f" ({i})") for i in range(n)]


def timed_build(docs: list[Document], executor: Any = None) -> dict[str, float]:
    """Wall time of a fresh build, split into embedding (plan → first write) and driver (the rest)."""
    marks: dict[str, float] = {}

    def on_stage(name: str, info: dict[str, Any]) -> None:
        marks.setdefault(name, time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        embedder = SentenceTransformerEmbedder(cache_dir=False)  # no vector cache: every run embeds
        index = Index.create(Path(tmp) / "idx", embedder=embedder, **SETTINGS)
        index.update(docs, on_stage=on_stage, executor=executor, progress=False)
        total = time.perf_counter() - started
    embed = marks["embed"] - marks["plan"]
    return {"seconds": total, "embed_seconds": embed, "driver_seconds": total - embed, "chunks": len(docs)}


def eval_rate(dataset_dir: Path, executor: Any = None) -> dict[str, float]:
    from ragloom.eval.build import build_pipeline
    from ragloom.eval.datasets import load_dataset
    from ragloom.eval.distributed import evaluate_on
    from ragloom.eval.harness import evaluate
    from ragloom.eval.pipelines import pipeline_spec

    dataset = load_dataset(dataset_dir)
    started = time.perf_counter()
    if executor is None:
        evaluate(build_pipeline(pipeline_spec("bm25")), dataset)
    else:
        evaluate_on(executor, pipeline_spec("bm25"), dataset)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "queries": len(dataset.queries),
        "queries_per_s": len(dataset.queries) / seconds,
    }


def run_ray(docs: list[Document], dataset_dir: Path, workers: int) -> dict[str, Any]:
    from ragloom.scale.ray_executor import RayExecutor

    executor = RayExecutor(workers=workers, keep_workers=True)
    cold = timed_build(docs, executor)  # starts the actors, one model load each
    warm = timed_build(docs, executor)  # the same actors: steady-state throughput
    executor.close()
    return {"cold": cold, "warm": warm, "eval": eval_rate(dataset_dir, RayExecutor(workers=workers))}


def projection(local: dict[str, Any], ray1: dict[str, Any]) -> list[list[Any]]:
    per_passage = ray1["warm"]["embed_seconds"] / ray1["warm"]["chunks"]  # one single-CPU worker
    driver = local["index"]["driver_seconds"] / local["index"]["chunks"]
    start = ray1["cold"]["embed_seconds"] - ray1["warm"]["embed_seconds"]
    rows = []
    for n_passages in PASSAGES:
        for n in WORKERS:
            embed_h = n_passages * per_passage / n / 3600
            driver_h = n_passages * driver / 3600
            rows.append(
                [
                    f"{n_passages:,}",
                    n,
                    round(embed_h, 2),
                    round(driver_h, 2),
                    round(embed_h + driver_h + start / 3600, 2),
                ]
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=120)
    parser.add_argument(
        "--dataset",
        type=Path,
        default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "scifact",
    )
    args = parser.parse_args()
    import ray

    docs = passages(args.docs)
    local = {"index": timed_build(docs), "eval": eval_rate(args.dataset)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    runs = {w: run_ray(docs, args.dataset, w) for w in (1, 2)}
    ray.shutdown()

    rows = [
        [
            "local (threads, 2 cores)",
            round(local["index"]["seconds"], 1),
            round(local["index"]["chunks"] / local["index"]["seconds"], 1),
            "-",
            round(local["eval"]["queries_per_s"], 1),
        ]
    ]
    for w, r in runs.items():
        rows.append(
            [
                f"ray, {w} worker(s)",
                round(r["cold"]["seconds"], 1),
                round(r["cold"]["chunks"] / r["cold"]["seconds"], 1),
                round(r["warm"]["chunks"] / r["warm"]["seconds"], 1),
                round(r["eval"]["queries_per_s"], 1),
            ]
        )
    cols = [
        "executor",
        "index s (cold)",
        "passages/s (cold)",
        "passages/s (warm actors)",
        "eval queries/s (incl. setup)",
    ]
    table = print_table(
        f"index {len(docs)} passages, eval bm25 on {args.dataset.name} (this 2-core machine)", cols, rows
    )
    proj_cols = ["passages", "workers", "embed h", "driver h", "total h"]
    proj = print_table("projection from measured per-passage costs", proj_cols, projection(local, runs[1]))
    load = [round(x, 1) for x in os.getloadavg()]  # this machine is shared: say how busy it was
    print(f"load average at the end of the run (1, 5, 15 min): {load}")
    payload = {"load_average": load, "local": local, "ray": {str(k): v for k, v in runs.items()}}
    write_results("scale", {**payload, "tables": [table, proj]})


if __name__ == "__main__":
    main()
