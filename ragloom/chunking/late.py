"""Late chunking: embed the whole document once at token level, then mean-pool each chunk's tokens.

Günther et al. 2024, "Late Chunking: Contextual Chunk Embeddings Using Long-Context Embedding Models"
(arXiv:2409.04701). A chunk's vector then carries context from the rest of the document (who "he" is, what
"the treaty" refers to), which naive per-chunk embedding loses. Chunk boundaries come from any chunker: a
chunk's character span maps to the tokens whose character spans overlap it. Documents longer than the model
window are handled by the embedder's long late chunking (overlapping macro windows, stitched).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence

import numpy as np

from ragloom.chunking.base import Span
from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder
from ragloom.core.types import Chunk

#: Weight of each chunk's own (naive) embedding added to its late vector by default. Tuned on the dev half
#: of squad-articles-a (benchmarks/late_chunking_dev.py, MiniLM, 128-token windows, overlap 32, prefix 32),
#: span-hit@1 gain over naive with the same boundaries, weights 0 / 0.5 / 1 / 2:
#: 200-word windows +1.1 / +4.0 / +3.5 / +2.4, paragraphs -1.2 / +1.3 / +2.1 / +1.9,
#: 60-word sentence groups -2.5 / +1.0 / +0.9 / +0.5, 100-word windows -0.2 / +1.2 / +0.5 / +1.0.
#: Pure late chunking (0) loses to naive on small chunks with this short-window model (MiniLM was trained on
#: 128 tokens, so wider context blurs neighbouring chunks of one article); 1.0 is the equal-weight mix with
#: the lowest variance across the dev halves (0.5 is a tie on the mean within noise).
DEFAULT_NAIVE_WEIGHT = 1.0

#: What ``Embedder.embed_tokens`` returns: token vectors and each token's character span.
TokenVectors = tuple[np.ndarray, Sequence[Span]]

#: Documents up to this many characters get one token-level pass over the whole text (exact late chunking).
#: Its token vectors take ~1.5 KB per token (~400 bytes per character with the pooling sums), so a longer
#: document is embedded section by section instead: a 50 MB text in one pass needed tens of GB.
LONG_DOCUMENT_CHARS = 400_000
#: Section length (characters) for longer documents, and how far past its end a section's text reaches
#: so that chunks starting near the end still see their own text and some context after it.
SECTION_CHARS = 200_000
SECTION_OVERHANG = 50_000
_WHITESPACE = re.compile(r"\s")


def token_spans_for(offsets: Sequence[Span], spans: Sequence[Span]) -> list[Span]:
    """For each character span, the token range ``[i, j)`` of tokens overlapping it (pure; may be empty).

    ``offsets`` are the tokens' character spans in text order (as the tokenizer gives them).
    """
    ends = [e for _, e in offsets]
    starts = [s for s, _ in offsets]
    out: list[Span] = []
    for s, e in spans:
        i = bisect.bisect_right(ends, s)  # first token ending after s
        j = bisect.bisect_left(starts, e)  # first token starting at or after e
        out.append((i, max(i, j)))
    return out


def pool_token_vectors(vectors: np.ndarray, ranges: Sequence[Span]) -> np.ndarray:
    """Mean of ``vectors[i:j]`` per range, L2-normalised; an empty range gives a zero row (pure)."""
    out = np.zeros((len(ranges), vectors.shape[1]), dtype=np.float32)
    if len(vectors):
        csum = np.concatenate([np.zeros((1, vectors.shape[1])), np.cumsum(vectors, axis=0, dtype=np.float64)])
        for row, (i, j) in enumerate(ranges):
            if j > i:
                out[row] = (csum[j] - csum[i]) / (j - i)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


def late_chunk_embed(
    embedder: Embedder,
    text: str,
    chunks: Sequence[Chunk | Span],
    naive_weight: float = DEFAULT_NAIVE_WEIGHT,
    tokens: TokenVectors | None = None,
) -> np.ndarray:
    """(n_chunks, dim) L2-normalised late-chunking vectors for ``chunks`` of ``text`` (Chunks or spans).

    ``naive_weight`` > 0 adds that multiple of each chunk's own (naive) embedding before normalising: the
    late vector brings document context, the naive one keeps the chunk specific (see
    :data:`DEFAULT_NAIVE_WEIGHT` for the dev measurements); 0 gives pure late chunking.
    A chunk that covers no token (e.g. only characters the tokenizer drops) falls back to its naive embedding.
    ``tokens``: ``embedder.embed_tokens(text)`` when the caller already has it (see :class:`DocumentTokens`),
    so embedding a document's chunks in several calls runs the expensive token-level pass once.
    """
    if naive_weight < 0:
        raise ConfigError(f"late_chunk_embed: naive_weight must be >= 0, got {naive_weight}")
    spans = [(c.start, c.end) if isinstance(c, Chunk) else (int(c[0]), int(c[1])) for c in chunks]
    for s, e in spans:
        if not 0 <= s <= e <= len(text):
            raise ConfigError(f"late_chunk_embed: chunk span ({s}, {e}) is outside the text [0, {len(text)}]")
    if not spans:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    vectors, offsets = embedder.embed_tokens(text) if tokens is None else tokens
    ranges = token_spans_for(offsets, spans)
    pooled = pool_token_vectors(vectors, ranges)
    empty = [k for k, (i, j) in enumerate(ranges) if j <= i]
    if empty:
        pooled[empty] = embedder.embed([text[spans[k][0] : spans[k][1]] for k in empty])
    if naive_weight > 0:
        mixed = pooled + naive_weight * embedder.embed([text[s:e] for s, e in spans])
        pooled = (mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    return pooled


def late_chunk_embed_long(
    embedder: Embedder,
    text: str,
    chunks: Sequence[Chunk | Span],
    naive_weight: float = DEFAULT_NAIVE_WEIGHT,
    tokens: Callable[[str], TokenVectors] | None = None,
) -> np.ndarray:
    """:func:`late_chunk_embed` with memory bounded by :data:`SECTION_CHARS`, for documents of any length.

    A document up to :data:`LONG_DOCUMENT_CHARS` gets exactly :func:`late_chunk_embed`. A longer one is cut
    into sections at whitespace every :data:`SECTION_CHARS` characters (fixed by the text alone, so a
    chunk's vector does not depend on how the caller batches chunks); each chunk is late-chunked inside the
    section where it starts, extended by :data:`SECTION_OVERHANG`. The macro windows of long late chunking
    give each token only ~100 tokens of context anyway; what a chunk loses is the document's opening
    tokens as global prefix (it gets its section's). A chunk too long for that (longer than about two
    sections) gets its naive embedding. ``tokens(text)`` caches token passes (see :class:`DocumentTokens`).
    """
    if len(text) <= LONG_DOCUMENT_CHARS:
        return late_chunk_embed(embedder, text, chunks, naive_weight, tokens(text) if tokens else None)
    spans = [(c.start, c.end) if isinstance(c, Chunk) else (int(c[0]), int(c[1])) for c in chunks]
    out = np.zeros((len(spans), embedder.dim), dtype=np.float32)
    groups: dict[Span, list[int]] = {}
    naive: list[int] = []
    for row, (s, e) in enumerate(spans):
        a, b = _section(text, s)
        if e > b and e - a > 2 * (SECTION_CHARS + SECTION_OVERHANG):
            naive.append(row)
            continue
        groups.setdefault((a, max(b, e)), []).append(row)
    for (a, b), rows in groups.items():
        part = text[a:b]
        local = [(spans[r][0] - a, spans[r][1] - a) for r in rows]
        out[rows] = late_chunk_embed(embedder, part, local, naive_weight, tokens(part) if tokens else None)
    if naive:
        out[naive] = embedder.embed([text[spans[r][0] : spans[r][1]] for r in naive])
    return out


def _section(text: str, position: int) -> Span:
    """The section of a long ``text`` holding ``position``: ``(start, end)`` with the overhang included."""

    def boundary(k: int) -> int:  # just after the first whitespace at or after k * SECTION_CHARS
        if k <= 0:
            return 0
        found = _WHITESPACE.search(text, k * SECTION_CHARS)
        return found.end() if found else len(text)

    k = position // SECTION_CHARS
    while k > 0 and boundary(k) > position:
        k -= 1
    end = _WHITESPACE.search(text, (k + 1) * SECTION_CHARS + SECTION_OVERHANG)
    return boundary(k), end.end() if end else len(text)


class DocumentTokens:
    """``embed_tokens`` of the text last asked for, kept until another text is asked for.

    An indexer embeds chunks in fixed-size batches, document by document, so a long document's chunks span
    several batches; asking this once per batch runs each document's token-level pass (the expensive
    transformer run) once, while holding only one document's token vectors at a time.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._text: str | None = None
        self._tokens: TokenVectors | None = None

    def __call__(self, text: str) -> TokenVectors:
        if self._tokens is None or self._text != text:
            self._text, self._tokens = None, None  # free the last document's vectors before the next pass
            self._tokens = self.embedder.embed_tokens(text)
            self._text = text
        return self._tokens


class LateChunkingEmbedder:
    """An Embedder whose ``embed_chunks(text, chunks)`` uses late chunking; queries go through ``embed``.

    Everything else (``embed``, ``embed_tokens``, ``dim``, ``model_name``) is the wrapped embedder's, so it
    drops in wherever an Embedder is expected and indexers can ask for contextual chunk vectors.
    """

    def __init__(self, embedder: Embedder | None = None, naive_weight: float = DEFAULT_NAIVE_WEIGHT) -> None:
        self.naive_weight = naive_weight
        if embedder is None:
            from ragloom.retrieval.embedders import default_embedder

            embedder = default_embedder()
        self.embedder = embedder

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        return self.embedder.embed_tokens(text)

    def embed_chunks(self, text: str, chunks: Sequence[Chunk | Span]) -> np.ndarray:
        """Late-chunking vectors of ``chunks`` of the document ``text`` (long texts section by section)."""
        return late_chunk_embed_long(self.embedder, text, chunks, self.naive_weight)
