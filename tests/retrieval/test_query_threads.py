"""A one-off embedding (a query) runs on one torch thread, big batches keep the default, counts come back."""

from __future__ import annotations

import threading

import pytest
import torch

from ragloom.retrieval.torch_threads import one_thread_for_small, single_thread


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_single_thread_nests_and_restores(two_threads):
    with single_thread():
        assert torch.get_num_threads() == 1
        with single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the outer user is still inside
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), single_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_the_scope_is_per_thread(two_threads):
    """A query in one serving thread leaves the thread count of the others (an indexing batch) alone."""
    inside, release = threading.Barrier(2), threading.Event()
    seen: list[int] = []

    def query() -> None:
        before = torch.get_num_threads()
        with single_thread():
            seen.append(torch.get_num_threads())
            inside.wait()
            release.wait(5)
        seen.append(torch.get_num_threads() - before)

    worker = threading.Thread(target=query)
    worker.start()
    inside.wait()
    assert torch.get_num_threads() == 2  # this thread is not the one querying
    release.set()
    worker.join(5)
    assert seen == [1, 0] and torch.get_num_threads() == 2


def test_policy_by_batch_size(two_threads):
    with one_thread_for_small(1):
        assert torch.get_num_threads() == 1
    with one_thread_for_small(500):
        assert torch.get_num_threads() == 2


def test_a_query_embedding_runs_on_one_thread(two_threads, monkeypatch):
    """The real MiniLM encodes a query with one thread; an indexing batch keeps the default two on one
    worker, and runs one thread per worker thread with two workers (no oversubscription either way)."""
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    def recording(embedder):
        threads: list[int] = []
        encode = embedder._encode_batch

        def recording_encode(texts):
            threads.append(torch.get_num_threads())
            return encode(texts)

        monkeypatch.setattr(embedder, "_encode_batch", recording_encode)
        return threads

    one_worker = SentenceTransformerEmbedder(cache_dir=False, workers=1)
    threads = recording(one_worker)
    one = one_worker.embed(["Which R function reads fixed-width files?"])
    one_worker.embed([f"passage number {i} about SQLite" for i in range(40)])
    assert threads == [1, 2, 2]
    two_workers = SentenceTransformerEmbedder(cache_dir=False, workers=2)
    threads = recording(two_workers)
    two_workers.embed([f"passage number {i} about SQLite" for i in range(40)])
    assert threads == [1, 1]
    assert one.shape == (1, one_worker.dim) and torch.get_num_threads() == 2
