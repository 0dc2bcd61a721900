"""Semantic chunking: cut between sentences where the meaning shifts (Kamradt's percentile method).

Each sentence is embedded together with ``buffer`` neighbours on each side (a lone short sentence is a noisy
signal); a breakpoint falls between sentences ``i`` and ``i + 1`` when the cosine distance of their buffered
embeddings is above the ``percentile``-th percentile of all adjacent distances in the document. Groups longer
than ``max_words`` are split further with sentence grouping, so chunks stay embeddable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ragloom.chunking.base import Span, check_positive, count_words, group_units, make_chunks
from ragloom.chunking.sentence import sentence_spans
from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder
from ragloom.core.types import Chunk


def adjacent_distances(vectors: np.ndarray) -> np.ndarray:
    """Cosine distance between consecutive rows (rows need not be normalised); shape (n - 1,)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    return np.asarray(1.0 - np.sum(unit[:-1] * unit[1:], axis=1), dtype=np.float64)


def semantic_breakpoints(distances: Sequence[float] | np.ndarray, percentile: float) -> list[int]:
    """Indices ``i`` (cut after unit ``i``) whose distance is above the percentile threshold (pure)."""
    d = np.asarray(distances, dtype=np.float64)
    if d.size == 0:
        return []
    threshold = float(np.percentile(d, percentile))
    return [int(i) for i in np.flatnonzero(d > threshold)]


class SemanticChunker:
    """Sentence groups cut where adjacent-sentence similarity drops (``embedder`` default: the shared one)."""

    def __init__(
        self,
        embedder: Embedder | None = None,
        percentile: float = 90.0,
        buffer: int = 1,
        max_words: int = 300,
    ) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ConfigError(f"SemanticChunker: percentile must be in [0, 100], got {percentile!r}")
        if not isinstance(buffer, int) or buffer < 0:
            raise ConfigError(f"SemanticChunker: buffer must be an integer >= 0, got {buffer!r}")
        check_positive("SemanticChunker", max_words=max_words)
        self._embedder = embedder
        self.percentile = percentile
        self.buffer = buffer
        self.max_words = max_words

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from ragloom.retrieval.embedders import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        sents = sentence_spans(text)
        if len(sents) <= 1:
            return make_chunks(text, doc_id, sents, chunker="semantic")
        b = self.buffer
        last = len(sents) - 1
        windows = [text[sents[max(0, i - b)][0] : sents[min(last, i + b)][1]] for i in range(len(sents))]
        cuts = semantic_breakpoints(adjacent_distances(self.embedder.embed(windows)), self.percentile)
        spans: list[Span] = []
        first = 0
        for last in [*cuts, len(sents) - 1]:
            spans.extend(self._fit(text, sents[first : last + 1]))
            first = last + 1
        return make_chunks(text, doc_id, spans, chunker="semantic")

    def _fit(self, text: str, group: Sequence[Span]) -> list[Span]:
        sizes = [count_words(text, s, e) for s, e in group]
        return [(group[i][0], group[j - 1][1]) for i, j in group_units(sizes, self.max_words)]
