"""Token-length batching and threaded batch runs: pure planning, order, errors, and same vectors as before."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pytest

from ragloom.core.errors import ConfigError
from ragloom.retrieval.embed_batches import WORKERS_ENV, default_workers, length_sorted_batches, run_batches


@pytest.mark.parametrize("n,size", [(0, 3), (1, 1), (7, 3), (9, 3), (10, 32)])
def test_batches_cover_every_index_once_and_group_similar_lengths(n: int, size: int) -> None:
    lengths = [(i * 37) % 11 for i in range(n)]
    batches = length_sorted_batches(lengths, size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(n)) and all(0 < len(b) <= size for b in batches)
    ordered = [lengths[i] for i in flat]
    assert ordered == sorted(ordered, reverse=True)  # longest first, so neighbours share a batch


def test_padding_is_minimal_against_brute_force() -> None:
    """Sorted batching pads no more than any other split into batches of the same sizes (small cases)."""
    lengths = [5, 1, 9, 3, 9, 2]
    best = min(
        sum(max(lengths[i] for i in perm[s : s + 2]) for s in range(0, 6, 2)) * 2
        for perm in itertools.permutations(range(6))
    )
    ours = sum(max(lengths[i] for i in b) * len(b) for b in length_sorted_batches(lengths, 2))
    assert ours == best
    with pytest.raises(ValueError, match="batch_size"):
        length_sorted_batches([1], 0)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_run_batches_keeps_batch_order_and_reports_each_batch_once(workers: int) -> None:
    batches = [[i, i + 100] for i in range(9)]
    seen: list[int] = []
    out = run_batches(
        batches, lambda b: np.array(b, dtype=np.float32), workers, lambda b, v: seen.append(b[0])
    )
    assert [list(v) for v in out] == batches and sorted(seen) == list(range(9))


def test_run_batches_raises_a_workers_error_in_the_caller() -> None:
    calls = threading.Lock()

    def encode(batch: list[int]) -> np.ndarray:
        with calls:
            if batch[0] == 3:
                raise RuntimeError("batch 3 failed")
        return np.zeros(1)

    with pytest.raises(RuntimeError, match="batch 3"):
        run_batches([[i] for i in range(8)], encode, 2)


def test_default_workers_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WORKERS_ENV, "3")
    assert default_workers() == 3
    monkeypatch.setenv(WORKERS_ENV, "zero")
    with pytest.raises(ConfigError, match=WORKERS_ENV):
        default_workers()
    monkeypatch.delenv(WORKERS_ENV)
    assert 1 <= default_workers() <= 8


@pytest.mark.slow
def test_threaded_sorted_batches_give_the_vectors_of_one_plain_encode(tmp_path: Path) -> None:
    """Real MiniLM: texts of very different token lengths, 2 threads, batch 4: same vectors, input order."""
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    texts = [("word " * (3 + 7 * i)) + f"item {i}" for i in range(11)] + ["SELECT a,b FROM t;" * 9, "x"]
    embedder = SentenceTransformerEmbedder(
        cache_dir=False, batch_size=4, workers=2, show_progress=False, precision="fp32"
    )
    ours = embedder.embed(texts)
    plain = embedder.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == (13, 384) and embedder.computed == 13
    assert np.allclose(ours, plain, atol=1e-5)
