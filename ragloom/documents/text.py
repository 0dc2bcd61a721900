"""Plain-text and Markdown loaders. The text is the file's own characters (CRLF kept: chunk spans index the
file as it is on disk); Markdown headings (ATX ``#`` and setext underlines, outside code fences) become
sections, but the Markdown itself is indexed as written."""

from __future__ import annotations

import re
from pathlib import Path

from ragloom.core.errors import DocumentError
from ragloom.documents.base import LoadedDocument, Section

__all__ = ["MarkdownLoader", "TextLoader", "decode_text", "markdown_sections"]

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 (a byte order mark dropped), else Windows-1252, the usual legacy encoding of Western text (so a
    Latin-1 ``café`` reads as such instead of as replacement characters or an error)."""
    if not data.strip():
        raise DocumentError("the file is empty", "empty", where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if not text.strip():
        raise DocumentError("the file holds only whitespace", "empty", where)
    return text


def markdown_sections(text: str) -> tuple[tuple[Section, ...], str]:
    """Heading sections of Markdown ``text`` and its title (the first level-1 heading, else the first)."""
    marks: list[tuple[int, int, str]] = []  # (offset, level, heading)
    offset, fenced, prev = 0, False, ("", 0)
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        if _FENCE.match(bare):
            fenced = not fenced
        elif not fenced and (m := _ATX.match(bare)):
            marks.append((offset, len(m.group(1)), m.group(2).strip()))
        elif not fenced and prev[0].strip() and _SETEXT.match(bare) and not _ATX.match(prev[0]):
            marks.append((prev[1], 1 if bare.strip()[0] == "=" else 2, prev[0].strip()))
        prev = (bare, offset)
        offset += len(line)
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    for i, (start, level, heading) in enumerate(marks):
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        sections.append(Section(start, end, tuple(h for _, h in stack)))
    title = next((h for _, lv, h in marks if lv == 1), marks[0][2] if marks else "")
    return tuple(sections), title


class TextLoader:
    """Loads plain text (``.txt`` and text files without a known suffix)."""

    format = "text"

    def load(self, path: Path) -> LoadedDocument:
        text = decode_text(path.read_bytes(), path.name)
        return LoadedDocument(text, path.name, self.format, path.stem)


class MarkdownLoader:
    """Loads ``.md``/``.markdown`` with heading sections."""

    format = "markdown"

    def load(self, path: Path) -> LoadedDocument:
        text = decode_text(path.read_bytes(), path.name)
        sections, title = markdown_sections(text)
        return LoadedDocument(text, path.name, self.format, title or path.stem, sections=sections)
