"""Chunkers as flow nodes: ``chunking.token``, ``.sentence``, ``.recursive``, ``.semantic``, ``.window``,
``.paragraph``.

Each factory takes the chunker's parameters plus the state key names (``input_key`` for the text,
``doc_id_key`` for the document id, ``output_key`` for the chunks) and returns a node ``state -> {chunks}``.
The state may be a pydantic model, a dataclass or a dict. A missing doc id defaults to ``"doc"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragloom.core.protocols import Chunker
from ragloom.core.registry import register
from ragloom.core.state_access import read_key, read_str
from ragloom.core.types import Chunk

Node = Callable[[Any], dict[str, list[Chunk]]]


def chunker_node(
    chunker: Chunker, input_key: str = "text", doc_id_key: str = "doc_id", output_key: str = "chunks"
) -> Node:
    """A flow node that splits ``state[input_key]`` with ``chunker`` into ``state[output_key]``."""

    def chunk(state: Any) -> dict[str, list[Chunk]]:
        text = read_str(state, input_key, "chunking", "the text")
        doc_id = read_key(state, doc_id_key, "chunking", None) or "doc"
        return {output_key: chunker.split(text, str(doc_id))}

    chunk.__name__ = f"chunk_{type(chunker).__name__}"
    return chunk


@register("chunking.token")
def token_node(size: int = 256, overlap: int = 32, model_path: str | None = None, **keys: str) -> Node:
    """Fixed-size chunks in the embedder's tokenizer tokens, with overlap."""
    from ragloom.chunking.token import TokenChunker

    return chunker_node(TokenChunker(size, overlap, model_path), **keys)


@register("chunking.sentence")
def sentence_node(target_words: int = 120, overlap: int = 0, **keys: str) -> Node:
    """Whole sentences grouped to about target_words words."""
    from ragloom.chunking.sentence import SentenceChunker

    return chunker_node(SentenceChunker(target_words, overlap), **keys)


@register("chunking.recursive")
def recursive_node(chunk_size: int = 1000, separators: list[str] | None = None, **keys: str) -> Node:
    """Recursive splitting down the separator hierarchy (blank line, line, sentence, word)."""
    from ragloom.chunking.recursive import DEFAULT_SEPARATORS, RecursiveChunker

    return chunker_node(RecursiveChunker(chunk_size, separators or DEFAULT_SEPARATORS), **keys)


@register("chunking.semantic")
def semantic_node(percentile: float = 90.0, buffer: int = 1, max_words: int = 300, **keys: str) -> Node:
    """Sentence groups cut where adjacent-sentence embedding similarity drops (shared embedder)."""
    from ragloom.chunking.semantic import SemanticChunker

    return chunker_node(SemanticChunker(None, percentile, buffer, max_words), **keys)


@register("chunking.window")
def window_node(words: int = 200, stride: int | None = None, **keys: str) -> Node:
    """Windows of N words with a stride (default: no overlap)."""
    from ragloom.chunking.window import WindowChunker

    return chunker_node(WindowChunker(words, stride), **keys)


@register("chunking.paragraph")
def paragraph_node(max_words: int | None = None, **keys: str) -> Node:
    """One chunk per blank-line separated paragraph (long ones split into word windows)."""
    from ragloom.chunking.window import ParagraphChunker

    return chunker_node(ParagraphChunker(max_words), **keys)


@register("chunking.perplexity")
def perplexity(
    target_size: int = 200,
    size_unit: str = "tokens",
    threshold: float = 0.0,
    input_key: str = "text",
    doc_id_key: str = "doc_id",
    output_key: str = "chunks",
) -> Node:
    """Meta-Chunking: cut at minima of sentence perplexity under the local LLM, merged to a target size."""
    from ragloom.chunking.perplexity import PerplexityChunker
    from ragloom.llm.local import default_llm

    chunker = PerplexityChunker(default_llm(), target_size, size_unit, threshold)  # type: ignore[arg-type]
    return chunker_node(chunker, input_key, doc_id_key, output_key)
