"""A spy around the real embedder (the code calling it is under test), shared by the retrieval and chunking
tests: importable from every test folder as ``embedder_spy`` (pytest puts ``tests/`` on the path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class CountingEmbedder:
    """Wraps the real embedder and records the texts it is asked to embed (``texts``) and to run through the
    token-level pass (``token_texts``, one entry per ``embed_tokens`` call); the caller is under test."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.token_texts: list[str] = []

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.embed(texts)

    def embed_tokens(self, text: str) -> Any:
        self.token_texts.append(text)
        return self.inner.embed_tokens(text)
