"""The per-query first-stage runs behind ``fusion_default.py``: BM25 and dense hits (depth 100) per dataset.

Computing them is the slow part (embedding the corpora), fusing them is instant, so the runs are pickled under
the ragloom cache (one file per dataset, keyed by the corpus and query texts) and every fusion rule is scored
on the same runs. Dense vectors follow the ``hybrid`` pipeline: late chunking where documents are chunked.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

from ragloom.core.paths import cache_dir, data_dir
from ragloom.core.types import Document, Hit
from ragloom.eval.build import IndexCache, build_pipeline
from ragloom.eval.datasets import Dataset, indexable_documents, load_dataset
from ragloom.eval.pipelines import ComponentSpec, PipelineSpec

DEPTH = 100
ARMS = {
    "bm25": PipelineSpec("bm25", (ComponentSpec("bm25"),)),
    "dense": PipelineSpec("dense", (ComponentSpec("dense", {"late_chunking": "auto"}),)),
}


@dataclass
class Runs:
    """One dataset's dev and test splits with each arm's hits per query (``runs[arm][qid]``)."""

    name: str
    dev: Dataset
    test: Dataset
    documents: list[Document]
    runs: dict[str, dict[str, list[Hit]]]


def _digest(dataset: Dataset) -> str:
    h = hashlib.sha1()
    for d in dataset.corpus.values():
        h.update(d.id.encode() + b"\0" + d.text.encode("utf-8", "surrogatepass"))
    for q, t in dataset.queries.items():
        h.update(q.encode() + b"\0" + t.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def load_runs(name: str, root: Path | None = None) -> Runs:
    """The runs of dataset ``name`` (computed once, then read from the cache)."""
    dataset = load_dataset((root or data_dir()) / name)
    documents = indexable_documents(dataset, with_title=True)
    path = cache_dir("bench-fusion-runs") / f"{name}-{_digest(dataset)}-d{DEPTH}.pkl"
    if path.is_file():
        with path.open("rb") as f:
            runs = pickle.load(f)
    else:
        runs = _compute(dataset, documents)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(runs, f)
        tmp.replace(path)
    return Runs(name, dataset.split("dev"), dataset.split("test"), documents, runs)


def _compute(dataset: Dataset, documents: list[Document]) -> dict[str, dict[str, list[Hit]]]:
    cache = IndexCache()
    out: dict[str, dict[str, list[Hit]]] = {}
    for arm, spec in ARMS.items():
        pipe = build_pipeline(spec, cache=cache)
        pipe.index(documents)
        print(f"  {dataset.name}: {arm} indexed", flush=True)
        out[arm] = {qid: pipe.retrieve(text, DEPTH) for qid, text in dataset.queries.items()}
    return out


if __name__ == "__main__":  # warm the cache: python benchmarks/fusion_runs.py NAME...
    import sys

    for dataset_name in sys.argv[1:]:
        r = load_runs(dataset_name)
        print(dataset_name, len(r.dev.queries), len(r.test.queries), flush=True)
