"""Pre-flight estimate of an LLM-based graph build: calls, tokens and (when a price is set) dollars.

LLM extraction costs one call per chunk plus one per gleaning round, each re-sending the conversation so
far. The estimate is an upper bound on calls (gleaning may stop early) and counts prompt tokens with the
given token counter (or ~4 characters per token); completion tokens assume half of ``max_tokens`` per call.
Only documents that are new or changed are counted, as only they will be extracted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Document
from ragloom.retrieval.graph.graph_index import GraphIndex
from ragloom.retrieval.graph.llm_extract import GLEAN_PROMPT, LLMTripleExtractor

__all__ = ["BuildEstimate", "estimate_llm_build"]


@dataclass(frozen=True)
class BuildEstimate:
    """Upper-bound calls, estimated tokens and cost of extracting ``documents`` (``chunks`` of them)."""

    model: str
    documents: int
    chunks: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    def summary(self) -> str:
        cost = f", about ${self.cost_usd:.4f}" if self.cost_usd > 0 else " (no price set for this model)"
        return (
            f"LLM extraction with {self.model}: {self.documents} documents, {self.chunks} chunks, "
            f"up to {self.calls} calls, ~{self.prompt_tokens:,} prompt + ~{self.completion_tokens:,} "
            f"completion tokens{cost}"
        )


def _count(counter: TokenCounter | None, text: str) -> int:
    return counter.count_tokens(text) if counter is not None else len(text) // 4 + 1


def estimate_llm_build(
    index: GraphIndex,
    documents: Sequence[Document],
    extractor: LLMTripleExtractor,
    counter: TokenCounter | None = None,
) -> BuildEstimate:
    """Estimate the LLM work ``index.update(documents)`` would do with ``extractor`` (module docstring)."""
    from ragloom.llm.pricing import cost_usd

    pending = index.pending(documents)
    chunks = [c for d in pending for c in index.chunks_of(d)]
    rounds = 1 + extractor.gleanings
    reply = extractor.max_tokens // 2
    glean = _count(counter, GLEAN_PROMPT)
    prompt = 0
    for chunk in chunks:
        first = sum(_count(counter, m.content) for m in extractor.messages(chunk.text))
        # round r re-sends the first prompt plus r earlier replies and gleaning prompts
        prompt += sum(first + r * (reply + glean) for r in range(rounds))
    completion = len(chunks) * rounds * reply
    return BuildEstimate(
        model=extractor.model,
        documents=len(pending),
        chunks=len(chunks),
        calls=len(chunks) * rounds,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost_usd(extractor.model, prompt, completion),
    )
