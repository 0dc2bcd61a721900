"""Embedding an index update's chunks on an executor (Ray actors each holding the model once).

The driver plans, chunks and writes; workers only turn chunks into vectors, so the commit path (generation
folder, manifest rename, cleanup) is the one a local build takes and a dead worker or driver can never leave a
half-written index: nothing is committed until every vector is back. Jobs are whole documents when late
chunking (a document's token-level pass needs all of it) and otherwise whole batches of the local build's own
batching (so bf16 vectors, which depend on their batch, match too); either way a chunk's vector is the one a
local build computes (the same model, the same batches, the same per-document pass).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.chunking.late import DocumentTokens, late_chunk_embed_long
from ragloom.core.protocols import Embedder
from ragloom.core.types import Chunk, Document
from ragloom.scale.executor import Executor, first_error

__all__ = ["batch_vectors", "embedder_factory", "parallel_vectors"]

Todo = Sequence[tuple[str, str, Chunk]]  # (doc_id, vector key, chunk), a document's chunks contiguous


def batch_vectors(
    embedder: Embedder, docs: Mapping[str, Document], batch: Todo, tokens: DocumentTokens | None
) -> np.ndarray:
    """Vectors of one batch in this process (late chunking when ``tokens`` is given)."""
    if tokens is None:
        return embedder.embed([c.text for _, _, c in batch])
    by_doc: dict[str, list[Chunk]] = {}
    for doc_id, _, chunk in batch:
        by_doc.setdefault(doc_id, []).append(chunk)
    pooled = {d: late_chunk_embed_long(embedder, docs[d].text, cs, tokens=tokens) for d, cs in by_doc.items()}
    seen: dict[str, int] = {}
    rows: list[np.ndarray] = []
    for doc_id, _, _ in batch:
        i = seen.get(doc_id, 0)
        rows.append(pooled[doc_id][i])
        seen[doc_id] = i + 1
    return np.stack(rows)


def embedder_factory(embedder: Embedder) -> Callable[[], Embedder]:
    """How a worker gets its own copy of ``embedder``: a local sentence-transformers model is rebuilt from
    its settings (the bundled default resolved on the worker, no vector cache); anything else is shipped."""
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder, default_model_path

    if not isinstance(embedder, SentenceTransformerEmbedder):
        return functools.partial(_same, embedder)
    default = Path(embedder.model_path).resolve() == Path(default_model_path()).resolve()
    return functools.partial(
        SentenceTransformerEmbedder,
        model_path=None if default else embedder.model_path,
        batch_size=embedder.batch_size,
        cache_dir=False,
        show_progress=False,
        model_name=None if default else embedder.model_name,
        token_window=embedder.token_window,
        token_overlap=embedder.token_overlap,
        token_prefix=embedder.token_prefix,
        precision=embedder.precision,
    )


def _same(embedder: Embedder) -> Embedder:
    return embedder


def _embed_texts(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return embedder.embed(texts)


def _embed_late(embedder: Embedder, job: tuple[str, list[Chunk]]) -> np.ndarray:
    text, chunks = job
    return late_chunk_embed_long(embedder, text, chunks)  # memory bounded for long documents


def parallel_vectors(
    executor: Executor,
    embedder: Embedder,
    docs: Mapping[str, Document],
    todo: Todo,
    late: bool,
) -> np.ndarray:
    """(len(todo), dim) vectors of ``todo`` computed on ``executor``'s workers, in ``todo`` order; the first
    failed job (after the executor's retries) is raised."""
    if not todo:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    setup = embedder_factory(embedder)
    if late:
        by_doc: dict[str, list[Chunk]] = {}
        for doc_id, _, chunk in todo:
            by_doc.setdefault(doc_id, []).append(chunk)
        jobs: list[Any] = [(docs[d].text, cs) for d, cs in by_doc.items()]
        parts = first_error(executor.map(_embed_late, jobs, setup=setup))
    else:
        size = max(1, min(256, math.ceil(len(todo) / (4 * executor.workers))))
        texts = [c.text for _, _, c in todo]
        if _plans_batches(embedder):
            return _planned_vectors(executor, embedder, setup, texts, size)
        jobs = [texts[s : s + size] for s in range(0, len(texts), size)]
        parts = first_error(executor.map(_embed_texts, jobs, setup=setup))
    return np.concatenate([np.asarray(p, dtype=np.float32) for p in parts])


def _plans_batches(embedder: Embedder) -> bool:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    return isinstance(embedder, SentenceTransformerEmbedder)


def _planned_vectors(
    executor: Executor, embedder: Any, setup: Callable[[], Embedder], texts: list[str], size: int
) -> np.ndarray:
    """Vectors of ``texts`` computed in exactly the batches a local build forms.

    Why: in bf16 (the default on CPUs with AMX) a text's vector depends on its batch's padded length by
    ~1e-3, so slicing the texts differently on workers would give vectors a local build never computes.
    The driver forms the local build's batches (unique texts grouped by token length) and ships whole
    batches, in that order; a worker's own grouping of such a job reproduces them.
    """
    unique = list(dict.fromkeys(texts))
    batches = embedder.plan_batches(unique)
    per_job = max(1, round(size / max(1, embedder.batch_size)))
    groups = [batches[s : s + per_job] for s in range(0, len(batches), per_job)]
    jobs = [[unique[i] for batch in group for i in batch] for group in groups]
    parts = first_error(executor.map(_embed_texts, jobs, setup=setup))
    vectors: dict[str, np.ndarray] = {}
    for job, part in zip(jobs, parts, strict=True):
        vectors.update(zip(job, np.asarray(part, dtype=np.float32), strict=True))
    return np.stack([vectors[t] for t in texts])
