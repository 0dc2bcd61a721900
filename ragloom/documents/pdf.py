"""PDF loader (pypdfium2, chosen by ``benchmarks/doc_parsers.py``: fastest of the Apache/BSD/MIT candidates
and every gold answer of docs-a on its page).

The text is the pages in physical order joined by a blank line, with ``page_starts`` recording where each
physical page (1-based, not the printed label) starts. Per page: PDFium's marker for a word hyphenated at a
line end (U+FFFE) is removed so the word is whole again, and lines repeated at the top or bottom of at least
three pages (running heads such as ``Chapter 7: Reading data from files 35``, page numbers) are left out:
they carry no content and would make every chunk of a chapter look alike. Sections come from the PDF's
outline (bookmarks), located on their target page.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from ragloom.core.errors import DocumentError
from ragloom.documents.base import LoadedDocument, Section

__all__ = ["PdfLoader", "strip_running_lines"]

_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"\b[ivxlcdm]+\b", re.IGNORECASE)
_EDGE = 2  # lines looked at, at the top and at the bottom of each page
_REPEATS = 3  # pages a line must repeat on to count as a running head/foot
_SPACE = re.compile(r"\s+")


def _shape(line: str) -> str:
    """A line with its numbers blanked: running heads differ only by page number."""
    return _ROMAN.sub("#", _DIGITS.sub("#", line.strip())).lower()


def _is_page_number(line: str) -> bool:
    return bool(line.strip()) and _shape(line).replace(" ", "") in ("#", "-#-", "page#", "#/#")


def _edge_number(line: str) -> int | None:
    """The integer a line starts or ends with (a printed page label), if any."""
    m = re.match(r"\s*(\d+)\b", line) or re.search(r"\b(\d+)\s*$", line)
    return int(m.group(1)) if m else None


def _label_offset(pages: list[list[str]]) -> int | None:
    """The most common ``physical page - printed number`` over edge lines, when >= 3 pages agree: then an
    edge line carrying its page's printed number is a running head even in a one-page chapter."""
    deltas: Counter[int] = Counter()
    for i, lines in enumerate(pages):
        edge = {*lines[:_EDGE], *lines[-_EDGE:]}
        found = {i + 1 - n for x in edge if (n := _edge_number(x)) is not None}
        deltas.update(found)
    if not deltas:
        return None
    delta, count = deltas.most_common(1)[0]
    return delta if count >= _REPEATS else None


def _running(line: str, page: int, delta: int | None, counts: Counter[str]) -> bool:
    labelled = delta is not None and _edge_number(line) == page - delta
    return counts[_shape(line)] >= _REPEATS or _is_page_number(line) or labelled


def strip_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """``pages`` (lists of lines) without running heads and feet, looked for only in the first and last
    ``_EDGE`` lines of each page: lines repeated (numbers aside) on >= 3 pages, bare page numbers, and lines
    carrying the page's printed number where the document numbers its pages consistently."""
    heads = Counter(_shape(x) for lines in pages for x in set(lines[:_EDGE]) if x.strip())
    feet = Counter(_shape(x) for lines in pages for x in set(lines[-_EDGE:]) if x.strip())
    delta = _label_offset(pages)
    out = []
    for page, lines in enumerate(pages, start=1):
        n = len(lines)
        drop = {
            i
            for i, x in enumerate(lines)
            if x.strip()
            and (
                (i < _EDGE and _running(x, page, delta, heads))
                or (i >= n - _EDGE and _running(x, page, delta, feet))
            )
        }
        out.append([x for i, x in enumerate(lines) if i not in drop])
    return out


def _page_lines(raw: str) -> list[str]:
    """PDFium page text as lines: CRLF to LF, hyphenation markers (U+FFFE, soft hyphens) joined away."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub("[\ufffe\u00ad]\n?", "", text)
    text = text.replace("\x00", "").replace("\ufeff", "")
    return text.split("\n")


def _open(data: bytes, where: str) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise DocumentError("the PDF is encrypted (a password is required)", "encrypted", where) from e
        raise DocumentError(f"not a readable PDF ({e})", "corrupt", where) from e


def _outline(pdf: Any) -> list[tuple[int, str, int]]:
    """``(level, title, page index)`` of the PDF's bookmarks that point at a page."""
    items = []
    try:
        for b in pdf.get_toc(max_depth=6):
            dest = b.get_dest()
            index = dest.get_index() if dest is not None else None
            title = _SPACE.sub(" ", b.get_title() or "").strip()
            if index is not None and title:
                items.append((int(b.level), title, int(index)))
    except Exception:  # a damaged outline is not a damaged document: fall back to no sections
        return []
    return items


def _sections(text: str, page_starts: list[int], outline: list[tuple[int, str, int]]) -> tuple[Section, ...]:
    """Sections from bookmarks: each starts at its title on its page (or the page start) and runs to the next.

    When the title is found, the whole line holding it becomes the label (so ``5.1 Arrays``, with the number
    the outline leaves out).
    """
    marks: list[tuple[int, int, str]] = []
    for level, title, index in outline:
        if index >= len(page_starts):
            continue
        lo = page_starts[index]
        hi = page_starts[index + 1] if index + 1 < len(page_starts) else len(text)
        found = re.compile(rf"(?m)^[\w.]{{0,10}}\s*{re.escape(title)}\s*$").search(text, lo, hi)
        at = found.start() if found else text.find(title, lo, hi)
        label = title
        if at >= 0:
            line_start = text.rfind("\n", lo, at) + 1
            line_end = text.find("\n", at, hi)
            line = text[max(line_start, lo) : line_end if line_end >= 0 else hi].strip()
            label = line if len(line) <= len(title) + 12 else title
            at = max(line_start, lo)
        marks.append((at if at >= 0 else lo, level, label))
    marks.sort(key=lambda m: m[0])
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for i, (start, level, label) in enumerate(marks):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, label))
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        if end > start:
            sections.append(Section(start, end, tuple(t for _, t in stack)))
    return tuple(sections)


class PdfLoader:
    """Loads PDFs (sniffed by their ``%PDF-`` header, whatever the file is named)."""

    format = "pdf"

    def load(self, path: Path) -> LoadedDocument:
        data = path.read_bytes()
        if not data:
            raise DocumentError("the file is empty", "empty", path.name)
        pdf = _open(data, path.name)
        try:
            raw = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
            outline = _outline(pdf)
            meta_title = (pdf.get_metadata_dict().get("Title") or "").strip()
        except Exception as e:  # PDFium raises plain errors on damaged page trees
            raise DocumentError(f"a page could not be read ({e})", "corrupt", path.name) from e
        finally:
            pdf.close()
        pages = ["\n".join(lines).strip() for lines in strip_running_lines([_page_lines(r) for r in raw])]
        if not any(p.strip() for p in pages):
            raise DocumentError(
                f"no text in {len(raw)} page(s) (a scanned PDF needs OCR first)", "empty", path.name
            )
        starts, parts, length = [], [], 0
        for i, page in enumerate(pages):
            if i:
                parts.append("\n\n")
                length += 2
            starts.append(length)
            parts.append(page)
            length += len(page)
        text = "".join(parts)
        title = meta_title or next((x.strip() for x in pages[0].split("\n") if x.strip()), path.stem)
        return LoadedDocument(
            text, path.name, self.format, title, tuple(starts), _sections(text, starts, outline)
        )
