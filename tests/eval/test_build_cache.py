"""IndexCache sharing between pipelines must never hand one pipeline another pipeline's embedder."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ragloom.chunking.late import late_chunk_embed
from ragloom.core.types import Chunk, Document
from ragloom.eval.build import IndexCache, _cached_late, build_pipeline
from ragloom.eval.pipelines import pipeline_spec
from ragloom.retrieval.embedders import SentenceTransformerEmbedder

pytestmark = pytest.mark.slow  # real MiniLM

DOCS = [
    Document("paris", "Paris is the capital of France."),
    Document("cats", "Cats sleep most of the day."),
    Document("tea", "Green tea contains caffeine."),
]


def _embedder(name: str | None = None) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(cache_dir=False, model_name=name)


def test_pipelines_with_different_document_embedders_get_their_own_vectors() -> None:
    first, second = _embedder(), _embedder("minilm-second")
    cache = IndexCache()
    build_pipeline(pipeline_spec("dense"), embedder=first, cache=cache).index(DOCS)
    pipe = build_pipeline(pipeline_spec("dense"), embedder=second, cache=cache)
    pipe.index(DOCS)
    assert pipe.corpus is not None and pipe.corpus.embedder is second
    assert pipe.retrieve("sleeping cats", 1)[0].doc_id == "cats"
    assert second.computed == len(DOCS) + 1  # its documents and its query went through its own embedder


def test_a_pipeline_without_a_query_embedder_queries_with_its_document_embedder() -> None:
    docs_side, query_side = _embedder(), _embedder("minilm-queries")
    cache = IndexCache()
    build_pipeline(pipeline_spec("dense"), docs_side, query_embedder=query_side, cache=cache).index(DOCS)
    pipe = build_pipeline(pipeline_spec("dense"), docs_side, cache=cache)
    pipe.index(DOCS)
    before = (docs_side.computed, query_side.computed)
    pipe.retrieve("green tea", 1)
    assert (docs_side.computed, query_side.computed) == (before[0] + 1, before[1])


TEXT = "Paris is the capital of France. Cats sleep most of the day."
CHUNKS = [Chunk(TEXT[:31], "doc", 0, 31), Chunk(TEXT[32:], "doc", 32, len(TEXT))]


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_an_unreadable_late_chunk_cache_entry_is_recomputed_and_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path))
    embedder, computed = _embedder(), []

    def compute(*args: Any) -> np.ndarray:
        computed.append(1)
        return late_chunk_embed(*args)

    first = _cached_late(embedder, TEXT, CHUNKS, compute)
    (entry,) = (tmp_path / "eval-late-chunks").iterdir()
    data = entry.read_bytes()
    damaged = {"garbage": b"not a numpy file", "empty": b"", "truncated": data[: len(data) // 2]}
    entry.write_bytes(damaged[damage])
    again = _cached_late(embedder, TEXT, CHUNKS, compute)
    assert len(computed) == 2 and np.allclose(again, first)
    assert np.array_equal(np.load(entry), again)  # the entry was rewritten
    assert np.array_equal(_cached_late(embedder, TEXT, CHUNKS, compute), again) and len(computed) == 2


def test_writers_of_the_same_late_chunk_entry_do_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every writer used to save through one fixed temp name: a second writer's rename found it gone."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path))
    embedder = _embedder()
    vectors = late_chunk_embed(embedder, TEXT, CHUNKS)
    folder = tmp_path / "eval-late-chunks"
    for _ in range(20):
        for leftover in folder.glob("*") if folder.is_dir() else ():
            leftover.unlink()
        barrier = threading.Barrier(6)

        def compute(*args: Any, barrier: threading.Barrier = barrier) -> np.ndarray:
            barrier.wait()  # every writer computed; all save at once
            return vectors

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(lambda _: _cached_late(embedder, TEXT, CHUNKS, compute), range(6)))
        assert all(np.array_equal(r, vectors) for r in results)
        assert [p.suffix for p in folder.iterdir()] == [".npy"]  # one entry, no temp file left behind
