"""``ragloom mcp``: an index's search and any flow as MCP tools (Model Context Protocol), official SDK.

Why these two: an MCP host (an IDE, a desktop assistant, another agent framework) wants grounded passages it
can cite (``search``) or a whole answer pipeline it can call (each flow by name). Both run in the SDK's worker
threads, so a slow flow does not block the protocol loop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ragloom.core.errors import ConfigError, RagloomError

__all__ = ["build_mcp_server", "hit_record"]


def hit_record(hit: Any) -> dict[str, Any]:
    """A hit as plain JSON: id, score, text, and the chunk's metadata (source, page, section when known)."""
    metadata = {
        k: v for k, v in (hit.chunk.metadata or {}).items() if isinstance(v, str | int | float | bool)
    }
    return {
        "id": hit.id,
        "doc_id": hit.doc_id,
        "score": round(float(hit.score), 6),
        "text": hit.text,
        **metadata,
    }


def build_mcp_server(
    index: Any | None = None,
    flows: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    input_key: str = "question",
    output_key: str = "answer",
    name: str = "ragloom",
) -> Any:
    """An ``MCPServer`` with ``search`` (when ``index`` is given) and one tool per compiled flow."""
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as e:
        raise ConfigError("`ragloom mcp` needs the `mcp` extra: pip install 'ragloom[mcp]'") from e
    if index is None and not flows:
        raise ConfigError("ragloom mcp: give an index (--index DIR) or at least one flow (--flow FILE)")
    server = MCPServer(
        name, instructions="Search the indexed documents or run ragloom flows.", log_level="WARNING"
    )
    if index is not None:
        server.add_tool(_search_tool(index), name="search", structured_output=False)
    for flow_name, compiled in (flows or {}).items():
        tool = _flow_tool(compiled, dict(context or {}), input_key, output_key)
        server.add_tool(
            tool, name=flow_name, description=_flow_description(compiled), structured_output=False
        )
    return server


def _client_mistake(error: Exception) -> Exception:
    """The SDK's anticipated-failure error, so the caller reads our message (other errors show only
    "Error executing tool") and the server logs no traceback."""
    from mcp.server.mcpserver.exceptions import ToolError as MCPToolError

    return MCPToolError(str(error))


def _search_tool(index: Any) -> Any:
    retriever = index.hybrid()

    def search(query: str, k: int = 5, where: dict[str, Any] | None = None) -> str:
        """Hybrid (BM25 + dense) search of the index: the k best passages as JSON, with their source.
        `where` filters on chunk metadata, e.g. {"source": {"$glob": "*.pdf"}, "page": {"$gte": 10}}."""
        try:
            if not query.strip():
                raise ConfigError("query is empty: pass the text to search for")
            if not 1 <= k <= 100:
                raise ConfigError(f"k must be between 1 and 100, got {k}")
            hits = retriever.retrieve(query, k, where=where) if where else retriever.retrieve(query, k)
        except (RagloomError, ValueError, TypeError) as e:
            raise _client_mistake(e) from e
        return json.dumps([hit_record(h) for h in hits], ensure_ascii=False)

    return search


def _flow_tool(compiled: Any, context: dict[str, Any], input_key: str, output_key: str) -> Any:
    def run_flow(question: str) -> str:
        try:
            result = compiled.invoke({input_key: question}, context=context)
        except RagloomError as e:
            raise _client_mistake(e) from e
        state = result.state
        read = (
            state.get if isinstance(state, dict) else lambda key, default=None: getattr(state, key, default)
        )
        payload: dict[str, Any] = {output_key: read(output_key, "")}
        citations = read("citations", None)
        if citations:
            payload["citations"] = list(citations)
        return json.dumps(payload, ensure_ascii=False, default=str)

    return run_flow


def _flow_description(compiled: Any) -> str:
    flow = getattr(compiled, "builder", None)
    label = getattr(flow, "name", None) or getattr(compiled, "name", "flow")
    return (
        f"Run the ragloom flow {label!r} on a question and return its answer (with citations when it cites)."
    )
