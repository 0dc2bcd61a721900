"""Faults on a real Ray cluster: a worker process killed mid-index is retried by Ray (the update then equals
a local one) or the update fails cleanly with the index at its old state; never a mix."""

from __future__ import annotations

import os
import signal
import threading
import time

from ragloom.retrieval.embedders import SentenceTransformerEmbedder
from ragloom.retrieval.index import Index
from ragloom.scale.ray_executor import RayExecutor
from tests.ray.corpus import chunk_rows, documents, index_vectors

SETTINGS = {
    "chunker": "sentence",
    "chunker_params": {"target_words": 40},
    "vector_store": "memory",
    # float32: bf16 vectors (the default on an AMX CPU) depend on the batch a text is in by ~1e-3
    "embedder": SentenceTransformerEmbedder(precision="fp32"),
}


def _kill_first_worker(cluster, killed: list[int], stop: threading.Event) -> None:
    while not stop.is_set() and not killed:
        for pid in cluster.pids_of("_Worker"):  # an embedding actor of this cluster (its process title)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            break
        time.sleep(0.02)


def test_worker_killed_mid_index_is_retried_or_fails_cleanly(ray_cluster, tmp_path):
    path = tmp_path / "idx"
    Index.build(path, documents(6), **SETTINGS)  # the old state, built locally
    old = Index.open(path)
    old_rows, old_vectors = chunk_rows(old), index_vectors(old)

    killed: list[int] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_first_worker, args=(ray_cluster, killed, stop))
    killer.start()
    error: Exception | None = None
    try:
        Index.open(path).update(documents(12), executor=RayExecutor(ray_cluster.address, retries=2))
    except Exception as e:  # a clean failure is allowed; a half-written index is not
        error = e
    finally:
        stop.set()
        killer.join()
    assert killed, "no embedding worker appeared to kill"

    now = Index.open(path)
    print(f"killed worker {killed[0]}: " + (f"failed cleanly ({error!r})" if error else "retried by Ray"))
    if error is not None:
        assert chunk_rows(now) == old_rows and index_vectors(now).keys() == old_vectors.keys()
        return
    reference = Index.build(tmp_path / "local", documents(12), **SETTINGS)
    assert chunk_rows(now) == chunk_rows(reference)
    ref = index_vectors(reference)
    got = index_vectors(now)
    assert got.keys() == ref.keys()
    assert max(float(abs(got[k] - ref[k]).max()) for k in ref) < 1e-5
