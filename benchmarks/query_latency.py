"""Query latency of one index: p50/p95 of bm25, dense and hybrid queries, unfiltered and with ``where``.

    python benchmarks/query_latency.py [--dataset docs-a] [--stores memory,chroma] [--repeat 3]

The index is built once (cached under the ragloom cache dir) from the dataset's ``files/`` through the
ingestion layer (a BEIR dataset's ``corpus.jsonl`` also works), then opened with an *uncached* query
embedder, so every dense query really runs MiniLM. Each query is timed alone, one after another, as a user
would send them. Rows:

- ``bm25`` / ``dense`` / ``hybrid``: no filter;
- ``... where pdf``: ``{"source": {"$glob": "*.pdf"}}`` (no chroma clause: an allowed-id restriction);
- ``... where pages``: ``{"format": "pdf", "page": {"$gte": 10, "$lte": 60}}`` (a chroma-expressible one);
- ``hybrid, torch default threads``: the first 20 queries without the one-thread policy for small
  batches (:mod:`ragloom.retrieval.torch_threads`), i.e. how queries ran before it.

The machine's load average is recorded with the results: on a busy machine the wall times move a lot, so
the table also gives each query's process CPU time (p50), which for a one-thread query is close to what its
wall time would be on an idle machine.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import percentiles_ms, print_table, write_results

from ragloom.core.paths import cache_dir, data_dir
from ragloom.retrieval.index import Index

FILTERS: dict[str, dict[str, Any] | None] = {
    "": None,
    " where pdf": {"source": {"$glob": "*.pdf"}},
    " where pages": {"format": "pdf", "page": {"$gte": 10, "$lte": 60}},
}


def load_documents(folder: Path) -> list[Any]:
    from ragloom.retrieval.sources import iter_documents

    source = folder / "files" if (folder / "files").is_dir() else folder
    return list(iter_documents(source))


def queries_of(folder: Path) -> list[str]:
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def build_index(folder: Path, store: str) -> tuple[Path, float]:
    """The cached index of ``folder`` for ``store`` (built on first use, re-chunked when the chunking code
    changed); its path and build seconds. One per embedder identity: the index is queried with the default
    embedder's precision, and an index of another precision is refused."""
    from ragloom.documents.settings import ChunkSettings
    from ragloom.retrieval.embedders import default_embedder

    source = folder / "files" if (folder / "files").is_dir() else folder
    chunker = ChunkSettings.for_source(source).chunker  # the default index's chunks
    key = f"{folder.resolve()}|{store}|{chunker}|{default_embedder().identity}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    path = cache_dir("bench-indexes", f"latency-{folder.name}-{store}-{digest}")
    started = time.perf_counter()
    Index.build(path, load_documents(folder), chunker=chunker, vector_store=store, progress=True)
    return path, time.perf_counter() - started


@contextlib.contextmanager
def torch_default_threads() -> Iterator[None]:
    """Switch the small-batch one-thread policy off (what queries did before it)."""
    import ragloom.retrieval.embedders as emb

    policy = emb.one_thread_for_small
    emb.one_thread_for_small = lambda n, small=16: contextlib.nullcontext()  # type: ignore[assignment]
    try:
        yield
    finally:
        emb.one_thread_for_small = policy


def time_queries(
    run: Callable[[str], Any], queries: list[str], repeat: int
) -> tuple[list[float], list[float]]:
    """Wall seconds and process CPU seconds of each query. On a busy machine the CPU time is the better
    estimate of the idle wall time of a one-thread query (the wall time also counts waiting for a core)."""
    for q in queries[:5]:  # warm up: first calls load BM25 arrays, chroma segments, the model
        run(q)
    wall, cpu = [], []
    for _ in range(repeat):
        for q in queries:
            started, cpu_started = time.perf_counter(), time.process_time()
            run(q)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    return wall, cpu


def row(store: str, name: str, wall: list[float], cpu: list[float]) -> dict[str, Any]:
    out = {"store": store, "query": name, **percentiles_ms(wall), "mean_ms": 1e3 * statistics.mean(wall)}
    out["cpu_p50"] = percentiles_ms(cpu)["p50"]
    print(f"  {store:7s} {name:40s} p50 {out['p50']:8.1f} ms  cpu p50 {out['cpu_p50']:8.1f} ms", flush=True)
    return out


def measure_store(folder: Path, store: str, queries: list[str], k: int, repeat: int) -> list[dict[str, Any]]:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    path, build_s = build_index(folder, store)
    index = Index.open(path, SentenceTransformerEmbedder(cache_dir=False))  # every query runs the model
    rows: list[dict[str, Any]] = []

    def add(name: str, run: Callable[[str], Any]) -> None:
        rows.append(row(store, name, *time_queries(run, queries, repeat)))

    for mode in ("bm25", "dense", "hybrid"):
        retriever = index.retriever(mode)
        for label, where in FILTERS.items():
            add(mode + label, lambda q, r=retriever, w=where: r.retrieve(q, k, w))
    with torch_default_threads():  # seconds per query on a busy machine: 20 queries, one pass
        retriever = index.retriever("hybrid")
        wall, cpu = time_queries(lambda q: retriever.retrieve(q, k), queries[:20], 1)
        rows.append(row(store, "hybrid, torch default threads (20 q)", wall, cpu))
    rows.append({"store": store, "query": "(index)", "chunks": len(index), "build_s": build_s})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="docs-a", help="dataset folder name under the data dir, or a path"
    )
    parser.add_argument("--stores", default="memory,chroma")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="passes over the queries")
    parser.add_argument("--queries", type=int, default=60, help="at most this many queries")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    folder = Path(args.dataset) if Path(args.dataset).is_dir() else data_dir() / args.dataset
    queries = queries_of(folder)[: args.queries]
    load_before = os.getloadavg()
    rows = [r for s in args.stores.split(",") for r in measure_store(folder, s, queries, args.k, args.repeat)]
    load_after = os.getloadavg()
    timed = [r for r in rows if "p50" in r]
    built = {r["store"]: r for r in rows if "chunks" in r}
    chunks = built[timed[0]["store"]]["chunks"]
    load = f"load avg {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} cpus"
    title = (
        f"Query latency on {folder.name} ({chunks} chunks, {len(queries)} queries x {args.repeat}, "
        f"k={args.k}; {load})"
    )
    table = print_table(
        title,
        ["store", "query", "p50 ms", "p95 ms", "mean ms", "CPU ms p50"],
        [[r["store"], r["query"], r["p50"], r["p95"], r["mean_ms"], r["cpu_p50"]] for r in timed],
    )
    print(table)
    payload = {
        "dataset": folder.name,
        "k": args.k,
        "queries": len(queries),
        "repeat": args.repeat,
        "load_average": {"before": load_before, "after": load_after},
        "indexes": built,
        "rows": timed,
        "markdown": table,
    }
    print("wrote", write_results("query_latency", payload))


if __name__ == "__main__":
    main()
