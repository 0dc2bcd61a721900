"""Built-in tools by registry name (``tools.calculator``, ``tools.python``), so YAML agents can name them.

Tools need no flow state, so these factories return :class:`~ragloom.tools.base.Tool` objects (kind "tool"),
not nodes; ``agents.react`` resolves ``tools: [calculator, python]`` through them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.tools.base import Tool, format_output
from ragloom.tools.calculator import calculator
from ragloom.tools.sandbox import PythonSandbox, python_tool


@register("tools.calculator", kind="tool")
def calculator_tool() -> Tool:
    """Safe arithmetic (AST whitelist, bounded sizes): numbers, + - * / // % **, parentheses, functions."""
    return calculator


@register("tools.python", kind="tool")
def sandboxed_python_tool(timeout_s: float = 5.0, memory_mb: int = 512, name: str = "python") -> Tool:
    """Run a Python script in the bubblewrap sandbox (no network, no host files or processes, throw-away /tmp,
    time and memory limits) and return its output; refuses to run where that isolation is unavailable."""
    return python_tool(PythonSandbox(timeout_s=timeout_s, memory_mb=memory_mb), name=name)


Node = Callable[[Any], dict[str, Any]]


@register("tools.mcp", kind="tool")
def mcp_toolset(
    server: Mapping[str, Any], include: Sequence[str] | None = None, timeout_s: float = 60.0
) -> list[Tool]:
    """The tools of an MCP server: ``server: {command, args, env}`` (stdio) or ``{url, headers}`` (HTTP)."""
    from ragloom.tools.mcp_client import MCPServerSpec, shared_client

    spec = MCPServerSpec.from_mapping({"timeout_s": timeout_s, **dict(server)})
    return shared_client(spec).tools(list(include) if include is not None else None)


@register("tools.call")
def call_tool_node(
    tool: str | Mapping[str, Any],
    args: Mapping[str, str] | None = None,
    constants: Mapping[str, Any] | None = None,
    output_key: str = "tool_result",
    on_error: str = "observe",
) -> Node:
    """A flow node that calls one tool: ``args`` maps tool arguments to state keys; ``constants`` are fixed.

    ``tool`` is a registry name (``calculator``) or ``{uses: tools.mcp, with: {server: ..., include: [one]}}``
    naming exactly one tool. A failing tool writes its error text to ``output_key`` (``on_error: observe``,
    what an agent would see) or fails the step (``on_error: raise``).
    """
    from ragloom.agents.components import resolve_tools
    from ragloom.flows.when import read_key

    if on_error not in ("observe", "raise"):
        raise ConfigError(f"tools.call: on_error must be 'observe' or 'raise', got {on_error!r}")
    resolved = resolve_tools([tool])
    if len(resolved) != 1:
        names = [t.name for t in resolved]
        raise ConfigError(
            f"tools.call: {tool!r} gives {len(resolved)} tools {names}; name exactly one (include:)"
        )
    chosen, mapping, fixed = resolved[0], dict(args or {}), dict(constants or {})

    def tool_node(state: Any) -> dict[str, Any]:
        arguments = {**fixed, **{arg: read_key(state, key) for arg, key in mapping.items()}}
        if on_error == "raise":
            return {output_key: format_output(chosen.invoke(arguments))}
        return {output_key: chosen.observe(arguments)[1]}

    tool_node.__name__ = f"call_{chosen.name}"
    return tool_node
