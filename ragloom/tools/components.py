"""Built-in tools by registry name (``tools.calculator``, ``tools.python``), so YAML agents can name them.

Tools need no flow state, so these factories return :class:`~ragloom.tools.base.Tool` objects (kind "tool"),
not nodes; ``agents.react`` resolves ``tools: [calculator, python]`` through them.
"""

from __future__ import annotations

from ragloom.core.registry import register
from ragloom.tools.base import Tool
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
