"""Tools a model can call: ``@tool`` turns a typed function into a JSON-schema tool; built-ins and adapters.

- :func:`tool` / :class:`Tool`: schema from the signature, arguments validated before the call, failures
  returned to the model as observations (:meth:`Tool.observe`).
- :data:`calculator` (safe AST arithmetic), :func:`python_tool` (sandboxed subprocess),
  :func:`retriever_tool`.
- :func:`from_langchain` / :func:`to_langchain`: langchain-core tools both ways.
"""

from __future__ import annotations

from ragloom.tools.base import Tool, format_output, tool
from ragloom.tools.calculator import calculator, safe_eval
from ragloom.tools.langchain import from_langchain, to_langchain
from ragloom.tools.retriever import format_hits, retriever_tool
from ragloom.tools.sandbox import PythonSandbox, SandboxResult, python_tool

__all__ = [
    "PythonSandbox",
    "SandboxResult",
    "Tool",
    "calculator",
    "format_hits",
    "format_output",
    "from_langchain",
    "python_tool",
    "retriever_tool",
    "safe_eval",
    "to_langchain",
    "tool",
]
