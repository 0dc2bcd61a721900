"""The document room's shared types: a loaded document (text plus its structure), the Loader protocol and the
report of skipped files.

Structure is kept *next to* the text as character offsets, never inside it: ``page_starts[i]`` is where
physical page ``i + 1`` starts, and a :class:`Section` is a span with its heading path. So any chunk span of
the text maps back to its page(s) and section without re-parsing, and the span invariant of the chunkers
(``text[start:end] == chunk.text``) holds on exactly the text that is indexed.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ragloom.core.types import Document

__all__ = [
    "FORMATS",
    "REASONS",
    "IngestReport",
    "LoadedDocument",
    "Loader",
    "Section",
    "Skipped",
    "TextBuilder",
    "loaded_from",
]

#: The formats a loader exists for (the ``format`` metadata value of every chunk).
FORMATS = ("pdf", "html", "markdown", "text", "docx", "epub")
#: Why a file can be skipped (``DocumentError.reason``).
REASONS = ("encrypted", "corrupt", "empty", "binary", "unsupported")
SECTION_SEP = " > "


@dataclass(frozen=True, slots=True)
class Section:
    """``text[start:end]`` belongs to the section whose heading path is ``path`` (outermost first)."""

    start: int
    end: int
    path: tuple[str, ...]

    @property
    def label(self) -> str:
        return SECTION_SEP.join(self.path)


@dataclass(frozen=True)
class LoadedDocument:
    """A file's text with its structure: physical page starts (PDF), sections (heading paths), title."""

    text: str
    source: str
    format: str
    title: str = ""
    page_starts: tuple[int, ...] = ()
    sections: tuple[Section, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based physical page holding character ``offset`` (None for documents without pages)."""
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))

    def section_at(self, offset: int) -> Section | None:
        """The innermost section holding ``offset`` (sections do not overlap; None before the first)."""
        i = bisect.bisect_right(self._section_starts, offset) - 1
        if i >= 0 and self.sections[i].start <= offset < max(
            self.sections[i].end, self.sections[i].start + 1
        ):
            return self.sections[i]
        return None

    @functools.cached_property
    def _section_starts(self) -> list[int]:
        return [s.start for s in self.sections]

    def to_document(self) -> Document:
        """The :class:`Document` the index takes: id = source path; structure rides in its metadata."""
        metadata: dict[str, Any] = {"source": self.source, "title": self.title, "format": self.format}
        if self.page_starts:
            metadata["page_starts"] = list(self.page_starts)
        if self.sections:
            metadata["sections"] = [[s.start, s.end, list(s.path)] for s in self.sections]
        return Document(self.source, self.text, metadata)


def loaded_from(document: Document) -> LoadedDocument:
    """The structure view of any :class:`Document` (one that did not come from a loader has none)."""
    meta = document.metadata
    sections = tuple(Section(int(s), int(e), tuple(p)) for s, e, p in meta.get("sections") or ())
    return LoadedDocument(
        text=document.text,
        source=str(meta.get("source") or document.id),
        format=str(meta.get("format") or "text"),
        title=str(meta.get("title") or ""),
        page_starts=tuple(int(p) for p in meta.get("page_starts") or ()),
        sections=sections,
    )


@runtime_checkable
class Loader(Protocol):
    """Reads one file into a :class:`LoadedDocument`.

    Contract: ``load(path)`` returns the document with ``source = path.name`` (the folder walker makes it
    relative to the indexed folder); a file that cannot be read raises
    :class:`~ragloom.core.errors.DocumentError` whose ``reason`` is one of :data:`REASONS`.
    """

    format: str

    def load(self, path: Path) -> LoadedDocument: ...


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file left out of an ingestion run and why (``reason`` in :data:`REASONS`, ``detail`` for humans)."""

    source: str
    reason: str
    detail: str = ""


@dataclass
class IngestReport:
    """What an ingestion run read and skipped. Filled while documents are yielded."""

    loaded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    by_format: dict[str, int] = field(default_factory=dict)
    pages: int = 0

    def summary(self) -> str:
        """One line for the end of a run: ``33 files read (3 pdf, 30 html; 206 pages), 2 skipped``."""
        formats = ", ".join(f"{n} {f}" for f, n in sorted(self.by_format.items()))
        pages = f"; {self.pages} pages" if self.pages else ""
        inner = f" ({formats}{pages})" if formats else ""
        return f"{self.loaded} files read{inner}, {len(self.skipped)} skipped"

    def lines(self) -> list[str]:
        """One line per skipped file: ``skipped secret.pdf: encrypted (password required)``."""
        return [
            f"skipped {s.source}: {s.reason}" + (f" ({s.detail})" if s.detail else "") for s in self.skipped
        ]


class TextBuilder:
    """Accumulates blocks of text and headings into ``(text, sections)``.

    Blocks are joined by a blank line (a paragraph break the sentence splitter honours); a heading of level
    ``n`` closes every open heading of level >= ``n``. Each heading starts a new section that runs to the
    next heading, whatever its level, so sections tile the text without overlapping.
    """

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self._stack: list[tuple[int, str]] = []
        self._sections: list[Section] = []
        self._open: tuple[int, tuple[str, ...]] | None = None

    def _append(self, text: str) -> int:
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        return start

    def heading(self, level: int, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))
        self._close()
        start = self._append(text)
        self._open = (start, tuple(t for _, t in self._stack))

    def block(self, text: str) -> None:
        text = text.strip("\n")
        if text.strip():
            self._append(text)

    def _close(self) -> None:
        if self._open is not None:
            start, path = self._open
            self._sections.append(Section(start, self._length, path))
            self._open = None

    def build(self) -> tuple[str, tuple[Section, ...]]:
        self._close()
        return "".join(self._parts), tuple(self._sections)
