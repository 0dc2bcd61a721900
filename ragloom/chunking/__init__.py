"""Chunking: split documents into spans (``source[start:end] == chunk.text``) and embed them late.

One chunker per module (token, sentence, recursive, semantic, window/paragraph; perplexity lives in its own
module), shared span helpers in ``base``, late chunking in ``late``. Imports are lazy so that
``import ragloom.chunking`` stays cheap (no torch).
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS = {
    "TokenChunker": "ragloom.chunking.token",
    "SentenceChunker": "ragloom.chunking.sentence",
    "RecursiveChunker": "ragloom.chunking.recursive",
    "SemanticChunker": "ragloom.chunking.semantic",
    "WindowChunker": "ragloom.chunking.window",
    "ParagraphChunker": "ragloom.chunking.window",
    "LateChunkingEmbedder": "ragloom.chunking.late",
    "late_chunk_embed": "ragloom.chunking.late",
    "late_chunk_embed_long": "ragloom.chunking.late",
    "sentence_spans": "ragloom.chunking.sentence",
    "PerplexityChunker": "ragloom.chunking.perplexity",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
