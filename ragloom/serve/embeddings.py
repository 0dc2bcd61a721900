"""``POST /v1/embeddings`` in OpenAI's shape, served by the index's embedder (so a client embeds queries
exactly as the index embedded its chunks): ``input`` a string or a list of strings, ``encoding_format``
``float`` or ``base64`` (little-endian float32, as OpenAI sends it), and usage in tokens."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from ragloom.serve.body import json_type, optional_int, optional_str
from ragloom.serve.errors import ApiError, bad_request

MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000


def _inputs(body: dict[str, Any]) -> list[str]:
    value = body.get("input")
    if value is None:
        raise bad_request("`input` is required: a string or a list of strings", "input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise bad_request(
            f"`input` must be a string or a non-empty list of strings, got {json_type(value)}", "input"
        )
    if len(texts) > MAX_INPUTS:
        raise bad_request(f"`input` holds {len(texts)} items, over the limit of {MAX_INPUTS}", "input")
    for i, text in enumerate(texts):
        param = "input" if isinstance(value, str) else f"input[{i}]"
        if not isinstance(text, str):
            raise bad_request(
                f"`{param}` must be a string (token ids are not accepted), got {json_type(text)}", param
            )
        if not text:
            raise bad_request(f"`{param}` is empty", param)
        if len(text) > MAX_INPUT_CHARS:
            raise bad_request(f"`{param}` has {len(text)} characters, over {MAX_INPUT_CHARS}", param)
    return texts


def _tokens(embedder: Any, texts: list[str]) -> int:
    """Prompt tokens in the embedder's tokenizer when it has one, else whitespace words."""
    count = getattr(embedder, "count_tokens", None)
    if callable(count):
        return sum(int(count(t)) for t in texts)
    return sum(len(t.split()) for t in texts)


def _encode(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


async def embeddings_response(
    body: dict[str, Any], embedder: Any, run: Callable[..., Awaitable[Any]]
) -> dict[str, Any]:
    """Check ``body``, embed in a worker (``run``), answer as OpenAI does."""
    name = str(embedder.model_name)
    model = optional_str(body, "model")
    if model is not None and model != name:
        raise ApiError(
            404,
            f"model {model[:100]!r} is not an embedding model served here; use {name!r}",
            "model",
            "model_not_found",
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise bad_request("`encoding_format` must be 'float' or 'base64'", "encoding_format")
    dimensions = optional_int(body, "dimensions", 1)
    if dimensions is not None and dimensions != embedder.dim:
        raise bad_request(
            f"`dimensions` must be {embedder.dim} (the embedder's size), got {dimensions}", "dimensions"
        )
    texts = _inputs(body)
    vectors = await run(embedder.embed, texts)
    tokens = await run(_tokens, embedder, texts)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(np.asarray(v), encoding)}
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
