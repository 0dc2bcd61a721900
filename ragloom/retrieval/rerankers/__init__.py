"""Rerankers: each satisfies ``Reranker.rerank(query, hits, k) -> list[Hit]`` (best first, at most k).

- :class:`MaxSimReranker` late interaction over the embedder's token vectors
- :class:`CollaborativeReranker` HybRank-style: candidates' lexical + semantic similarities to each other
- :class:`LLMReranker` pointwise yes/no or 0-10 judgements by any LLM
- :class:`CrossEncoderReranker` a sentence-transformers cross-encoder from a local folder
"""

from __future__ import annotations

from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker
from ragloom.retrieval.rerankers.cross_encoder import CrossEncoderReranker
from ragloom.retrieval.rerankers.llm import LLMReranker
from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

__all__ = ["CollaborativeReranker", "CrossEncoderReranker", "LLMReranker", "MaxSimReranker"]
