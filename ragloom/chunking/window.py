"""Word windows and paragraphs: the two chunkings the squad-articles-a anchors are measured with.

``WindowChunker`` takes ``words`` whitespace-separated words every ``stride`` words (stride == words: no
overlap); ``ParagraphChunker`` cuts at blank lines (``\\n\\n``, ``\\r\\n\\r\\n``, lines of only spaces) and
optionally splits very long paragraphs into word windows.
"""

from __future__ import annotations

import re

from ragloom.chunking.base import Span, check_positive, make_chunks, word_spans
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n\s*")


def window_spans(words: list[Span], size: int, stride: int) -> list[Span]:
    """Spans of ``size``-word windows every ``stride`` words; the last window ends at the last word."""
    spans: list[Span] = []
    for i in range(0, len(words), stride):
        j = min(i + size, len(words))
        spans.append((words[i][0], words[j - 1][1]))
        if j == len(words):
            break
    return spans


class WindowChunker:
    """``words``-word windows with a ``stride`` (default: no overlap)."""

    def __init__(self, words: int = 200, stride: int | None = None) -> None:
        stride = words if stride is None else stride
        check_positive("WindowChunker", words=words, stride=stride)
        if stride > words:
            raise ConfigError(f"WindowChunker: stride ({stride}) must be <= words ({words}): no word skipped")
        self.words = words
        self.stride = stride

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        spans = window_spans(word_spans(text), self.words, self.stride)
        return make_chunks(text, doc_id, spans, chunker="window")


def paragraph_spans(text: str) -> list[Span]:
    """Spans between blank lines (untrimmed; ``make_chunks`` trims and drops empty ones)."""
    spans: list[Span] = []
    start = 0
    for m in _BLANK_LINE.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


class ParagraphChunker:
    """One chunk per paragraph (blank-line separated); paragraphs over ``max_words`` become word windows."""

    def __init__(self, max_words: int | None = None) -> None:
        if max_words is not None:
            check_positive("ParagraphChunker", max_words=max_words)
        self.max_words = max_words

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        spans: list[Span] = []
        for s, e in paragraph_spans(text):
            words = word_spans(text, s, e)
            if self.max_words is not None and len(words) > self.max_words:
                spans.extend(window_spans(words, self.max_words, self.max_words))
            else:
                spans.append((s, e))
        return make_chunks(text, doc_id, spans, chunker="paragraph")
