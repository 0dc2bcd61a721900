"""``ragloom mcp``: serve an index's search and flows as MCP tools (stdio by default, or streamable HTTP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def mcp(
    index: Annotated[
        Path | None, typer.Option("--index", help="Index folder: exposes a `search` tool over it.")
    ] = None,
    flow: Annotated[
        list[Path] | None,
        typer.Option(
            "--flow", help="A flow file (YAML) exposed as a tool named after the flow (repeatable)."
        ),
    ] = None,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="Interface for --http.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for --http.")] = 8765,
    input_key: Annotated[str, typer.Option(help="State key a flow tool's question goes to.")] = "question",
    output_key: Annotated[str, typer.Option(help="State key a flow tool's answer is read from.")] = "answer",
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server for the flows' llm.* nodes (default: local).")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name on --llm-base-url.")] = None,
) -> None:
    """Serve --index's search and each --flow as MCP tools (stdio, or --http on HOST:PORT/mcp)."""
    from ragloom.cli.errors import clean_errors
    from ragloom.cli.flow_cmds import _load, _resources
    from ragloom.core.errors import ConfigError
    from ragloom.tools.mcp_server import build_mcp_server

    with clean_errors():
        if http and host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                f"ragloom mcp --http binds only to loopback (got --host {host}); put an authenticating "
                "proxy in front to expose it"
            )
        context = _resources(index)
        flows: dict[str, Any] = {}
        for path in flow or ():
            compiled = _load(path, None, compile=True)
            name = _tool_name(getattr(compiled.builder, "name", "") or path.stem)
            if name in flows or (name == "search" and index is not None):
                raise ConfigError(f"two tools would be named {name!r}: rename the flow in {path}")
            flows[name] = compiled
        if flows:
            context.setdefault("llm", _llm(llm_base_url, llm_model))
        server = build_mcp_server(context.get("index"), flows, context, input_key, output_key)
    if http:
        typer.echo(f"MCP over streamable HTTP on http://{host}:{port}/mcp", err=True)
        server.run("streamable-http", host=host, port=port)
    else:
        server.run()


def _tool_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64] or "flow"


def _llm(base_url: str | None, model: str | None) -> Any:
    if base_url or model:
        from ragloom.cli.llm_option import remote_llm

        return remote_llm(base_url, model)
    from ragloom.llm.local import default_llm

    return default_llm()


def register(app: typer.Typer) -> None:
    app.command()(mcp)
