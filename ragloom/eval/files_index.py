"""Run resources over a document set's own files (docs-a layout: ``DIR/files/`` plus questions and answers).

A document set has no ``corpus.jsonl``: its files are read through the one ingestion layer
(:mod:`ragloom.documents`, the default :class:`~ragloom.documents.settings.ChunkSettings`) into a
:class:`ragloom.retrieval.index.Index`, the same chunks ``ragloom index DIR/files --store S`` builds, kept
under the ragloom cache per folder location, chunk settings and embedder (model and precision). A later
call re-reads the files to check them: unchanged files are not re-embedded, and an index cut by other
chunking code is re-chunked in place (its manifest records the code's version), so a search or a benchmark
builds the index once and never reads stale chunks. :func:`resources_for_dataset` picks the right source
for any dataset: the user's ``--index``, the BEIR corpus, or the files.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder
from ragloom.documents.settings import ChunkSettings
from ragloom.eval.datasets import Dataset

__all__ = ["files_index_dir", "files_index_resources", "resources_for_dataset"]


def files_index_dir(
    files_dir: str | Path, settings: ChunkSettings | None = None, embedder: Embedder | None = None
) -> Path:
    """The cache folder of the index over ``files_dir``: one per folder location, chunk settings (default:
    the files default) and embedder identity (default: the default embedder, whose precision
    ``RAGLOOM_EMBED_PRECISION`` sets), so a run with other settings never opens another run's index."""
    from ragloom.core.paths import cache_dir
    from ragloom.retrieval.index_support import default_embedder
    from ragloom.retrieval.precision import embedder_identity

    resolved = str(Path(files_dir).resolve())
    chunking = (settings or ChunkSettings.for_source(resolved)).key()
    identity = embedder_identity(embedder or default_embedder())
    digest = hashlib.sha1(f"{resolved}|{chunking}|{identity}".encode()).hexdigest()[:12]
    return cache_dir("eval-indexes", f"{Path(resolved).parent.name}-files-{digest}")


def files_index_resources(
    files_dir: str | Path,
    progress: bool = False,
    graph: bool = False,
    settings: ChunkSettings | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resources, facts) over every file under ``files_dir``: what ``ragloom run FLOW --index DIR`` gives a
    flow (``retriever``: the index's hybrid retriever, ``index``, and ``graph`` when a graph index is there);
    ``graph=True`` builds that graph index once (spaCy over the chunks: minutes). ``settings``: other chunk
    settings than the files default (another cache folder). ``facts`` say the cost and the chunk count."""
    from ragloom.eval.flow_resources import ensure_graph, run_resources
    from ragloom.retrieval.index import Index
    from ragloom.retrieval.sources import iter_documents, require_documents

    folder = Path(files_dir)
    if not folder.is_dir():
        raise ConfigError(f"{str(folder)!r} is not a folder of files to index")
    chunking = settings or ChunkSettings.for_source(folder)
    target = files_index_dir(folder, chunking)
    started = time.perf_counter()
    docs = list(require_documents(iter_documents(folder, progress=True), folder))
    index = Index.create(
        target, chunker=chunking.chunker, chunker_params=dict(chunking.params), vector_store="memory"
    )
    report = index.update(docs, progress=progress)
    facts: dict[str, Any] = {
        "index": str(index.path),
        "index_seconds": time.perf_counter() - started,
        "index_chunks": len(index),
        "index_rechunked": report.rechunked,
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
