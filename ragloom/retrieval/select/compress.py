"""Sentence windows of candidate passages, for selection under a token budget.

Why: under a tight budget a whole passage pays for every one of its sentences, while a multi-hop question
needs evidence from several passages (HotpotQA's supporting facts are single sentences). Two uses, both
parameters of the ``select.*`` nodes (:func:`ragloom.retrieval.select.components.selector_node`):

- ``max_share`` (:meth:`SentenceWindowCompressor.cap`): a passage longer than that share of the budget is cut
  to the window of consecutive sentences, within the share, with the largest summed query relevance; one
  long passage can no longer crowd the other hops out of the budget;
- ``fill_sentences`` (:func:`fill_leftover`): the budget a selector leaves over is spent on the most relevant
  windows of the documents it left out; the selection itself is never cut.

A window is *contiguous*, so a cut hit is an ordinary chunk of its document (``source[start:end] == text``,
offsets shifted into the document; ``metadata["compressed_from"]`` names the source chunk) and span metrics
stay exact; like ``select.sentences``' passages it records the share of its chunk it keeps (``kept_share``),
which context support recall credits it with. Relevance of a sentence: embedding cosine to the question plus
the idf-weighted share of the question's words it contains. Honesty: cutting *every* candidate to a fixed
window before selection raised support recall on hotpotqa-300's dev half but lowered answer-in-context (the
answer sentence is often not the one most similar to the question), so it is not offered; the two uses above
kept answer-in-context on dev.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from ragloom.chunking.base import Span
from ragloom.chunking.sentence import sentence_spans
from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder, TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import resolve_embedder
from ragloom.retrieval.select.sentences import cut_hit, lexical_scores

__all__ = ["SentenceWindowCompressor", "best_window", "fill_leftover"]


def best_window(scores: Sequence[float] | np.ndarray, size: int) -> tuple[int, int]:
    """``(first, last + 1)`` of the ``size`` consecutive items with the largest sum (earliest on ties); the
    whole range when there are at most ``size`` items. Pure: tested against brute force."""
    n = len(scores)
    if size < 1:
        raise ConfigError(f"best_window: size must be >= 1, got {size}")
    if n <= size:
        return 0, n
    sums = np.convolve(np.asarray(scores, dtype=np.float64), np.ones(size), mode="valid")
    first = int(np.argmax(sums))  # argmax returns the first maximum: the earliest window on ties
    return first, first + size


class SentenceWindowCompressor:
    """Cut each hit to its best window of ``sentences`` consecutive sentences for ``query``.

    Relevance of a sentence: cosine to the query (the shared MiniLM embedder unless one is given; vectors
    are cached on disk) plus ``lexical`` times the idf-weighted share of the query's words it contains (idf
    over the candidates' sentences). Order, scores and number of hits are kept; only texts and spans shrink.
    """

    def __init__(self, sentences: int = 2, lexical: float = 0.5, embedder: Embedder | None = None) -> None:
        if sentences < 1:
            raise ConfigError(f"SentenceWindowCompressor: sentences must be >= 1, got {sentences}")
        self.sentences = sentences
        self.lexical = lexical
        self._embedder = embedder

    def compress(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        spans = [sentence_spans(h.text) for h in hits]
        cut = [i for i, s in enumerate(spans) if len(s) > self.sentences]
        out = list(hits)
        for i, rel in self._per_hit(query, hits, cut, spans):
            first, last = best_window(rel, self.sentences)
            out[i] = cut_hit(hits[i], spans[i][first][0], spans[i][last - 1][1])
        return out

    def cap(self, query: str, hits: Sequence[Hit], cap: int, counter: TokenCounter) -> list[Hit]:
        """Each hit over ``cap`` tokens cut to its window of consecutive sentences, of at most ``cap`` tokens,
        with the largest summed relevance (a hit none of whose sentences fits is kept whole)."""
        long = [i for i, h in enumerate(hits) if counter.count_tokens(h.text) > cap]
        spans = {i: sentence_spans(hits[i].text) for i in long}
        long = [i for i in long if len(spans[i]) > 1]
        out = list(hits)
        for i, rel in self._per_hit(query, hits, long, spans):
            window = _best_window_under(hits[i].text, spans[i], rel, cap, counter)
            if window is not None:
                out[i] = cut_hit(hits[i], *window)
        return out

    def _per_hit(
        self,
        query: str,
        hits: Sequence[Hit],
        chosen: list[int],
        spans: Mapping[int, Sequence[Span]] | Sequence[Sequence[Span]],
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(i, relevance of each sentence of hit i)`` for the ``chosen`` hits, their sentences embedded in
        one batch."""
        if not chosen:
            return
        texts = [hits[i].text[a:b] for i in chosen for a, b in spans[i]]
        relevance, pos = self._relevance(query, texts), 0
        for i in chosen:
            yield i, relevance[pos : pos + len(spans[i])]
            pos += len(spans[i])

    def _relevance(self, query: str, sentences: list[str]) -> np.ndarray:
        embedder = self._embedder = resolve_embedder(self._embedder)
        vectors = embedder.embed([*sentences, query]).astype(np.float64)
        cosine = vectors[:-1] @ vectors[-1]
        if not self.lexical:
            return cosine
        return cosine + self.lexical * lexical_scores(query, sentences)


def _best_window_under(
    text: str, spans: Sequence[tuple[int, int]], relevance: np.ndarray, cap: int, counter: TokenCounter
) -> tuple[int, int] | None:
    """``(start, end)`` in ``text`` of the run of consecutive sentences of at most ``cap`` tokens with the
    largest summed relevance (the first such run on ties); None when no single sentence fits."""
    best: tuple[float, int, int] | None = None
    for a in range(len(spans)):
        for b in range(a + 1, len(spans) + 1):
            if counter.count_tokens(text[spans[a][0] : spans[b - 1][1]]) > cap:
                break
            total = float(relevance[a:b].sum())
            if best is None or total > best[0]:
                best = (total, a, b)
    return None if best is None else (spans[best[1]][0], spans[best[2] - 1][1])


def fill_leftover(
    query: str,
    hits: Sequence[Hit],
    chosen: Sequence[Hit],
    budget: int,
    counter: TokenCounter,
    compressor: SentenceWindowCompressor,
) -> list[Hit]:
    """``chosen`` plus, in ``hits`` order, the compressed windows of documents ``chosen`` lacks, each while
    it still fits the ``budget`` left over: the selected context itself is never cut (so nothing it held
    is lost), the room it leaves is spent on further passages' most query-relevant sentences."""
    have = {h.doc_id for h in chosen}
    left = budget - sum(counter.count_tokens(h.text) for h in chosen)
    rest = [h for h in hits if h.doc_id not in have]
    if left <= 0 or not rest:
        return list(chosen)
    out = list(chosen)
    for hit in compressor.compress(query, rest):
        cost = counter.count_tokens(hit.text)
        if hit.doc_id not in have and cost <= left:
            out.append(hit)
            have.add(hit.doc_id)
            left -= cost
    return out
