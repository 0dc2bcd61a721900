"""Embedder precision: bf16 vectors match fp32 ones, carry their own identity, an index keeps them apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.types import Document
from ragloom.retrieval.precision import (
    PRECISION_ENV,
    embedder_identity,
    identity_of,
    resolve_precision,
    split_identity,
)

TINY_TEXTS = {
    "paris": "Paris is the capital and most populous city of France, on the river Seine.",
    "berlin": "Berlin is the capital of Germany and its largest city by population.",
    "cats": "Cats are small domesticated carnivorous mammals that often sleep most of the day.",
    "tea": "Green tea is made from unoxidized leaves of Camellia sinensis and contains caffeine.",
}


def test_resolve_precision_choices_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "fp32"  # bf16 is chosen automatically only on an AMX CPU
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(ConfigError, match=PRECISION_ENV):
        resolve_precision("auto", "cpu")
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", "cpu")


def test_identity_round_trips() -> None:
    assert split_identity(identity_of("m", "bf16")) == ("m", "bf16")
    assert split_identity(identity_of("m", "fp32")) == ("m", "fp32") and identity_of("m", "fp32") == "m"


@pytest.mark.slow
def test_bf16_vectors_match_fp32_and_are_cached_apart(tmp_path: Path) -> None:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    texts = list(TINY_TEXTS.values())
    half = SentenceTransformerEmbedder(cache_dir=tmp_path, precision="bf16")
    full = SentenceTransformerEmbedder(cache_dir=tmp_path, precision="fp32")
    assert half.model_name == full.model_name and half.identity == full.model_name + "@bf16"
    a, b = half.embed(texts), full.embed(texts)
    assert full.computed == len(texts)  # the bf16 vectors in the same cache are not served as fp32
    assert np.min(np.sum(a * b, axis=1)) > 0.999
    assert embedder_identity(half) == half.identity


@pytest.mark.slow
def test_an_index_is_queried_in_the_precision_it_was_built_with(tmp_path: Path) -> None:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder
    from ragloom.retrieval.index import Index

    docs = [Document(d, t) for d, t in TINY_TEXTS.items()]
    half = SentenceTransformerEmbedder(cache_dir=False, precision="bf16")
    full = SentenceTransformerEmbedder(cache_dir=False, precision="fp32")
    Index.build(tmp_path / "h", docs, embedder=half, vector_store="memory")
    Index.build(tmp_path / "f", docs, embedder=full, vector_store="memory")
    opened_h, opened_f = Index.open(tmp_path / "h"), Index.open(tmp_path / "f")
    assert opened_h.manifest.embedder.endswith("@bf16") and embedder_identity(opened_h.embedder).endswith(
        "@bf16"
    )
    assert embedder_identity(opened_f.embedder) == full.model_name  # an fp32 index stays fp32 by default
    assert opened_h.retrieve("capital of Germany", k=1)[0].chunk.doc_id == "berlin"
    with pytest.raises(ConfigError, match="precision"):
        Index.open(tmp_path / "h", embedder=full).dense()
    with pytest.raises(ConfigError, match="bf16"):
        Index.create(tmp_path / "f", embedder=half)


@pytest.mark.slow
def test_warm_up_loads_the_vector_model_in_the_background() -> None:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(cache_dir=False, precision="bf16")
    embedder.warm_up().join(120)
    assert embedder._model is not None and embedder._vector_model() is not embedder.model
    assert embedder.embed(["warm"]).shape == (1, 384)


def test_a_worker_copy_keeps_the_precision() -> None:
    """Ray workers rebuild the embedder from its settings: their vectors must have the driver's identity."""
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder
    from ragloom.retrieval.parallel_embed import embedder_factory

    for precision in ("bf16", "fp32"):
        driver = SentenceTransformerEmbedder(cache_dir=False, precision=precision)
        assert embedder_identity(embedder_factory(driver)()) == driver.identity
