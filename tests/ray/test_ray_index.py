"""``ragloom index --executor ray`` on a real two-node cluster: the same chunks and vectors (within 1e-5) as
a local build, plain and late-chunked, and a worker killed mid-index never corrupts the index."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ragloom.retrieval.embedders import SentenceTransformerEmbedder
from ragloom.retrieval.index import Index
from ragloom.scale.ray_executor import RayExecutor
from tests.ray.corpus import chunk_rows, documents, index_vectors

CHUNKER = {"chunker": "sentence", "chunker_params": {"target_words": 40}, "vector_store": "memory"}


def _same_index(local: Index, remote: Index) -> None:
    assert chunk_rows(remote) == chunk_rows(local)
    a, b = index_vectors(local), index_vectors(remote)
    assert a.keys() == b.keys() and len(a) >= 20
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < 1e-5, worst


@pytest.fixture(scope="module")
def executor(ray_cluster) -> Iterator[RayExecutor]:
    """One set of actors (a model loaded once per node) for both builds, freed at the end of the module."""
    runner = RayExecutor(ray_cluster.address, keep_workers=True)
    yield runner
    runner.close()


@pytest.mark.parametrize("late", [False, True], ids=["plain", "late"])
def test_index_on_ray_matches_local(executor, tmp_path, late):
    docs = documents()
    # the default precision (bf16 on an AMX CPU, where a vector depends on its batch by ~1e-3): the driver
    # ships the local build's own batches; no vector cache, so the local build computes every text too
    embedder = SentenceTransformerEmbedder(cache_dir=False)
    local = Index.build(tmp_path / "local", docs, late_chunking=late, embedder=embedder, **CHUNKER)
    remote = Index.build(
        tmp_path / "ray", docs, late_chunking=late, executor=executor, embedder=embedder, **CHUNKER
    )
    assert executor.workers == 2
    _same_index(local, remote)
    assert remote.retrieve("Scrooge's nephew", 3)[0].id == local.retrieve("Scrooge's nephew", 3)[0].id
