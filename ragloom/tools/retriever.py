"""Any Retriever as a tool: the model searches the index itself (agentic RAG) and reads numbered passages."""

from __future__ import annotations

from collections.abc import Sequence

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Retriever
from ragloom.core.types import Hit
from ragloom.tools.base import Tool, tool, truncate


def format_hits(hits: Sequence[Hit], max_chars_per_hit: int = 600) -> str:
    """Numbered passages with their chunk id (doc#start-end) and score, so answers can cite them."""
    if not hits:
        return "No results."
    lines = []
    for i, hit in enumerate(hits, 1):
        text = truncate(" ".join(hit.text.split()), max_chars_per_hit)
        lines.append(f"[{i}] ({hit.id}, score {hit.score:.3f}) {text}")
    return "\n".join(lines)


def retriever_tool(
    retriever: Retriever,
    name: str = "search",
    description: str = "Search the document collection and return the most relevant passages.",
    k: int = 4,
    max_chars_per_hit: int = 600,
) -> Tool:
    """Wrap ``retriever`` as a tool with one argument, ``query``; it returns :func:`format_hits` text."""
    if k < 1:
        raise ConfigError(f"retriever_tool(k={k}): k must be at least 1")

    def search(query: str) -> str:
        """Search passages.

        Args:
            query: What to look for, in a few keywords or a question.
        """
        return format_hits(retriever.retrieve(query, k=k), max_chars_per_hit)

    return tool(search, name=name, description=description)
