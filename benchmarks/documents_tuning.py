"""Tuning ragloom's document pipeline on docs-a: heading prefix for BM25, hybrid fusion, chunk size.

Each variant is a :class:`RagloomDocumentSystem` setting scored by the same harness as
``benchmarks/documents.py`` (answer@512, answer@5, page@5 of bm25 and hybrid). Embeddings come from the
embedding cache, so variants that only change BM25 or fusion cost no re-embedding; ingestion times here are
not comparable (use ``benchmarks/documents.py`` for those).

    nice .venv/bin/python benchmarks/documents_tuning.py --variants default bm25-prefix rrf
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ragloom.eval.doc_system import RagloomDocumentSystem
from ragloom.eval.files_harness import evaluate_files
from ragloom.eval.filesets import load_files_dataset

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "bm25-prefix": {"heading_prefix": True, "dense_prefix": False},
    "prefix": {"heading_prefix": True},
    "rrf": {"fusion": {"method": "rrf"}},
    "weighted-0.5": {"fusion": {"method": "weighted", "normalization": "zscore", "weights": [0.5, 0.5]}},
    "weighted-0.6-bm25": {"fusion": {"method": "weighted", "normalization": "zscore", "weights": [0.6, 0.4]}},
    "bm25-prefix+rrf": {"heading_prefix": True, "dense_prefix": False, "fusion": {"method": "rrf"}},
    "chunks-128": {"chunker": {"target_tokens": 128, "max_tokens": 160}},
    "chunks-96": {"chunker": {"target_tokens": 96, "max_tokens": 128}},
}
SHOWN = ("answer@256", "answer@512", "answer@1024", "answer@5", "source@5", "page@5")


def main() -> None:
    from ragloom.core.paths import data_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=data_dir() / "docs-a")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--bm25-only", action="store_true", help="no embedding: score BM25 variants only")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "documents_tuning.json"
    )
    args = parser.parse_args()
    dataset = load_files_dataset(args.dataset)
    rows: list[dict[str, Any]] = []
    print("| variant | pipeline | " + " | ".join(SHOWN) + " | chunks |")
    print("|---|---|" + "---|" * (len(SHOWN) + 1), flush=True)
    for name in args.variants:
        system = RagloomDocumentSystem(**VARIANTS[name], dense=not args.bm25_only)
        pipelines = ["bm25"] if args.bm25_only else ["bm25", "hybrid"]
        for result in evaluate_files(system, dataset, pipelines=pipelines):
            cells = " | ".join(f"{result.metrics[m]:.3f}" for m in SHOWN)
            print(f"| {name} | {result.pipeline} | {cells} | {result.chunks} |", flush=True)
            rows.append({"variant": name, "settings": VARIANTS[name], **result.to_dict()})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
