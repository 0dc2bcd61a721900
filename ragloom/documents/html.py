"""HTML loader (lxml): the page's content as text blocks with heading sections; chrome left out.

What is not indexed, and why: ``script``/``style``/``svg``/forms carry no prose (inline SVG syntax diagrams
are most of the bytes of some pages); site navigation (``nav``, elements whose class, id or ARIA role names a
menu, search box, table of contents, sidebar, footer or banner, and link lists that are nearly all link
text) repeats on every page of a site, so indexing it makes every page match every navigation query.
Tables are kept one row per line (cells joined by `` | ``); ``pre`` blocks keep their line breaks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ragloom.core.errors import DocumentError
from ragloom.documents.base import LoadedDocument, TextBuilder

__all__ = ["HtmlLoader", "html_to_text"]

_DROP_TAGS = frozenset(
    [
        "script",
        "style",
        "svg",
        "noscript",
        "template",
        "form",
        "select",
        "input",
        "button",
        "textarea",
        "iframe",
        "object",
        "embed",
        "canvas",
        "nav",
        "head",
        "math",
        "map",
        "audio",
        "video",
    ]
)
_CHROME_WORDS = frozenset(
    [
        "nav",
        "navbar",
        "navigation",
        "menu",
        "mainmenu",
        "submenu",
        "menubar",
        "breadcrumb",
        "breadcrumbs",
        "sidebar",
        "footer",
        "search",
        "searchbox",
        "searchmenu",
        "toc",
        "tagline",
        "masthead",
        "banner",
        "skip",
        "cookie",
        "cookies",
        "pagination",
        "share",
        "social",
        "toolbar",
        "topbar",
    ]
)
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "menu", "menubar", "toolbar"})
_BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "section",
        "article",
        "main",
        "aside",
        "header",
        "footer",
        "figure",
        "figcaption",
        "address",
        "center",
        "details",
        "summary",
        "fieldset",
        "caption",
        "hr",
        "br",
        "tr",
        "body",
        "html",
    ]
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_TOKEN = re.compile(r"[\s_\-]+")
_SPACE = re.compile(r"\s+")


def _is_chrome(el: Any) -> bool:
    """Does ``el`` look like site chrome by its tag, role, class or id words, or by link density?"""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in ("header", "footer", "aside") and el.getparent() is not None:
        return el.xpath("boolean(ancestor::article or ancestor::main)") is False
    if (el.get("role") or "").lower() in _CHROME_ROLES:
        return True
    words = {w for w in _TOKEN.split(f"{el.get('class') or ''} {el.get('id') or ''}".lower()) if w}
    if words & _CHROME_WORDS:
        return True
    if tag in ("ul", "ol", "div", "table"):
        links = el.findall(".//a")
        if len(links) >= 5:
            text = len(" ".join(el.itertext()).split())
            linked = sum(len(" ".join(a.itertext()).split()) for a in links)
            return text > 0 and linked / text >= 0.8
    return False


def _clean(root: Any) -> None:
    """Remove dropped tags, comments and chrome from the tree (tails are kept: they are content). The walk
    does not descend into what it drops: an inline SVG diagram can hold thousands of elements."""
    doomed, stack = [], [root]
    while stack:
        for el in stack.pop():
            if not isinstance(el.tag, str) or el.tag.lower() in _DROP_TAGS or _is_chrome(el):
                doomed.append(el)
            else:
                stack.append(el)
    for el in doomed:
        parent = el.getparent()
        if parent is None:
            continue
        tail = el.tail
        el.tail = None
        el.drop_tree() if tail is None else _drop_keep_tail(el, parent, tail)


def _drop_keep_tail(el: Any, parent: Any, tail: str) -> None:
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


class _Walker:
    """Turns a cleaned tree into blocks: inline text accumulates until a block boundary flushes it."""

    def __init__(self) -> None:
        self.out = TextBuilder()
        self._inline: list[str] = []

    def flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._inline)).strip()
        self._inline = []
        if text:
            self.out.block(text)

    def walk(self, el: Any) -> None:
        tag = el.tag.lower() if isinstance(el.tag, str) else ""
        if tag in _HEADINGS:
            self.flush()
            self.out.heading(_HEADINGS[tag], " ".join(el.itertext()))
        elif tag == "pre":
            self.flush()
            self.out.block("".join(el.itertext()).rstrip())
        elif tag == "table":
            self.flush()
            self._table(el)
        else:
            block = tag in _BLOCK_TAGS
            if block:
                self.flush()
            if el.text:
                self._inline.append(el.text)
            for child in el:
                self.walk(child)
                if child.tail:
                    self._inline.append(child.tail)
            if block:
                self.flush()

    def _table(self, table: Any) -> None:
        rows = []
        for tr in table.iter("tr"):
            cells = [_SPACE.sub(" ", " ".join(td.itertext())).strip() for td in tr if td.tag in ("td", "th")]
            cells = [c for c in cells if c]
            if cells:
                rows.append(" | ".join(cells))
        if rows:
            self.out.block("\n".join(rows))


def html_to_text(root: Any) -> tuple[str, tuple[Any, ...], str]:
    """``(text, sections, title)`` of a parsed lxml HTML tree (the tree is modified: chrome is removed)."""
    title_el = root.find(".//title")
    title = _SPACE.sub(" ", title_el.text_content()).strip() if title_el is not None else ""
    body = root.find(".//body")
    _clean(root)
    walker = _Walker()
    walker.walk(body if body is not None else root)
    walker.flush()
    text, sections = walker.out.build()
    if not title and sections:
        title = sections[0].path[0]
    return text, sections, title


def parse_html(data: bytes, where: str) -> Any:
    """An lxml tree of ``data``; bytes that are no HTML at all are a DocumentError naming the file."""
    import lxml.html
    from lxml import etree

    try:
        return lxml.html.document_fromstring(data)
    except (etree.ParserError, ValueError) as e:
        raise DocumentError(f"not parseable as HTML ({e})", "corrupt", where) from e


class HtmlLoader:
    """Loads ``.html``/``.htm`` (and HTML sniffed under other names)."""

    format = "html"

    def load(self, path: Path) -> LoadedDocument:
        data = path.read_bytes()
        if not data.strip():
            raise DocumentError("the file is empty", "empty", path.name)
        text, sections, title = html_to_text(parse_html(data, path.name))
        if not text.strip():
            raise DocumentError("no text left after removing markup and navigation", "empty", path.name)
        return LoadedDocument(text, path.name, self.format, title or path.stem, sections=sections)
