"""Structure-aware chunking: chunks stay inside one section and (for PDFs) one page, fit the embedder's
window, and carry where they come from.

Why: a chunk that spans two sections or pages cannot be cited precisely, and a chunk longer than MiniLM's
256-token window is silently truncated by the embedder (its tail is never searchable densely). Pieces are
sentences (lines for tables and code, word windows for anything still too long) grouped greedily up to
``target_tokens``; a piece smaller than ``min_tokens`` (a lone heading, the end of a sentence that runs
onto the next page) merges with its neighbour when the two still fit, so it is not a useless chunk.

Token counts are estimated without a tokenizer (letter runs of up to 8, digit pairs, marks): on docs-a the
real MiniLM count is at most 1.36 times the estimate (median 1.0; ``benchmarks/doc_parsers.py`` measures
it), so ``max_tokens=188`` keeps every chunk inside the 256-token window without tokenizing twice.
Every chunk gets the metadata contract: ``source``, ``title``, ``format``, ``section`` (heading path joined
by " > "), and for PDFs ``page``/``page_end`` (1-based physical pages).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from ragloom.chunking.base import Span, check_positive, trim_span
from ragloom.chunking.sentence import sentence_spans
from ragloom.core.types import Chunk, Document
from ragloom.documents.base import LoadedDocument, loaded_from

__all__ = ["StructuredChunker", "estimate_tokens"]

#: one match ~ one WordPiece: CJK characters one each, letters in runs of <= 8, digits in pairs, each mark
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\W\d_]{1,8}|\d{1,2}|[^\w\s]|_")
_LINE = re.compile(r"[^\n]+")
_SPECIAL = 2  # [CLS] and [SEP]


def estimate_tokens(text: str, start: int = 0, end: int | None = None) -> int:
    """Estimated MiniLM WordPiece tokens of ``text[start:end]``."""
    return _SPECIAL + sum(1 for _ in _TOKEN.finditer(text, start, len(text) if end is None else end))


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    tokens: int  # estimated, without the two special tokens (counted once per chunk)
    region: int  # index of the (section, page) region it lies in


def _regions(doc: LoadedDocument, page_bound: bool) -> list[tuple[int, int]]:
    """Cut points of sections and (when ``page_bound``) pages, as consecutive ``[start, end)`` spans."""
    cuts = {0, len(doc.text)}
    for s in doc.sections:
        cuts.update((s.start, s.end))
    if page_bound:
        cuts.update(doc.page_starts)
    points = sorted(c for c in cuts if 0 <= c <= len(doc.text))
    return [(a, b) for a, b in itertools.pairwise(points) if b > a]


class StructuredChunker:
    """Section- (and page-) bounded chunks of about ``target_tokens`` estimated tokens, at most
    ``max_tokens``; pieces under ``min_tokens`` merge with a neighbour. ``page_bound=False`` lets PDF chunks
    run across pages (they still record ``page`` and ``page_end``)."""

    def __init__(
        self, target_tokens: int = 160, max_tokens: int = 188, min_tokens: int = 32, page_bound: bool = True
    ) -> None:
        check_positive("StructuredChunker", target_tokens=target_tokens, max_tokens=max_tokens)
        check_positive("StructuredChunker", min_tokens=min_tokens)
        self.target_tokens = target_tokens
        self.max_tokens = max(max_tokens, target_tokens)
        self.min_tokens = min_tokens
        self.page_bound = page_bound

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        """Chunks of a document without structure (one region)."""
        return self.split_document(Document(doc_id, text))

    def split_document(self, document: Document) -> list[Chunk]:
        """Chunks of ``document``, using the structure a loader put in its metadata."""
        doc = loaded_from(document)
        text = doc.text
        pieces = [
            p for r, span in enumerate(_regions(doc, self.page_bound)) for p in self._pieces(text, span, r)
        ]
        groups = self._merge_tiny(self._group(pieces))
        chunks = []
        for group in groups:
            s, e = trim_span(text, group[0].start, group[-1].end)
            if e > s:
                chunks.append(Chunk(text[s:e], document.id, s, e, self._metadata(doc, group, s, e)))
        return chunks

    def _pieces(self, text: str, span: Span, region: int) -> list[_Piece]:
        out: list[_Piece] = []
        for s, e in sentence_spans(text[span[0] : span[1]]):
            s, e = s + span[0], e + span[0]
            n = estimate_tokens(text, s, e) - _SPECIAL
            if n <= self.max_tokens - _SPECIAL:
                out.append(_Piece(s, e, n, region))
            else:
                out.extend(self._split_long(text, s, e, region))
        return out

    def _split_long(self, text: str, start: int, end: int, region: int) -> list[_Piece]:
        """A too-long sentence (a table, a code block, a run-on line) by lines, then by word windows."""
        out: list[_Piece] = []
        for m in _LINE.finditer(text, start, end):
            s, e = trim_span(text, m.start(), m.end())
            if e <= s:
                continue
            n = estimate_tokens(text, s, e) - _SPECIAL
            if n <= self.max_tokens - _SPECIAL:
                out.append(_Piece(s, e, n, region))
                continue
            out.extend(self._word_windows(text, s, e, region))
        return out

    def _word_windows(self, text: str, start: int, end: int, region: int) -> list[_Piece]:
        """Consecutive runs of whole words of at most ``target_tokens`` (a single huge word stands alone)."""
        out: list[_Piece] = []
        run_start, run_end, size = -1, -1, 0
        for m in re.finditer(r"\S+", text[start:end]):
            ws, we = start + m.start(), start + m.end()
            n = estimate_tokens(text, ws, we) - _SPECIAL
            if run_start >= 0 and size + n > self.target_tokens - _SPECIAL:
                out.append(_Piece(run_start, run_end, size, region))
                run_start, size = -1, 0
            run_start = ws if run_start < 0 else run_start
            run_end, size = we, size + n
        if run_start >= 0:
            out.append(_Piece(run_start, run_end, size, region))
        return out

    def _group(self, pieces: list[_Piece]) -> list[list[_Piece]]:
        groups: list[list[_Piece]] = []
        size = 0
        for p in pieces:
            fits = size + p.tokens <= self.target_tokens - _SPECIAL
            if groups and groups[-1][-1].region == p.region and fits:
                groups[-1].append(p)
                size += p.tokens
            else:
                groups.append([p])
                size = p.tokens
        return groups

    def _merge_tiny(self, groups: list[list[_Piece]]) -> list[list[_Piece]]:
        """Merge a group under ``min_tokens`` into a neighbour: one that opens its region (a lone heading, a
        page's first line) into the next group, one that closes it (a section's last words) into the
        previous group, when the result fits ``max_tokens``."""

        def size(g: list[_Piece]) -> int:
            return sum(p.tokens for p in g)

        out: list[list[_Piece]] = []
        carry: list[_Piece] = []
        for i, group in enumerate(groups):
            g = carry + group
            carry = []
            if size(g) >= self.min_tokens:
                out.append(g)
                continue
            opens = i == 0 or groups[i - 1][-1].region != group[0].region
            fits_back = bool(out) and size(out[-1]) + size(g) <= self.max_tokens - _SPECIAL
            if fits_back and not opens:
                out[-1] = out[-1] + g
            elif i + 1 < len(groups):
                carry = g
            elif fits_back:
                out[-1] = out[-1] + g
            else:
                out.append(g)
        return out

    def _metadata(self, doc: LoadedDocument, group: list[_Piece], start: int, end: int) -> dict[str, Any]:
        """The metadata contract; the section is that of the chunk's largest piece (a merged heading or
        page tail does not rename it)."""
        main = max(group, key=lambda p: p.tokens)
        section = doc.section_at(main.start)
        meta: dict[str, Any] = {
            "source": doc.source,
            "title": doc.title,
            "section": section.label if section is not None else "",
            "format": doc.format,
        }
        if doc.page_starts:
            meta["page"] = doc.page_at(start)
            meta["page_end"] = doc.page_at(end - 1)
        return meta
