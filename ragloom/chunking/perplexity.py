"""Perplexity chunking (Meta-Chunking's PPL chunking): cut where a sentence is *least* surprising.

Zhao et al. 2024, "Meta-Chunking: Learning Efficient Text Segmentation via Logical Perception", §3.2: score
each sentence by its perplexity under a small LM conditioned on the text before it; a sentence whose
perplexity is a local minimum is well predicted by its context, i.e. it closes a line of thought, so the chunk
boundary goes right after it. Formally, with ``v[i]`` = mean token negative log-likelihood of sentence i
(log-perplexity), sentence i is a boundary when ``v[i-1] > v[i] < v[i+1]`` and one of the drops is at least
``threshold`` (or ``v[i-1] - v[i] >= threshold`` with a plateau ``v[i] == v[i+1]``), exactly as in the paper's
``find_minima``. The resulting pieces are then merged greedily up to ``target_size`` (the paper's dynamic
merging), measured in tokens, words or characters.

The LM is any :class:`TokenScorer`: an object with ``token_logprobs(text)`` returning per-token
log-probabilities and character offsets (``ragloom.llm.LocalLLM`` has it). One pass scores the whole text, so
every sentence is conditioned on everything before it (up to the scorer's window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ragloom.chunking.base import Span, check_positive, count_words, group_units, make_chunks
from ragloom.chunking.sentence import sentence_spans
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

SizeUnit = Literal["tokens", "words", "chars"]


class ScoredTokens(Protocol):
    """Per-token scores: ``logprobs[i]`` = log p(token i | tokens before it), ``offsets[i]`` its char span."""

    @property
    def logprobs(self) -> Sequence[float]: ...

    @property
    def offsets(self) -> Sequence[tuple[int, int]]: ...


@runtime_checkable
class TokenScorer(Protocol):
    def token_logprobs(self, text: str) -> ScoredTokens:
        """Score every token of ``text`` given the tokens before it; offsets are char spans in ``text``."""
        ...


@dataclass(frozen=True)
class SentenceScore:
    """A sentence's span, its token count and its log-perplexity (mean negative log-likelihood per token)."""

    start: int
    end: int
    tokens: int
    log_ppl: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.log_ppl) if self.tokens else math.inf


def find_minima(values: Sequence[float], threshold: float = 0.0) -> list[int]:
    """Indices of local minima of ``values`` per Meta-Chunking's ``find_minima`` (see the module docstring).

    The first and last values are never minima (a boundary needs context on both sides).
    """
    minima = []
    for i in range(1, len(values) - 1):
        prev, cur, nxt = values[i - 1], values[i], values[i + 1]
        if cur < prev and cur < nxt:
            if prev - cur >= threshold or nxt - cur >= threshold:
                minima.append(i)
        elif cur < prev and cur == nxt and prev - cur >= threshold:
            minima.append(i)
    return minima


def score_sentences(text: str, sentences: Sequence[Span], scored: ScoredTokens) -> list[SentenceScore]:
    """Mean NLL of the tokens of each sentence; a token belongs to the sentence holding its last character.

    Tokens that fall between sentences (whitespace) count for none. A sentence without tokens (impossible with
    a real tokenizer) gets log-perplexity 0.
    """
    ends = [e for _, e in sentences]
    sums = [0.0] * len(sentences)
    counts = [0] * len(sentences)
    s = 0
    for (a, b), lp in zip(scored.offsets, scored.logprobs, strict=True):
        last = max(a, b - 1)
        while s < len(sentences) and last >= ends[s]:
            s += 1
        if s == len(sentences):
            break
        if last >= sentences[s][0]:
            sums[s] -= lp
            counts[s] += 1
    return [
        SentenceScore(st, en, n, total / n if n else 0.0)
        for (st, en), total, n in zip(sentences, sums, counts, strict=True)
    ]


def boundaries_after(scores: Sequence[SentenceScore], threshold: float) -> list[int]:
    """Sentence indices after which a chunk ends: the PPL minima, plus the last sentence."""
    cuts = find_minima([sc.log_ppl for sc in scores], threshold)
    return [*cuts, len(scores) - 1] if scores else []


class PerplexityChunker:
    """Meta-Chunking PPL chunking: boundaries after sentences at perplexity minima, merged to ``target_size``.

    ``scorer`` is any :class:`TokenScorer` (e.g. ``LocalLLM``). ``size_unit`` is what ``target_size`` counts:
    ``tokens`` (of the scorer's tokenizer, free since the text is scored anyway), ``words`` or ``chars``.
    ``target_size=None`` keeps the raw PPL pieces unmerged. A piece larger than the target stays whole.
    """

    def __init__(
        self,
        scorer: TokenScorer,
        target_size: int | None = 200,
        size_unit: SizeUnit = "tokens",
        threshold: float = 0.0,
    ) -> None:
        if not hasattr(scorer, "token_logprobs"):
            raise ConfigError(
                f"PerplexityChunker: scorer {type(scorer).__name__} has no token_logprobs(text) method; pass "
                "a ragloom.llm.LocalLLM or any object returning per-token log-probabilities and offsets"
            )
        if target_size is not None:
            check_positive("PerplexityChunker", target_size=target_size)
        if size_unit not in ("tokens", "words", "chars"):
            raise ConfigError(
                f"PerplexityChunker: size_unit must be tokens, words or chars, got {size_unit!r}"
            )
        if threshold < 0:
            raise ConfigError(f"PerplexityChunker: threshold must be >= 0, got {threshold}")
        self.scorer = scorer
        self.target_size = target_size
        self.size_unit = size_unit
        self.threshold = threshold

    def sentence_scores(self, text: str) -> list[SentenceScore]:
        """Each sentence of ``text`` with its perplexity given the text before it."""
        sentences = sentence_spans(text)
        if not sentences:
            return []
        return score_sentences(text, sentences, self.scorer.token_logprobs(text))

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        scores = self.sentence_scores(text)
        if not scores:
            return []
        pieces: list[tuple[int, int]] = []  # [first, last] sentence indices of each PPL piece
        first = 0
        for last in boundaries_after(scores, self.threshold):
            pieces.append((first, last))
            first = last + 1
        if self.target_size is not None:
            sizes = [self._size(text, scores[a : b + 1]) for a, b in pieces]
            runs = group_units(sizes, self.target_size)
            pieces = [(pieces[i][0], pieces[j - 1][1]) for i, j in runs]
        spans = [(scores[a].start, scores[b].end) for a, b in pieces]
        return make_chunks(text, doc_id, spans, chunker="perplexity")

    def _size(self, text: str, sentences: Sequence[SentenceScore]) -> int:
        if self.size_unit == "tokens":
            return sum(s.tokens for s in sentences)
        start, end = sentences[0].start, sentences[-1].end
        return count_words(text, start, end) if self.size_unit == "words" else end - start
