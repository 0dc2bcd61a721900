"""IndexCache sharing between pipelines must never hand one pipeline another pipeline's embedder."""

from __future__ import annotations

import pytest

from ragloom.core.types import Document
from ragloom.eval.build import IndexCache, build_pipeline
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
