"""An :class:`~ragloom.core.protocols.Embedder` over any OpenAI-compatible ``/v1/embeddings`` server.

Text Embeddings Inference (TEI), vLLM, Ollama, llama.cpp's server, OpenAI and ``ragloom serve`` all answer the
same request, so one small client makes any of them the dense embedder of an index:
``Index.create(path, embedder=OpenAICompatibleEmbedder("bge-m3", "http://127.0.0.1:8080/v1"))``.
Rows come back L2-normalised (the protocol's contract; servers differ on whether they normalise).
Late chunking needs token vectors, which these APIs do not return: :meth:`embed_tokens` says so.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import numpy as np

from ragloom.core.errors import ConfigError, LLMHTTPError
from ragloom.llm.retry import RetryPolicy, is_retryable_status, parse_retry_after

__all__ = ["OpenAICompatibleEmbedder"]


class OpenAICompatibleEmbedder:
    """Embeddings from ``{base_url}/embeddings``; ``batch_size`` texts per request, retries on 429/5xx."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        batch_size: int = 64,
        dim: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not model or not base_url:
            raise ConfigError(
                "OpenAICompatibleEmbedder needs a model and a base_url like http://HOST:PORT/v1"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self._model = model
        self.url = base_url.rstrip("/") + "/embeddings"
        key = api_key or os.environ.get("RAGLOOM_EMBEDDINGS_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)
        self.batch_size = batch_size
        self._dim = dim
        self.retry = RetryPolicy(max_retries)
        self._sleep = sleep or time.sleep

    @property
    def model_name(self) -> str:
        return f"openai-compatible:{self._model}@{self.url}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.embed(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 rows, L2-normalised; ``()`` → ``(0, dim)``."""
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        rows = [
            self._batch(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)
        ]
        vectors = np.vstack(rows).astype(np.float32)
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def embed_tokens(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        raise ConfigError(
            f"late chunking needs token-level vectors, and {self.url} (an embeddings API) returns one vector "
            "per text: index with late_chunking=False, or use a local SentenceTransformerEmbedder"
        )

    def _batch(self, texts: list[str]) -> np.ndarray:
        body = {"model": self._model, "input": texts, "encoding_format": "float"}
        attempt = 0
        while True:
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TransportError as e:
                if attempt >= self.retry.max_retries:
                    raise LLMHTTPError(f"cannot reach the embeddings server {self.url}: {e}") from e
                self._sleep(self.retry.delay(attempt, rng=random.Random()))
                attempt += 1
                continue
            if response.status_code < 400:
                return _vectors(response.json(), len(texts), self.url)
            if not is_retryable_status(response.status_code) or attempt >= self.retry.max_retries:
                raise LLMHTTPError(
                    f"{self.url} answered {response.status_code}: {response.text[:300]}", response.status_code
                )
            self._sleep(self.retry.delay(attempt, parse_retry_after(response.headers.get("Retry-After"))))
            attempt += 1

    def close(self) -> None:
        self._client.close()


def _vectors(data: Any, expected: int, url: str) -> np.ndarray:
    """The ``data[*].embedding`` rows in ``index`` order; a wrong shape is an error naming the server."""
    try:
        items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
        rows = [item["embedding"] for item in items]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{url} did not answer in the OpenAI embeddings shape: {str(data)[:200]}") from e
    if len(rows) != expected:
        raise ConfigError(f"{url} returned {len(rows)} embeddings for {expected} inputs")
    if rows and isinstance(rows[0], str):
        raise ConfigError(f"{url} returned base64 embeddings although float was asked for")
    return np.asarray(rows, dtype=np.float32)
