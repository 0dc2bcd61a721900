"""The small structural protocols every component satisfies (ARCHITECTURE.md).

A component is a plain class with the right method; no base class is needed. Each protocol has a
conformance test in ``tests/`` that every implementation runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ragloom.core.types import Chunk, Completion, Hit, Message


@runtime_checkable
class Chunker(Protocol):
    def split(self, text: str, doc_id: str) -> list[Chunk]:
        """Split ``text`` into chunks in document order with ``text[c.start:c.end] == c.text``.

        Empty or whitespace-only text gives ``[]``.
        """
        ...


@runtime_checkable
class Embedder(Protocol):
    @property
    def dim(self) -> int: ...

    @property
    def model_name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dim), L2-normalised float32 rows; () input → (0, dim)."""
        ...

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Token-level vectors for late chunking: (n_tokens, dim) and each token's character span in ``text``.

        Special tokens are excluded; texts longer than the model window are embedded in overlapping windows.
        """
        ...


@runtime_checkable
class VectorStore(Protocol):
    def add(self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[dict[str, Any]]) -> None:
        """Insert or overwrite vectors by id."""
        ...

    def query(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (id, cosine similarity) pairs, best first."""
        ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def __len__(self) -> int: ...


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """At most ``k`` hits, sorted by descending score. An empty index gives ``[]``.

        ``where`` (optional, :mod:`ragloom.retrieval.filters`) keeps only chunks whose metadata matches,
        applied before the top ``k`` is taken: k hits come back whenever k matching chunks would qualify.
        """
        ...


@runtime_checkable
class Reranker(Protocol):
    def rerank(self, query: str, hits: Sequence[Hit], k: int | None = None) -> list[Hit]:
        """Re-score ``hits`` and return the best ``k`` (all when None), sorted by descending new score."""
        ...


@runtime_checkable
class Selector(Protocol):
    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        """A subset of ``hits`` whose total token count never exceeds ``budget_tokens``."""
        ...


@runtime_checkable
class LLM(Protocol):
    @property
    def model(self) -> str: ...

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        """One chat completion. Options: max_tokens, temperature, stop, tools, response_format, …"""
        ...

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion: ...

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        """Yield text deltas; the usage of the call is reported when the iterator ends."""
        ...

    def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]: ...


@runtime_checkable
class TokenCounter(Protocol):
    def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` in the tokenizer that budgets are counted in."""
        ...
