"""VectorStore conformance (in-memory and embedded chroma) and persistence across reopen."""

from __future__ import annotations

import numpy as np
import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import VectorStore
from ragloom.retrieval.chroma_store import ChromaVectorStore
from ragloom.retrieval.memory_store import InMemoryVectorStore


def make_store(kind: str, tmp_path) -> VectorStore:
    if kind == "memory":
        return InMemoryVectorStore(tmp_path / "vectors.npz")
    return ChromaVectorStore(tmp_path / "chroma", collection="test-store")


def reopen(kind: str, store, tmp_path) -> VectorStore:
    if kind == "memory":
        store.save()
        return InMemoryVectorStore(tmp_path / "vectors.npz")
    del store
    return ChromaVectorStore(tmp_path / "chroma", collection="test-store")


def random_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def check_store_contract(store: VectorStore) -> None:
    """The VectorStore protocol: upsert by id, exact-enough cosine top-k best first, delete, len, empty."""
    assert isinstance(store, VectorStore)
    assert len(store) == 0
    assert store.query(random_vectors(1)[0], 5) == []
    vectors = random_vectors(30)
    ids = [f"v{i}" for i in range(30)]
    store.add(ids, vectors, [{"i": i, "tag": "x"} for i in range(30)])
    assert len(store) == 30
    for k in (1, 5, 30, 100):
        hits = store.query(vectors[3], k)
        assert len(hits) == min(k, 30)
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True)
    top_id, top_sim = store.query(vectors[3], 1)[0]
    assert top_id == "v3" and top_sim == pytest.approx(1.0, abs=1e-4)
    # the scores are cosine similarities
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for doc_id, sim in store.query(vectors[7], 5):
        assert sim == pytest.approx(float(unit[int(doc_id[1:])] @ unit[7]), abs=1e-3)
    # upsert overwrites by id (and an id repeated within one call keeps the last vector)
    store.add(["v3", "v3"], np.stack([vectors[9], vectors[8]]), [{}, {}])
    assert len(store) == 30
    assert store.query(vectors[8], 2)[0][0] in {"v3", "v8"}
    assert {i for i, _ in store.query(vectors[8], 2)} == {"v3", "v8"}
    store.delete(["v8", "v3", "not-there"])
    assert len(store) == 28
    assert all(i not in {"v3", "v8"} for i, _ in store.query(vectors[8], 30))
    assert store.query(vectors[0], 0) == []


@pytest.mark.parametrize("kind", ["memory", "chroma"])
def test_store_contract(kind, tmp_path):
    check_store_contract(make_store(kind, tmp_path))


@pytest.mark.parametrize("kind", ["memory", "chroma"])
def test_store_persists_across_reopen(kind, tmp_path):
    store = make_store(kind, tmp_path)
    vectors = random_vectors(10, seed=1)
    store.add([f"p{i}" for i in range(10)], vectors, [{"n": i} for i in range(10)])
    store.delete(["p0"])
    before = store.query(vectors[4], 3)
    again = reopen(kind, store, tmp_path)
    assert len(again) == 9
    after = again.query(vectors[4], 3)
    assert [i for i, _ in after] == [i for i, _ in before]
    assert [s for _, s in after] == pytest.approx([s for _, s in before], abs=1e-5)
    assert sorted(again.ids()) == sorted(f"p{i}" for i in range(1, 10))


def test_memory_store_save_is_atomic(tmp_path):
    store = InMemoryVectorStore(tmp_path / "v.npz")
    store.add(["a"], random_vectors(1), [{}])
    store.save()
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"]  # no temp file left behind


def test_dimension_mismatch_is_a_clear_error(tmp_path):
    for store in (InMemoryVectorStore(), ChromaVectorStore(tmp_path / "c", collection="dims")):
        store.add(["a"], random_vectors(1, dim=8), [{}])
        with pytest.raises(ConfigError, match="dim"):
            store.add(["b"], random_vectors(1, dim=4), [{}])
    with pytest.raises(ConfigError, match="expected 2 vectors"):
        InMemoryVectorStore().add(["a", "b"], random_vectors(3), [{}, {}])


def test_chroma_never_uses_its_default_embedding_function(tmp_path):
    store = ChromaVectorStore(tmp_path / "c", collection="noef")
    assert store._collection.configuration.get("embedding_function") is None
    assert store._collection.configuration["hnsw"]["space"] == "cosine"


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_damaged_memory_store_file_is_a_clear_error(cut, tmp_path):
    from ragloom.core.errors import IndexError_

    store = InMemoryVectorStore(tmp_path / "v.npz")
    store.add(["a", "b"], random_vectors(2), [{}, {}])
    store.save()
    data = (tmp_path / "v.npz").read_bytes()
    (tmp_path / "v.npz").write_bytes(data[: int(len(data) * cut)])  # a truncated copy or a bad disk
    with pytest.raises(IndexError_, match=r"v\.npz.*unreadable"):
        InMemoryVectorStore(tmp_path / "v.npz")
