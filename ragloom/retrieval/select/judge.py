"""An LLM judge as CORAG's reward: the model rates how well a whole context answers the question.

The heuristic utility of :mod:`.corag` is cheap enough for hundreds of sets per query; a judge is far more
expensive (one LLM call per set), so use it with few MCTS iterations. Ratings are parsed leniently (the first
integer 0-10 in the reply) because small local models rarely answer with the number alone; an unparsable reply
scores 0 rather than failing the whole selection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragloom.core.protocols import LLM
from ragloom.core.types import Hit, Message

__all__ = ["LLMJudge", "parse_rating"]

_NUMBER = re.compile(r"\b(10|[0-9])\b")
PROMPT = (
    "Question: {question}\n\nContext:\n{context}\n\n"
    "On a scale of 0 to 10, how well does the context contain what is needed to answer the question, "
    "with no repetition or irrelevant text? Reply with one number."
)


def parse_rating(text: str) -> float:
    """The first integer 0..10 of ``text`` scaled to [0, 1]; 0.0 when there is none."""
    match = _NUMBER.search(text)
    return int(match.group(1)) / 10.0 if match else 0.0


class LLMJudge:
    """A batched set reward for :class:`~ragloom.retrieval.select.corag.CoragSelector` (``judge=``)."""

    def __init__(self, llm: LLM, max_tokens: int = 4) -> None:
        self.llm = llm
        self.max_tokens = max_tokens

    def __call__(self, question: str, contexts: Sequence[Sequence[Hit]]) -> list[float]:
        scores = []
        for hits in contexts:
            context = "\n\n".join(f"[{i + 1}] {h.text}" for i, h in enumerate(hits))
            prompt = PROMPT.format(question=question, context=context)
            reply = self.llm.complete([Message("user", prompt)], max_tokens=self.max_tokens, temperature=0.0)
            scores.append(parse_rating(reply.text))
        return scores
