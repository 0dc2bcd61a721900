"""Chunkers by name for indexing (``ragloom index --chunker NAME``), plus the whole-document chunker.

Names map to the chunking room's classes; the default ``document`` keeps each document as one chunk, which is
right for passage corpora such as BEIR (their documents already are passages).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Chunker
from ragloom.core.types import Chunk, Document

__all__ = ["CHUNKERS", "WholeDocumentChunker", "chunk_document", "index_chunks", "make_chunker"]

#: name -> (module, class) of the chunking room (imported lazily: some load a tokenizer or a model)
CHUNKERS: dict[str, tuple[str, str]] = {
    "document": ("ragloom.retrieval.chunkers", "WholeDocumentChunker"),
    "token": ("ragloom.chunking.token", "TokenChunker"),
    "sentence": ("ragloom.chunking.sentence", "SentenceChunker"),
    "recursive": ("ragloom.chunking.recursive", "RecursiveChunker"),
    "semantic": ("ragloom.chunking.semantic", "SemanticChunker"),
    "window": ("ragloom.chunking.window", "WindowChunker"),
    "paragraph": ("ragloom.chunking.window", "ParagraphChunker"),
    "structured": ("ragloom.documents.chunker", "StructuredChunker"),
}


#: Documents longer than this (characters) draw a warning from the whole-document chunker.
LONG_DOCUMENT_WARNING_CHARS = 1_000_000


class WholeDocumentChunker:
    """One chunk per document (the whole text); whitespace-only text gives no chunk.

    A document over :data:`LONG_DOCUMENT_WARNING_CHARS` characters draws a warning: indexing it stays cheap
    (the embedder reads only the text's head), but its one vector stands for its opening words only, so
    dense retrieval cannot find anything deeper in it; a real chunker should split it.
    """

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        if len(text) > LONG_DOCUMENT_WARNING_CHARS:
            warnings.warn(
                f"document {doc_id!r} has {len(text):,} characters and the `document` chunker keeps it as "
                "one chunk, whose vector only reflects its opening words; split it with --chunker sentence "
                "(or recursive, window, token)",
                UserWarning,
                stacklevel=2,
            )
        return [Chunk(text, doc_id, 0, len(text))] if text.strip() else []


def make_chunker(name: str, params: dict[str, Any] | None = None) -> Chunker:
    """The chunker registered as ``name`` built with ``params``; unknown names list the valid ones."""
    try:
        module, cls = CHUNKERS[name]
    except KeyError:
        raise ConfigError(f"unknown chunker {name!r}; choose one of {', '.join(CHUNKERS)}") from None
    factory = getattr(importlib.import_module(module), cls)
    try:
        chunker: Chunker = factory(**(params or {}))
    except TypeError as e:
        raise ConfigError(f"chunker {name!r} rejected its parameters {sorted(params or {})}: {e}") from e
    return chunker


def chunk_document(chunker: Chunker, document: Document) -> list[Chunk]:
    """Chunks of ``document``: through ``split_document`` when the chunker reads structure (sections, pages
    in the metadata a loader wrote), else ``split(text, id)``."""
    split_document = getattr(chunker, "split_document", None)
    if callable(split_document):
        chunks: list[Chunk] = split_document(document)
        return chunks
    return chunker.split(document.text, document.id)


def index_chunks(chunker: Chunker, document: Document) -> list[Chunk]:
    """The chunks an index stores for ``document``: :func:`chunk_document`'s, each carrying the document's
    scalar metadata under its own (so a filter on ``source`` or ``title`` sees every chunk). Every entry
    point that chunks for retrieval goes through here, so one folder gives the same chunks wherever it is
    indexed."""
    meta = {k: v for k, v in document.metadata.items() if isinstance(v, str | int | float | bool)}
    chunks = chunk_document(chunker, document)
    return [Chunk(c.text, c.doc_id, c.start, c.end, {**meta, **c.metadata}) for c in chunks]
