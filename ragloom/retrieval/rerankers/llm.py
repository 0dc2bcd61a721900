"""Pointwise LLM reranking behind the LLM protocol: ask the model about each (question, passage) pair.

Two prompt styles: ``"yesno"`` (does the passage help answer the question? yes = 1, no = 0; Nogueira et al.'s
monoT5 framing, arXiv:2003.06713) and ``"score"`` (a 0-10 relevance grade divided by 10, as in RankGPT-style
pointwise prompts). Ties keep the first-stage order. Token usage is reported by the LLM itself
(:func:`ragloom.core.usage.report_usage`), so a flow trace charges it to the reranking step.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import LLM
from ragloom.core.types import Hit, Message
from ragloom.retrieval.rerankers.scoring import order_by_scores

__all__ = ["MODES", "LLMReranker", "parse_relevance"]

_SYSTEM = "You are a search relevance judge. Answer only in the requested format."
_PROMPTS = {
    "yesno": (
        "Question: {query}\n\nPassage: {passage}\n\n"
        "Does the passage contain information that answers the question? Answer yes or no."
    ),
    "score": (
        "Question: {query}\n\nPassage: {passage}\n\n"
        "How relevant is the passage to the question, from 0 (irrelevant) to 10 (answers it fully)? "
        "Answer with one number."
    ),
}
MODES: tuple[str, ...] = tuple(_PROMPTS)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_relevance(text: str, mode: str) -> float:
    """A relevance in [0, 1] from the model's answer; an unreadable answer counts as 0 (not relevant)."""
    answer = text.strip().lower()
    if mode == "yesno":
        word = re.match(r"\W*(\w+)", answer)
        return 1.0 if word and word.group(1) in ("yes", "y", "true", "relevant") else 0.0
    match = _NUMBER.search(answer)
    if not match:
        return 0.0
    return min(max(float(match.group()) / 10.0, 0.0), 1.0)


class LLMReranker:
    """Reranker asking ``llm`` about each hit; ``mode`` is ``"yesno"`` or ``"score"``.

    ``max_chars`` truncates passages in the prompt; ``concurrency`` bounds parallel calls in :meth:`arerank`.
    """

    source = "llm"

    def __init__(
        self, llm: LLM, mode: str = "yesno", max_chars: int = 2000, max_tokens: int = 8, concurrency: int = 4
    ) -> None:
        if mode not in _PROMPTS:
            raise ConfigError(f"LLMReranker mode must be one of {', '.join(_PROMPTS)}, got {mode!r}")
        if max_chars <= 0 or concurrency <= 0:
            raise ConfigError("LLMReranker max_chars and concurrency must be > 0")
        self.llm = llm
        self.mode = mode
        self.max_chars = max_chars
        self.max_tokens = max_tokens
        self.concurrency = concurrency

    def messages(self, query: str, passage: str) -> list[Message]:
        """The prompt for one pair (public so it can be inspected and recorded)."""
        text = _PROMPTS[self.mode].format(query=query.strip(), passage=passage[: self.max_chars].strip())
        return [Message("system", _SYSTEM), Message("user", text)]

    def rerank(self, query: str, hits: Sequence[Hit], k: int | None = None) -> list[Hit]:
        """The best ``k`` of ``hits`` by the model's judgement (all when None), best first."""
        scores = [
            parse_relevance(
                self.llm.complete(
                    self.messages(query, h.text), max_tokens=self.max_tokens, temperature=0.0
                ).text,
                self.mode,
            )
            for h in hits
        ]
        return self._order(hits, scores, k)

    async def arerank(self, query: str, hits: Sequence[Hit], k: int | None = None) -> list[Hit]:
        """Async twin of :meth:`rerank`, with up to ``concurrency`` calls in flight."""
        gate = asyncio.Semaphore(self.concurrency)

        async def judge(hit: Hit) -> float:
            async with gate:
                done = await self.llm.acomplete(
                    self.messages(query, hit.text), max_tokens=self.max_tokens, temperature=0.0
                )
            return parse_relevance(done.text, self.mode)

        scores = await asyncio.gather(*(judge(h) for h in hits))
        return self._order(hits, list(scores), k)

    def _order(self, hits: Sequence[Hit], scores: list[float], k: int | None) -> list[Hit]:
        return [hits[i].with_score(scores[i], self.source) for i in order_by_scores(scores, k)]
