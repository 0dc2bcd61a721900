"""Human-readable citations: where a chunk comes from, e.g. ``R-intro.pdf p. 42, § 5.1 Arrays``.

Built only from the chunk metadata contract (``source``, ``page``, ``page_end``, ``section``), so a chunk
read back from an index cites the same way as a freshly made one; a chunk without that metadata (a BEIR
passage) cites its document id.
"""

from __future__ import annotations

from typing import Any

from ragloom.core.types import Chunk, Hit

__all__ = ["cite", "cite_metadata"]


def cite_metadata(metadata: dict[str, Any], fallback: str = "") -> str:
    """The citation of a chunk with ``metadata``: file, page or page range, innermost section path."""
    source = str(metadata.get("source") or metadata.get("path") or fallback)
    parts = [source] if source else []
    page, page_end = metadata.get("page"), metadata.get("page_end")
    if isinstance(page, int):
        if isinstance(page_end, int) and page_end > page:
            parts.append(f"pp. {page}–{page_end}")
        else:
            parts.append(f"p. {page}")
    head = " ".join(parts)
    section = str(metadata.get("section") or "")
    if section:
        innermost = section.split(" > ")[-1]
        if not head:
            return f"§ {innermost}"
        return f"{head}, § {innermost}" if isinstance(page, int) else f"{head} § {innermost}"
    return head


def cite(item: Chunk | Hit | Any) -> str:
    """The citation of a chunk or hit (anything with ``.chunk`` or ``.metadata`` and ``.doc_id``)."""
    chunk = item.chunk if isinstance(item, Hit) else item
    metadata = getattr(chunk, "metadata", None) or {}
    return cite_metadata(dict(metadata), fallback=str(getattr(chunk, "doc_id", "")))
