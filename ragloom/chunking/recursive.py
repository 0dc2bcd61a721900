"""Recursive splitting down a separator hierarchy (paragraphs, lines, sentences, words, characters).

The idea of LangChain's RecursiveCharacterTextSplitter, on spans: split a region at the coarsest separator
present, recurse into the pieces that are still too long with the next separator, then merge neighbouring
small pieces back up to ``chunk_size`` characters. Separators stay attached to the piece they end, so
the pieces tile the text and every chunk is a true slice of the source. A ``\\n`` in a separator also
matches ``\\r\\n`` (so CRLF text splits the same way as LF text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ragloom.chunking.base import Span, check_positive, group_units, make_chunks
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", ". ", " ")


def _pattern(separator: str) -> re.Pattern[str]:
    return re.compile("".join(r"\r?\n" if ch == "\n" else re.escape(ch) for ch in separator))


def _cut(text: str, start: int, end: int, pattern: re.Pattern[str]) -> list[Span]:
    """Pieces of ``[start, end)`` ending just after each separator match (they tile the region)."""
    pieces: list[Span] = []
    pos = start
    for m in pattern.finditer(text, start, end):
        if m.end() > pos and m.end() < end:
            pieces.append((pos, m.end()))
            pos = m.end()
    pieces.append((pos, end))
    return pieces


def recursive_spans(
    text: str, start: int, end: int, size: int, patterns: Sequence[re.Pattern[str]]
) -> list[Span]:
    """Spans tiling ``[start, end)``, each at most ``size`` characters (pure)."""
    if end - start <= size:
        return [(start, end)]
    if not patterns:
        return [(i, min(i + size, end)) for i in range(start, end, size)]
    pieces = _cut(text, start, end, patterns[0])
    if len(pieces) == 1:
        return recursive_spans(text, start, end, size, patterns[1:])
    fitted: list[Span] = []
    for s, e in pieces:
        fitted.extend(recursive_spans(text, s, e, size, patterns[1:]) if e - s > size else [(s, e)])
    runs = group_units([e - s for s, e in fitted], size)
    return [(fitted[i][0], fitted[j - 1][1]) for i, j in runs]


class RecursiveChunker:
    """Chunks of at most ``chunk_size`` characters, cut at the coarsest separator that makes them fit."""

    def __init__(self, chunk_size: int = 1000, separators: Sequence[str] = DEFAULT_SEPARATORS) -> None:
        check_positive("RecursiveChunker", chunk_size=chunk_size)
        if isinstance(separators, str) or any(not isinstance(s, str) or not s for s in separators):
            raise ConfigError(
                f"RecursiveChunker: separators must be a list of non-empty strings, got {separators!r}"
            )
        self.chunk_size = chunk_size
        self.separators = tuple(separators)
        self._patterns = [_pattern(s) for s in self.separators]

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        spans = recursive_spans(text, 0, len(text), self.chunk_size, self._patterns)
        return make_chunks(text, doc_id, spans, chunker="recursive")
