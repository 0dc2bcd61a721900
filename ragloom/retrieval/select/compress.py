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

from collections.abc import Sequence

import numpy as np

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
        if not cut:
            return list(hits)
        texts = [hits[i].text[a:b] for i in cut for a, b in spans[i]]
        relevance = self._relevance(query, texts)
        out, pos = list(hits), 0
        for i in cut:
            n = len(spans[i])
            first, last = best_window(relevance[pos : pos + n], self.sentences)
            pos += n
            out[i] = cut_hit(hits[i], spans[i][first][0], spans[i][last - 1][1])
        return out

    def cap(self, query: str, hits: Sequence[Hit], cap: int, counter: TokenCounter) -> list[Hit]:
        """Each hit over ``cap`` tokens cut to its window of consecutive sentences, of at most ``cap`` tokens,
        with the largest summed relevance (a hit none of whose sentences fits is kept whole)."""
        costs = [counter.count_tokens(h.text) for h in hits]
        long = [i for i, c in enumerate(costs) if c > cap]
        spans = {i: sentence_spans(hits[i].text) for i in long}
        long = [i for i in long if len(spans[i]) > 1]
        if not long:
            return list(hits)
        texts = [hits[i].text[a:b] for i in long for a, b in spans[i]]
        relevance = self._relevance(query, texts)
        out, pos = list(hits), 0
        for i in long:
            sp, rel = spans[i], relevance[pos : pos + len(spans[i])]
            pos += len(sp)
            best: tuple[float, int, int] | None = None
            for a in range(len(sp)):
                for b in range(a + 1, len(sp) + 1):
                    if counter.count_tokens(hits[i].text[sp[a][0] : sp[b - 1][1]]) > cap:
                        break
                    total = float(rel[a:b].sum())
                    if best is None or total > best[0]:
                        best = (total, a, b)
            if best is not None:
                out[i] = cut_hit(hits[i], sp[best[1]][0], sp[best[2] - 1][1])
        return out

    def _relevance(self, query: str, sentences: list[str]) -> np.ndarray:
        embedder = self._embedder = resolve_embedder(self._embedder)
        vectors = embedder.embed([*sentences, query]).astype(np.float64)
        cosine = vectors[:-1] @ vectors[-1]
        if not self.lexical:
            return cosine
        return cosine + self.lexical * lexical_scores(query, sentences)


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
