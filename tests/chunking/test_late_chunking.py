"""Late chunking: token-span mapping and pooling (pure), and real vectors from MiniLM (slow)."""

from __future__ import annotations

import numpy as np
import pytest
from embedder_spy import CountingEmbedder
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.chunking.late import (
    DEFAULT_NAIVE_WEIGHT,
    LateChunkingEmbedder,
    late_chunk_embed,
    pool_token_vectors,
    token_spans_for,
)
from ragloom.chunking.recursive import RecursiveChunker
from ragloom.chunking.sentence import SentenceChunker
from ragloom.chunking.token import TokenChunker
from ragloom.chunking.window import ParagraphChunker, WindowChunker
from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), max_size=30), st.data())
def test_token_spans_are_exactly_the_overlapping_tokens(
    gaps: list[tuple[int, int]], data: st.DataObject
) -> None:
    offsets, pos = [], 0
    for gap, length in gaps:  # tokens in order with gaps (whitespace) between them
        offsets.append((pos + gap, pos + gap + length))
        pos += gap + length
    s = data.draw(st.integers(0, pos))
    e = data.draw(st.integers(s, pos))
    [(i, j)] = token_spans_for(offsets, [(s, e)])
    expected = [k for k, (ts, te) in enumerate(offsets) if te > s and ts < e]
    assert list(range(i, j)) == expected


def test_pooling_is_the_normalised_mean_and_empty_ranges_are_zero() -> None:
    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]], dtype=np.float32)
    out = pool_token_vectors(vecs, [(0, 2), (2, 3), (1, 1)])
    assert np.allclose(out[0], [2**-0.5, 2**-0.5]) and np.allclose(out[1], [0.6, 0.8])
    assert np.array_equal(out[2], [0.0, 0.0]) and out.dtype == np.float32


@pytest.fixture(scope="module")
def late() -> LateChunkingEmbedder:
    return LateChunkingEmbedder()


@pytest.mark.slow
def test_late_vectors_differ_from_naive_ones_but_stay_similar(
    late: LateChunkingEmbedder, carol_slice: str
) -> None:
    assert isinstance(late, Embedder)
    text = carol_slice[:4000]
    chunks = SentenceChunker(target_words=40).split(text, "carol")
    vecs = late_chunk_embed(late.embedder, text, chunks, naive_weight=0.0)  # pure late chunking
    naive = late.embed([c.text for c in chunks])
    assert vecs.shape == naive.shape == (len(chunks), 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = np.sum(vecs * naive, axis=1)
    assert cos.min() > 0.5 and cos.max() < 0.999


@pytest.mark.slow
@pytest.mark.parametrize(
    "chunker",
    [TokenChunker(40, 8), SentenceChunker(30), RecursiveChunker(300), WindowChunker(50), ParagraphChunker()],
    ids=lambda c: type(c).__name__,
)
def test_late_chunking_works_with_any_chunker_on_long_crlf_text(
    late: LateChunkingEmbedder, carol_slice: str, chunker: object
) -> None:
    text = carol_slice  # ~7,500 chars: several token windows
    chunks = chunker.split(text, "carol")  # type: ignore[attr-defined]
    vecs = late_chunk_embed(late.embedder, text, chunks)
    assert vecs.shape == (len(chunks), 384) and np.isfinite(vecs).all()
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_spans_work_too_and_bad_spans_raise(late: LateChunkingEmbedder) -> None:
    text = "Alpha beta. \u200b\u200b Gamma delta."
    vecs = late.embed_chunks(text, [(0, 11), (12, 14), (15, 27)])
    assert np.allclose(vecs[1], late.embed([text[12:14]])[0], atol=1e-5)  # no token inside: naive fallback
    assert late.embed_chunks(text, []).shape == (0, 384)
    with pytest.raises(ConfigError, match="outside the text"):
        late.embed_chunks(text, [(5, 100)])


@pytest.mark.slow
def test_naive_weight_mixes_in_the_naive_vector(late: LateChunkingEmbedder, carol_slice: str) -> None:
    text = carol_slice[:1500]
    chunks = SentenceChunker(target_words=40).split(text, "carol")
    pure = LateChunkingEmbedder(late.embedder, naive_weight=0.0).embed_chunks(text, chunks)
    naive = late.embed([c.text for c in chunks])
    mixed = LateChunkingEmbedder(late.embedder, naive_weight=0.5).embed_chunks(text, chunks)
    expected = (pure + 0.5 * naive) / np.linalg.norm(pure + 0.5 * naive, axis=1, keepdims=True)
    assert np.allclose(mixed, expected, atol=1e-5)
    both = (pure + naive) / np.linalg.norm(pure + naive, axis=1, keepdims=True)
    assert late.naive_weight == DEFAULT_NAIVE_WEIGHT == 1.0  # the dev-tuned default (see late.py)
    assert np.allclose(late.embed_chunks(text, chunks), both, atol=1e-5)
    with pytest.raises(ConfigError, match="naive_weight"):
        late_chunk_embed(late.embedder, text, chunks, naive_weight=-1)


@pytest.mark.slow
def test_long_documents_are_late_chunked_section_by_section(
    late: LateChunkingEmbedder, carol_slice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory is bounded by the section size, whatever the document's length (sizes shrunk ~100x here)."""
    import ragloom.chunking.late as late_module
    from ragloom.chunking.late import DocumentTokens, late_chunk_embed_long

    text = carol_slice[:5_000]
    chunks = SentenceChunker(target_words=40).split(text, "carol")
    recorder = CountingEmbedder(late.embedder)
    whole = late_chunk_embed_long(recorder, text, chunks)  # short: one exact pass
    assert recorder.token_texts == [text]
    assert np.allclose(whole, late_chunk_embed(late.embedder, text, chunks), atol=1e-6)
    monkeypatch.setattr(late_module, "LONG_DOCUMENT_CHARS", 2_000)
    monkeypatch.setattr(late_module, "SECTION_CHARS", 1_500)
    monkeypatch.setattr(late_module, "SECTION_OVERHANG", 500)
    recorder.token_texts.clear()
    tokens = DocumentTokens(recorder)
    halves = [late_chunk_embed_long(recorder, text, part, tokens=tokens) for part in (chunks[:7], chunks[7:])]
    sectioned = np.concatenate(halves)
    longest = max(map(len, recorder.token_texts))
    assert longest < 1_500 + 500 + 400  # a section, its overhang and the last chunk's end
    assert np.allclose(sectioned, late_chunk_embed_long(recorder, text, chunks), atol=1e-6)  # batching-free
    assert np.allclose(np.linalg.norm(sectioned, axis=1), 1.0, atol=1e-5)
    assert np.sum(sectioned * whole, axis=1).min() > 0.9  # close to the one-pass vectors
    giant = [(0, len(text))]  # longer than two sections: its naive embedding
    assert np.allclose(late_chunk_embed_long(recorder, text, giant), late.embed([text]), atol=1e-6)
