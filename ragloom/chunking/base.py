"""Shared pieces of every chunker: spans, trimming, grouping and word counting.

Chunkers work on character spans ``(start, end)`` into the source and only build :class:`Chunk` objects at the
end, so ``text[c.start:c.end] == c.text`` holds by construction (``make_chunks`` slices the source itself).
The Chunker protocol lives in ``ragloom.core.protocols``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

Span = tuple[int, int]

_WORD = re.compile(r"\S+")


def word_spans(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Spans of whitespace-separated words in ``text[start:end]`` (absolute offsets)."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text, start, len(text) if end is None else end)]


def count_words(text: str, start: int = 0, end: int | None = None) -> int:
    return sum(1 for _ in _WORD.finditer(text, start, len(text) if end is None else end))


def trim_span(text: str, start: int, end: int) -> Span:
    """Shrink ``[start, end)`` past leading/trailing whitespace (unicode-aware, so CRLF and NBSP go too)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def make_chunks(text: str, doc_id: str, spans: Iterable[Span], **metadata: Any) -> list[Chunk]:
    """Chunks for the non-empty trimmed ``spans``, sliced from ``text`` (so the span invariant holds)."""
    chunks: list[Chunk] = []
    for s, e in spans:
        s, e = trim_span(text, s, e)
        if e > s:
            chunks.append(Chunk(text=text[s:e], doc_id=doc_id, start=s, end=e, metadata=dict(metadata)))
    return chunks


def group_units(sizes: Sequence[int], target: int, overlap: int = 0) -> list[tuple[int, int]]:
    """Group consecutive units into runs ``[i, j)`` of total size about ``target`` (pure, greedy).

    A run closes before the unit that would push it past ``target``; a unit larger than ``target`` forms its
    own run. The next run re-uses the last ``overlap`` units of the previous one (never all of them, so the
    runs always advance). Every unit lands in at least one run.
    """
    if target <= 0:
        raise ConfigError(f"chunk target size must be > 0, got {target}")
    if overlap < 0:
        raise ConfigError(f"overlap must be >= 0, got {overlap}")
    runs: list[tuple[int, int]] = []
    i, n = 0, len(sizes)
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + sizes[j] <= target):
            total += sizes[j]
            j += 1
        runs.append((i, j))
        if j >= n:
            break
        i = max(i + 1, j - overlap)
    return runs


def check_positive(owner: str, **values: int) -> None:
    """Raise a ConfigError naming ``owner`` and the parameter when a value is not a positive int."""
    for name, value in values.items():
        if not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{owner}: {name} must be a positive integer, got {value!r}")


def check_overlap(owner: str, size: int, overlap: int) -> None:
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ConfigError(f"{owner}: overlap must be an integer in [0, {size}), got {overlap!r}")
