"""SentenceTransformerEmbedder with the real bundled MiniLM: protocol, normalisation, cache, token vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder
from ragloom.retrieval.embedders import SentenceTransformerEmbedder, default_embedder

pytestmark = pytest.mark.slow

TEXTS = ["The cat sat on the mat.", "Ein Hund läuft über die Straße.", "東京は日本の首都です。", ""]


@pytest.fixture(scope="module")
def shared() -> SentenceTransformerEmbedder:
    return default_embedder()


def test_satisfies_the_protocol_and_is_shared(shared: SentenceTransformerEmbedder) -> None:
    assert isinstance(shared, Embedder)
    assert default_embedder() is shared
    assert shared.dim == 384 and shared.model_name == "sentence-transformers/all-MiniLM-L6-v2"


def test_embed_shapes_dtype_and_unit_norm(tmp_path: Path) -> None:
    emb = SentenceTransformerEmbedder(cache_dir=tmp_path)
    vecs = emb.embed(TEXTS)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert emb.embed([]).shape == (0, 384)
    with pytest.raises(ConfigError, match="sequence of texts"):
        emb.embed("one string")  # type: ignore[arg-type]


def test_cache_hit_does_not_recompute_and_survives_a_new_instance(tmp_path: Path) -> None:
    first = SentenceTransformerEmbedder(cache_dir=tmp_path)
    a = first.embed(TEXTS[:2] + TEXTS[:1])  # a duplicate is computed once
    assert first.computed == 2
    b = first.embed(TEXTS[:2])
    assert first.computed == 2 and np.array_equal(a[:2], b)
    second = SentenceTransformerEmbedder(cache_dir=tmp_path)  # same folder: reads what the first wrote
    c = second.embed([TEXTS[1], TEXTS[2]])
    assert second.computed == 1 and np.array_equal(c[0], a[1])


def test_cache_can_be_disabled_and_agrees_with_the_cached_path(tmp_path: Path) -> None:
    off = SentenceTransformerEmbedder(cache_dir=False)
    off.embed(TEXTS[:1])
    off.embed(TEXTS[:1])
    assert off.computed == 2
    cached = SentenceTransformerEmbedder(cache_dir=tmp_path).embed(TEXTS[:1])
    assert np.allclose(off.embed(TEXTS[:1]), cached, atol=1e-6)


def test_similar_texts_are_closer_than_unrelated_ones(shared: SentenceTransformerEmbedder) -> None:
    v = shared.embed(["A dog runs in the park.", "A puppy is running in a park.", "Stock markets fell."])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_bad_settings_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        SentenceTransformerEmbedder(batch_size=0)
    with pytest.raises(ConfigError, match="does not exist"):
        SentenceTransformerEmbedder(model_path=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="overlap"):
        SentenceTransformerEmbedder(token_window=64, token_overlap=64)
    with pytest.raises(ConfigError, match="positions"):
        SentenceTransformerEmbedder(token_window=600, cache_dir=False).embed_tokens("hello")


def test_concurrent_first_embeds_open_one_cache_connection(tmp_path: Path) -> None:
    """Threads embedding at once through a fresh embedder (``ragloom serve`` runs flows in a thread pool)
    used to open one SQLite connection each, of which all but the last were leaked."""
    import threading

    embedder = SentenceTransformerEmbedder(cache_dir=tmp_path)
    start = threading.Barrier(6)
    caches: list[object] = []
    results: list[np.ndarray] = []

    def work(i: int) -> None:
        start.wait()
        caches.append(embedder._get_cache())
        results.append(embedder.embed([TEXTS[i % 2]]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6 and len({id(c) for c in caches}) == 1
    assert embedder._get_cache() is caches[0]
