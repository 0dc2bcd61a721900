"""Documents benchmark: ragloom's document pipelines against LlamaIndex and Haystack defaults, same run.

Every system ingests the dataset's ``files/`` folder its own default way (ragloom: the ingestion layer and the
structure-aware chunker; LlamaIndex: SimpleDirectoryReader → SentenceSplitter → VectorStoreIndex, BM25,
QueryFusionRetriever; Haystack: PyPDFToDocument/HTMLToDocument → DocumentCleaner → DocumentSplitter →
InMemory BM25 / embedding / RRF joiner), embeds with the same local all-MiniLM-L6-v2, and is scored by the
same functions on its own chunks (:mod:`ragloom.eval.answers`): answer@256/512/1024 (gold answer within the
first B tokens of the ranked context, budget tokenizer = the selectors'), answer@1/5/10, source@5, page@5;
plus ingestion wall seconds (read + chunk + embed + index, embedding cache off), chunks, query p50/p95, and
chunk statistics (share over MiniLM's 256-token window, markup chunks).

Bars (issue 12): (b) ragloom's default (hybrid) answer@512 >= best peer answer@512 + 5 points, and its
page@5 >= 0.95; (c) ragloom's ingestion wall < the fastest peer's, same run.

    nice .venv/bin/python benchmarks/documents.py                       # docs-a, all systems
    nice .venv/bin/python benchmarks/documents.py --dataset DIR --systems ragloom
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

try:  # run as a script (python benchmarks/documents.py) or as a module (python -m benchmarks.documents)
    from doc_peers import HaystackSystem, LlamaIndexSystem
except ModuleNotFoundError:  # pragma: no cover
    from benchmarks.doc_peers import HaystackSystem, LlamaIndexSystem  # type: ignore[no-redef]

from ragloom.eval.chunk_stats import minilm_token_counter
from ragloom.eval.doc_system import RagloomDocumentSystem
from ragloom.eval.files_harness import FileEvalResult, FileSystem, evaluate_files
from ragloom.eval.filesets import load_files_dataset

SYSTEMS = ("ragloom", "llamaindex", "haystack")
DEFAULT_PIPELINE = "hybrid"
COLUMNS = [
    ("answer@256", "a@256"),
    ("answer@512", "a@512"),
    ("answer@1024", "a@1024"),
    ("answer@1", "a@1"),
    ("answer@5", "a@5"),
    ("answer@10", "a@10"),
    ("source@5", "src@5"),
    ("page@5", "page@5"),
]


def parse_args() -> argparse.Namespace:
    from ragloom.core.paths import data_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=data_dir() / "docs-a", help="a docs-a layout folder")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "documents.json")
    parser.add_argument("--limit", type=int, default=None, help="first N queries only (quick runs)")
    parser.add_argument(
        "--cached-embeddings",
        action="store_true",
        help="ragloom reuses its embedding cache (quick reruns; its ingestion time is not comparable)",
    )
    parser.add_argument("--heading-prefix", action="store_true", help="ragloom: heading path before the text")
    return parser.parse_args()


def make_system(name: str, args: argparse.Namespace) -> FileSystem:
    if name == "ragloom":
        from ragloom.retrieval.embedders import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(cache_dir=None if args.cached_embeddings else False)
        return RagloomDocumentSystem(embedder=embedder, heading_prefix=args.heading_prefix)
    if name == "llamaindex":
        return LlamaIndexSystem()
    return HaystackSystem()


def run_system(name: str, args: argparse.Namespace) -> tuple[list[FileEvalResult], str | None]:
    """The system's results, or none and the error that stopped it (a missing peer is reported, not fatal)."""
    dataset = load_files_dataset(args.dataset).limit(args.limit)
    try:
        system = make_system(name, args)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: ingesting {dataset.files_dir}", file=sys.stderr)
        counter = minilm_token_counter()
        return evaluate_files(system, dataset, window_counter=counter, keep_per_query=True), None
    except Exception as e:  # a peer that cannot be installed or crashes is measured as absent, with why
        traceback.print_exc()
        return [], f"{type(e).__name__}: {e}"


def table(results: list[FileEvalResult]) -> str:
    head = ["system", "pipeline"] + [c[1] for c in COLUMNS]
    head += ["ingest s", "pages/s", "chunks", "p50 ms", "p95 ms", ">256 tok", "markup"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.system, r.pipeline] + [f"{r.metrics[key]:.3f}" for key, _ in COLUMNS]
        stats = r.chunk_stats
        cells += [
            f"{r.ingest_seconds:.1f}",
            f"{r.pages_per_s:.2f}",
            str(r.chunks),
            f"{r.latency_ms_p50:.1f}",
            f"{r.latency_ms_p95:.1f}",
            f"{stats.get('over_window_share', 0.0):.1%}",
            str(int(stats.get("markup_chunks", 0))),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_bars(results: list[FileEvalResult]) -> dict[str, Any]:
    """Bars (b) and (c) of issue 12 from one run's results."""
    ours = next((r for r in results if r.system == "ragloom" and r.pipeline == DEFAULT_PIPELINE), None)
    peers = [r for r in results if r.system != "ragloom"]
    if ours is None or not peers:
        return {"checked": False, "why": "needs ragloom's default pipeline and at least one peer in the run"}
    best = max(peers, key=lambda r: r.metrics["answer@512"])
    fastest = min(peers, key=lambda r: r.ingest_seconds)
    b_answer = ours.metrics["answer@512"] >= best.metrics["answer@512"] + 0.05
    b_page = ours.metrics["page@5"] >= 0.95
    return {
        "checked": True,
        "b_answer512": {
            "pass": b_answer,
            "ragloom": ours.metrics["answer@512"],
            "best_peer": f"{best.system}/{best.pipeline}",
            "best_peer_value": best.metrics["answer@512"],
        },
        "b_page5": {"pass": b_page, "ragloom": ours.metrics["page@5"]},
        "c_ingest": {
            "pass": ours.ingest_seconds < fastest.ingest_seconds,
            "ragloom_s": ours.ingest_seconds,
            "fastest_peer": fastest.system,
            "fastest_peer_s": fastest.ingest_seconds,
        },
    }


def describe_bars(bars: dict[str, Any]) -> list[str]:
    if not bars.get("checked"):
        return [f"bars not checked: {bars.get('why')}"]
    b, p, c = bars["b_answer512"], bars["b_page5"], bars["c_ingest"]
    verdict = {True: "PASS", False: "FAIL"}
    return [
        f"(b) answer@512: ragloom {b['ragloom']:.3f} vs best peer {b['best_peer']} "
        f"{b['best_peer_value']:.3f} (+0.05 needed): {verdict[b['pass']]}",
        f"(b) page@5: ragloom {p['ragloom']:.3f} (>= 0.95 needed): {verdict[p['pass']]}",
        f"(c) ingestion wall: ragloom {c['ragloom_s']:.1f} s vs fastest peer {c['fastest_peer']} "
        f"{c['fastest_peer_s']:.1f} s: {verdict[c['pass']]}",
    ]


def embedder_settings() -> dict[str, Any]:
    """How ragloom's default embedder computes here (precision, threads), printed next to the timings."""
    from ragloom.retrieval.embed_batches import default_workers
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(cache_dir=False)
    return {"identity": embedder.identity, "precision": embedder.precision, "workers": default_workers()}


def preload_shared_libraries() -> None:
    """Import torch and sentence-transformers before any system is timed.

    Why: every system embeds with them, and in one process only the first system to run would pay their
    import (~4.5 s here) inside its ingestion time; each system still loads its own model while timed."""
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401


def main() -> None:
    args = parse_args()
    preload_shared_libraries()
    results: list[FileEvalResult] = []
    errors: dict[str, str] = {}
    for name in args.systems:
        got, error = run_system(name, args)
        results += got
        if error:
            errors[name] = error
    bars = check_bars(results)
    n_queries = results[0].n_queries if results else 0
    print(f"\n## Documents benchmark on {args.dataset.name} ({n_queries} queries)\n")
    print(table(results))
    for line in describe_bars(bars):
        print(line)
    for name, error in errors.items():
        print(f"{name}: not measured ({error})")
    notes = {r.system: r.notes for r in results if r.notes}
    for name, items in notes.items():
        for note in items:
            print(f"note ({name}): {note}")
    embedder = embedder_settings()
    print(f"ragloom embedder: {embedder}; load average {os.getloadavg()}")
    payload = {
        "dataset": str(args.dataset),
        "ragloom_embedder": embedder,
        "loadavg_end": os.getloadavg(),
        "cached_embeddings": args.cached_embeddings,
        "heading_prefix": args.heading_prefix,
        "results": [r.to_dict(per_query=True) for r in results],
        "bars": bars,
        "errors": errors,
        "notes": notes,
        "table": table(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
