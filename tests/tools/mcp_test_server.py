"""A real MCP server written with the official SDK, for ragloom's MCP client tests (stdio or HTTP).

Run: ``python mcp_test_server.py`` (stdio) or ``python mcp_test_server.py http PORT`` (streamable HTTP).
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("ragloom-test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


@server.tool()
def fail(reason: str) -> str:
    """Always fails with the given reason."""
    raise ValueError(f"failing on purpose: {reason}")


@server.tool(name="kb.lookup")
def lookup(term: str) -> str:
    """Look a term up in a tiny glossary."""
    return {"bm25": "a lexical ranking function", "rrf": "reciprocal rank fusion"}.get(
        term.lower(), "unknown"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
