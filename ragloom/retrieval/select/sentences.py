"""Sentence-level context selection (extractive compression): the question's best sentences, not whole chunks.

A chunk-level selector pays for a whole chunk (~130 tokens on document sets) to get the one sentence that
answers; under a 384-token budget that is three chunks, so an answer in the retriever's 6th chunk never
reaches the prompt. Scoring every sentence of the candidate hits and packing the best ones fills the same
budget with the relevant sentences of many more chunks (the extractive idea of RECOMP, Xu et al. 2023,
and of sentence pruning in LongLLMLingua, without a trained model).

A sentence's score mixes three min-max-normalised signals, all computed on the candidates alone:

- ``dense``: cosine of the sentence and the question (the shared MiniLM embedder);
- ``lexical``: the share of the question's words (BM25's stopwords and stems) the sentence contains, each word
  weighted by its rarity among the candidate sentences (a local idf: names and numbers count most);
- ``score``: the retrieval score of the sentence's hit (a chunk the ranking trusts lends weight to its
  sentences).

Sentences are taken best first while they fit (``window`` > 0 takes their neighbours along); the output is one
passage per contiguous run of kept sentences, each a real sub-span of its chunk (``source[start:end] == text``
still holds, metadata such as page and section is kept, so citations by location work), ordered by the best
sentence they hold, so the most relevant text comes first in the prompt. Each passage's metadata says which
share of its chunk it keeps (``kept_share``): context support recall credits a fragment with that share of its
document, since a sentence need not hold the fact a document supports the answer with (on hotpotqa's
multi-hop questions whole-sentence packing reaches more documents but holds the answer less often).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder, TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import check_budget, minmax, resolve_embedder, resolve_token_counter

__all__ = ["KEPT_SHARE", "Sentence", "SentenceSelector", "cut_hit", "lexical_scores", "split_hits"]

#: Metadata key of a cut passage: the share (0..1] of the retrieved chunk's text it keeps. Support recall
#: credits a fragment with this share of its document (a sentence need not carry the passage's support).
KEPT_SHARE = "kept_share"


@functools.cache
def _tokenizer() -> Any:
    """One BM25 tokenizer for every selector (its stem memo is shared; built on first use)."""
    from ragloom.retrieval.bm25 import BM25Tokenizer

    return BM25Tokenizer()


def _words(text: str) -> set[str]:
    """BM25's view of ``text``: lower-cased, stopword-free, stemmed words."""
    return set(_tokenizer().words(text))


class Sentence:
    """One sentence of a candidate hit: the hit's position, the sentence's position in it and its span."""

    __slots__ = ("end", "hit", "index", "start", "text")

    def __init__(self, hit: int, index: int, start: int, end: int, text: str) -> None:
        self.hit, self.index, self.start, self.end, self.text = hit, index, start, end, text


def split_hits(hits: Sequence[Hit]) -> list[Sentence]:
    """Every sentence of every hit, in order; a sentence repeated verbatim (overlapping chunks) kept once."""
    from ragloom.chunking.sentence import sentence_spans

    seen: set[str] = set()
    out: list[Sentence] = []
    for h, hit in enumerate(hits):
        text = hit.chunk.text
        for i, (s, e) in enumerate(sentence_spans(text)):
            key = " ".join(text[s:e].split()).lower()
            if key not in seen:
                seen.add(key)
                out.append(Sentence(h, i, s, e, text[s:e]))
    return out


def lexical_scores(query: str, texts: Sequence[str]) -> np.ndarray:
    """idf-weighted share of the question's words in each text, the idf taken over ``texts`` themselves."""
    q = _words(query)
    bags = [_words(t) for t in texts]
    if not q or not bags:
        return np.zeros(len(texts))
    n = len(bags)
    idf = {w: math.log(1.0 + n / (1.0 + sum(w in b for b in bags))) for w in q}
    total = sum(idf.values())
    return np.array([sum(idf[w] for w in q & b) / total for b in bags])


class SentenceSelector:
    """The question's best sentences from the candidate hits under the token budget (module doc: why).

    ``dense_weight``, ``lexical_weight``, ``score_weight``: the mix of the sentence's relevance signals;
    ``window``: neighbouring sentences taken along with each chosen one (0: the sentence alone).
    """

    def __init__(
        self,
        dense_weight: float = 0.4,
        lexical_weight: float = 0.4,
        score_weight: float = 0.2,
        window: int = 0,
        embedder: Embedder | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        weights = (dense_weight, lexical_weight, score_weight)
        if min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(
                f"SentenceSelector: weights must be >= 0 and not all 0, got dense={dense_weight}, "
                f"lexical={lexical_weight}, score={score_weight}"
            )
        if not isinstance(window, int) or window < 0:
            raise ConfigError(f"SentenceSelector: window must be an integer >= 0, got {window!r}")
        self.weights, self.window = weights, window
        self._embedder = embedder
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)

    def score(self, query: str, hits: Sequence[Hit], sentences: Sequence[Sentence]) -> np.ndarray:
        """Each sentence's relevance to ``query`` (the weighted mix of dense, lexical and hit score)."""
        texts = [s.text for s in sentences]
        dense_w, lexical_w, score_w = self.weights
        total = np.zeros(len(texts))
        if dense_w > 0:
            embedder = self._embedder = resolve_embedder(self._embedder)
            vectors = embedder.embed(texts)
            total += dense_w * minmax(vectors @ embedder.embed([query])[0])
        if lexical_w > 0:
            total += lexical_w * minmax(lexical_scores(query, texts))
        if score_w > 0:
            total += score_w * minmax(np.array([hits[s.hit].score for s in sentences]))
        return total

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("SentenceSelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        sentences = split_hits(hits)
        if not sentences:
            return []
        scores = self.score(query, hits, sentences)
        kept = self._pack(sentences, scores, budget_tokens)
        return self._passages(hits, sentences, scores, kept, budget_tokens)

    def _pack(self, sentences: Sequence[Sentence], scores: np.ndarray, budget: int) -> list[int]:
        """Sentence positions taken best first (with their window) while they fit the budget."""
        assert self._cached is not None
        where = {(s.hit, s.index): n for n, s in enumerate(sentences)}
        kept: dict[int, None] = {}
        used = 0
        for n in np.argsort(-scores, kind="stable"):
            s = sentences[int(n)]
            for i in range(s.index - self.window, s.index + self.window + 1):
                m = where.get((s.hit, i))
                if m is None or m in kept:
                    continue
                cost = self._cached.count_tokens(sentences[m].text)
                if used + cost <= budget:
                    kept[m] = None
                    used += cost
        return list(kept)

    def _passages(
        self,
        hits: Sequence[Hit],
        sentences: Sequence[Sentence],
        scores: np.ndarray,
        kept: Sequence[int],
        budget: int,
    ) -> list[Hit]:
        """One hit per contiguous run of kept sentences of a chunk, best run first, within the budget."""
        assert self._cached is not None
        runs: list[list[int]] = []
        for m in sorted(kept, key=lambda m: (sentences[m].hit, sentences[m].index)):
            last = runs[-1][-1] if runs else None
            adjacent = last is not None and sentences[last].hit == sentences[m].hit
            if adjacent and sentences[last].index + 1 == sentences[m].index:  # type: ignore[index]
                runs[-1].append(m)
            else:
                runs.append([m])
        runs.sort(key=lambda run: -max(float(scores[m]) for m in run))
        out: list[Hit] = []
        used = 0
        for run in runs:
            hit = cut_hit(hits[sentences[run[0]].hit], sentences[run[0]].start, sentences[run[-1]].end)
            hit = hit.with_score(max(float(scores[m]) for m in run))
            cost = self._cached.count_tokens(hit.text)  # joined text can count a token more than its parts
            if used + cost <= budget:
                out.append(hit)
                used += cost
        return out


def cut_hit(hit: Hit, start: int, end: int) -> Hit:
    """``hit`` cut to ``hit.text[start:end]``: a real span of its document when the chunk's span matches its
    text (else the chunk's span is kept, as its text is not a plain slice of the document); its metadata names
    the source chunk (``compressed_from``) and the share of the retrieved chunk it keeps (:data:`KEPT_SHARE`,
    compounded when a cut passage is cut again), which context support recall credits it with."""
    chunk = hit.chunk
    text = chunk.text[start:end]
    exact = chunk.end - chunk.start == len(chunk.text)
    span = (chunk.start + start, chunk.start + end) if exact else (chunk.start, chunk.end)
    share = float(chunk.metadata.get(KEPT_SHARE, 1.0)) * len(text) / max(len(chunk.text), 1)
    source = chunk.metadata.get("compressed_from", chunk.id)
    metadata = {**chunk.metadata, KEPT_SHARE: round(share, 4), "compressed_from": source}
    return replace(hit, chunk=replace(chunk, text=text, start=span[0], end=span[1], metadata=metadata))
