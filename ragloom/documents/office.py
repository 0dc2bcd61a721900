"""DOCX and EPUB loaders, on the standard library's zipfile and XML parser (no extra to install).

DOCX: paragraphs in body order, headings from the paragraph style (``Heading N`` / ``Title``, looked up by
style name in ``styles.xml`` so renamed style ids still work), tables one row per line. EPUB: the spine's
XHTML documents in reading order through the HTML loader, chrome removal included; DRM-encrypted books
(``META-INF/encryption.xml`` covering content) are reported as encrypted.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ragloom.core.errors import DocumentError
from ragloom.documents.base import LoadedDocument, Section, TextBuilder

__all__ = ["DocxLoader", "EpubLoader"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_OPF = "{http://www.idpf.org/2007/opf}"
_HEADING = re.compile(r"^heading\s*(\d)$")


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DocumentError(f"not a readable zip container ({e})", "corrupt", path.name) from e


def _xml(z: zipfile.ZipFile, name: str, where: str) -> Any:
    try:
        return ET.fromstring(z.read(name))
    except KeyError as e:
        raise DocumentError(f"{name} is missing from the container", "corrupt", where) from e
    except (ET.ParseError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise DocumentError(f"{name} is damaged ({e})", "corrupt", where) from e


def _heading_levels(z: zipfile.ZipFile) -> dict[str, int]:
    """``{style id: heading level}`` from styles.xml (``Title`` counts as level 1)."""
    levels = {f"Heading{n}": n for n in range(1, 10)} | {"Title": 1}
    if "word/styles.xml" not in z.namelist():
        return levels
    for style in ET.fromstring(z.read("word/styles.xml")).iter(f"{_W}style"):
        name_el = style.find(f"{_W}name")
        name = (name_el.get(f"{_W}val") or "").lower() if name_el is not None else ""
        sid = style.get(f"{_W}styleId") or ""
        if m := _HEADING.match(name):
            levels[sid] = int(m.group(1))
        elif name == "title":
            levels[sid] = 1
    return levels


def _run_text(el: Any) -> str:
    parts = []
    for node in el.iter():
        if node.tag == f"{_W}t":
            parts.append(node.text or "")
        elif node.tag == f"{_W}tab":
            parts.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
    return "".join(parts)


def _docx_body(body: Any, levels: dict[str, int], out: TextBuilder) -> None:
    for el in body:
        if el.tag == f"{_W}p":
            style = el.find(f"{_W}pPr/{_W}pStyle")
            level = levels.get(style.get(f"{_W}val") or "") if style is not None else None
            text = _run_text(el)
            out.heading(level, text) if level else out.block(text)
        elif el.tag == f"{_W}tbl":
            rows = []
            for tr in el.iter(f"{_W}tr"):
                cells = [" ".join(_run_text(tc).split()) for tc in tr.findall(f"{_W}tc")]
                if any(cells):
                    rows.append(" | ".join(c for c in cells if c))
            out.block("\n".join(rows))
        elif el.tag == f"{_W}sdt":  # content controls wrap ordinary paragraphs
            content = el.find(f"{_W}sdtContent")
            if content is not None:
                _docx_body(content, levels, out)


class DocxLoader:
    """Loads Word ``.docx`` files."""

    format = "docx"

    def load(self, path: Path) -> LoadedDocument:
        with _zip(path) as z:
            root = _xml(z, "word/document.xml", path.name)
            body = root.find(f"{_W}body")
            out = TextBuilder()
            _docx_body(body if body is not None else root, _heading_levels(z), out)
            title = ""
            if "docProps/core.xml" in z.namelist():
                el = _xml(z, "docProps/core.xml", path.name).find(f"{_DC}title")
                title = (el.text or "").strip() if el is not None else ""
        text, sections = out.build()
        if not text.strip():
            raise DocumentError("the document holds no text", "empty", path.name)
        title = title or (sections[0].path[0] if sections else path.stem)
        return LoadedDocument(text, path.name, self.format, title, sections=sections)


def _spine(z: zipfile.ZipFile, where: str) -> tuple[list[str], str]:
    """The spine's content documents (zip names, reading order) and the book title."""
    container = _xml(z, "META-INF/container.xml", where)
    rootfile = next((el.get("full-path") for el in container.iter() if el.tag.endswith("rootfile")), None)
    if not rootfile:
        raise DocumentError("META-INF/container.xml names no package document", "corrupt", where)
    opf = _xml(z, rootfile, where)
    base = posixpath.dirname(rootfile)
    items = {
        el.get("id"): posixpath.normpath(posixpath.join(base, el.get("href") or ""))
        for el in opf.iter(f"{_OPF}item")
    }
    order = [items[r] for el in opf.iter(f"{_OPF}itemref") if (r := el.get("idref")) in items]
    title_el = opf.find(f".//{_DC}title")
    return order, (title_el.text or "").strip() if title_el is not None else ""


def _drm(z: zipfile.ZipFile, spine: list[str], where: str) -> None:
    if "META-INF/encryption.xml" not in z.namelist():
        return
    enc = _xml(z, "META-INF/encryption.xml", where)
    refs = {el.get("URI") for el in enc.iter() if el.tag.endswith("CipherReference")}
    if any(name in refs for name in spine):
        raise DocumentError("the book's content is encrypted (DRM)", "encrypted", where)


class EpubLoader:
    """Loads ``.epub`` books: one document, chapters in spine order, headings as sections."""

    format = "epub"

    def load(self, path: Path) -> LoadedDocument:
        from ragloom.documents.html import html_to_text, parse_html

        with _zip(path) as z:
            spine, title = _spine(z, path.name)
            _drm(z, spine, path.name)
            texts: list[str] = []
            sections: list[Section] = []
            offset = 0
            for name in spine:
                try:
                    data = z.read(name)
                except KeyError as e:
                    raise DocumentError(f"{name} (in the spine) is missing", "corrupt", path.name) from e
                text, secs, _ = html_to_text(parse_html(data, f"{path.name}:{name}"))
                if not text.strip():
                    continue
                if texts:
                    offset += 2
                sections.extend(Section(s.start + offset, s.end + offset, s.path) for s in secs)
                texts.append(text)
                offset += len(text)
        text = "\n\n".join(texts)
        if not text.strip():
            raise DocumentError("the book holds no text", "empty", path.name)
        return LoadedDocument(text, path.name, self.format, title or path.stem, sections=tuple(sections))
