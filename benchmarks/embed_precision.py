"""Embedder precision benchmark: does bf16 (AMX) MiniLM retrieve like float32, and how much faster is it?

For each BEIR dataset, dense retrieval (exact cosine over the whole corpus, title + text as the harness
indexes it) is scored on the dev split of :func:`ragloom.eval.datasets.split_queries` with three embedders:
float32 documents and queries (the reference), bf16 documents and queries, and bf16 documents with float32
queries (an index queried by the other precision; ragloom refuses this, measured to show what it would cost).
Reported: nDCG@10, recall@10 and MRR@10, cold embedding speed of a fixed sample of documents per precision
(no cache, interleaved rounds, best kept) and the cosine between the two precisions' document vectors.

    nice .venv/bin/python benchmarks/embed_precision.py --datasets scifact hotpotqa-300
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.paths import data_dir
from ragloom.eval.datasets import indexable_documents, load_dataset, split_queries
from ragloom.eval.metrics import mean, mrr, ndcg_at_k, recall_at_k
from ragloom.retrieval.embedders import SentenceTransformerEmbedder
from ragloom.retrieval.precision import native_bf16

K = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["scifact", "hotpotqa-300"])
    parser.add_argument("--sample", type=int, default=256, help="documents for the cold speed comparison")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "embed_precision.json"
    )
    return parser.parse_args()


def scores(doc_vecs: np.ndarray, query_vecs: np.ndarray, doc_ids: list[str]) -> list[list[str]]:
    sims = query_vecs @ doc_vecs.T
    top = np.argsort(-sims, axis=1)[:, :K]
    return [[doc_ids[j] for j in row] for row in top]


def metrics(ranked: list[list[str]], qids: list[str], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    return {
        f"ndcg@{K}": mean(ndcg_at_k(r, qrels[q], K) for r, q in zip(ranked, qids, strict=True)),
        f"recall@{K}": mean(recall_at_k(r, qrels[q], K) for r, q in zip(ranked, qids, strict=True)),
        f"mrr@{K}": mean(mrr(r, qrels[q], K) for r, q in zip(ranked, qids, strict=True)),
    }


def cold_speed(texts: list[str], rounds: int) -> dict[str, float]:
    """Texts/s of each precision on ``texts`` without a cache, interleaved, best round kept."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for precision in ("fp32", "bf16"):
            embedder = SentenceTransformerEmbedder(cache_dir=False, precision=precision, show_progress=False)
            embedder.embed(texts[:8])  # load and warm up outside the clock
            started = time.perf_counter()
            embedder.embed(texts)
            rate = len(texts) / (time.perf_counter() - started)
            best[precision] = max(best.get(precision, 0.0), rate)
    return best


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    data = load_dataset(data_dir() / name)
    dev, _ = split_queries(list(data.queries))
    docs = indexable_documents(data, with_title=True)
    doc_ids, texts = [d.id for d in docs], [d.text for d in docs]
    queries = [data.queries[q] for q in dev]
    full = SentenceTransformerEmbedder(precision="fp32")  # the disk cache keeps reruns short
    half = SentenceTransformerEmbedder(precision="bf16")
    d32, d16 = full.embed(texts), half.embed(texts)
    q32, q16 = full.embed(queries), half.embed(queries)
    cos = np.sum(d32 * d16, axis=1)
    runs = {
        "fp32": metrics(scores(d32, q32, doc_ids), dev, data.qrels),
        "bf16": metrics(scores(d16, q16, doc_ids), dev, data.qrels),
        "bf16 docs, fp32 queries": metrics(scores(d16, q32, doc_ids), dev, data.qrels),
    }
    sample = texts[:: max(1, len(texts) // args.sample)][: args.sample]
    return {
        "dataset": name,
        "documents": len(docs),
        "dev_queries": len(dev),
        "runs": runs,
        "doc_cosine_min": float(cos.min()),
        "doc_cosine_mean": float(cos.mean()),
        "texts_per_s": cold_speed(sample, args.rounds),
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | vectors | nDCG@10 | R@10 | MRR@10 | cos min | texts/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for label, m in r["runs"].items():
            speed = r["texts_per_s"].get(label, float("nan"))
            cos = f"{r['doc_cosine_min']:.5f}" if label != "fp32" else "1"
            lines.append(
                f"| {r['dataset']} ({r['dev_queries']} dev q) | {label} | {m['ndcg@10']:.4f} | "
                f"{m['recall@10']:.4f} | {m['mrr@10']:.4f} | {cos} | "
                + (f"{speed:.1f}" if speed == speed else "")
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    results = [run_dataset(name, args) for name in args.datasets]
    text = table(results)
    load = os.getloadavg()
    print(f"\n## Embedder precision (dense, dev split; AMX bf16: {native_bf16()}; load {load[0]:.1f})\n")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"amx_bf16": native_bf16(), "loadavg": load, "results": results, "table": text}
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
