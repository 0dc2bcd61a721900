"""Fake collaborators for selector tests: a whitespace token counter and a bag-of-words hashing embedder."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from ragloom.core.types import Chunk, Hit


class FakeWhitespaceTokenCounter:
    """Counts whitespace-separated words: predictable budgets in tests."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class FakeHashEmbedder:
    """Bag of words hashed into 64 dimensions, L2-normalised: equal texts embed equally."""

    dim = 64
    model_name = "fake-hash"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        raise NotImplementedError


def make_hits(texts: Sequence[str], scores: Sequence[float] | None = None) -> list[Hit]:
    scores = scores if scores is not None else [1.0 - 0.01 * i for i in range(len(texts))]
    return [
        Hit(Chunk(t, f"d{i}", 0, len(t)), float(s))
        for i, (t, s) in enumerate(zip(texts, scores, strict=True))
    ]
