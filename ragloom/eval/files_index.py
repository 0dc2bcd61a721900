"""Run resources over a document set's own files (docs-a layout: ``DIR/files/`` plus questions and answers).

A document set has no ``corpus.jsonl``: its files are read through the one ingestion layer
(:mod:`ragloom.documents`, structured chunker) into a :class:`ragloom.retrieval.index.Index`, as ``ragloom
index DIR/files --store S`` would build it, kept under the ragloom cache per folder location. A later call
only re-reads the files to check them (the index is incremental: unchanged files are not re-embedded), so a
search or a benchmark builds the index once. :func:`resources_for_dataset` picks the right source for any
dataset: the user's ``--index``, the BEIR corpus, or the files.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import Dataset

__all__ = ["files_index_dir", "files_index_resources", "resources_for_dataset"]


def files_index_dir(files_dir: str | Path) -> Path:
    """The cache folder of the index over ``files_dir`` (one per folder location)."""
    from ragloom.core.paths import cache_dir

    resolved = str(Path(files_dir).resolve())
    digest = hashlib.sha1(f"{resolved}|structured".encode()).hexdigest()[:12]
    return cache_dir("eval-indexes", f"{Path(resolved).parent.name}-files-{digest}")


def files_index_resources(
    files_dir: str | Path, progress: bool = False, graph: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resources, facts) over every file under ``files_dir``: what ``ragloom run FLOW --index DIR`` gives a
    flow (``retriever``: the index's hybrid retriever, ``index``, and ``graph`` when a graph index is there);
    ``graph=True`` builds that graph index once (spaCy over the chunks: minutes). ``facts`` say the cost."""
    from ragloom.eval.flow_resources import ensure_graph, run_resources
    from ragloom.retrieval.index import Index
    from ragloom.retrieval.sources import documents_and_chunker

    folder = Path(files_dir)
    if not folder.is_dir():
        raise ConfigError(f"{str(folder)!r} is not a folder of files to index")
    target = files_index_dir(folder)
    started = time.perf_counter()
    documents, chunker = documents_and_chunker(folder, None, target)
    docs = list(documents)
    index = Index.create(target, chunker=chunker, vector_store="memory")
    index.update(docs, progress=progress)
    facts: dict[str, Any] = {
        "index": str(index.path),
        "index_seconds": time.perf_counter() - started,
        "index_chunks": len(index),
    }
    if graph:
        facts |= ensure_graph(target, docs, index.manifest.chunker, index.manifest.chunker_params)
    return run_resources(index), facts


def resources_for_dataset(
    dataset: Dataset,
    dataset_path: str | Path,
    index: str | Path | None = None,
    progress: bool = False,
    graph: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run resources a flow is evaluated with on ``dataset``: the user's ``index`` folder when given, else
    the dataset's BEIR corpus (indexed once), else its ``files/`` folder through the ingestion layer; with
    ``graph``, a graph index of the corpus or files too (built once, cached)."""
    from ragloom.eval.flow_resources import dataset_resources, index_resources

    if index is not None:
        return index_resources(index)
    if dataset.corpus:
        return dataset_resources(dataset, dataset_path, progress=progress, graph=graph)
    files = Path(dataset_path) / "files"
    if files.is_dir():
        return files_index_resources(files, progress=progress, graph=graph)
    raise ConfigError(
        f"dataset {str(dataset_path)!r} has neither corpus.jsonl nor a files/ folder; build an index of its "
        "documents (ragloom index FILES --store DIR) and pass --index DIR"
    )
