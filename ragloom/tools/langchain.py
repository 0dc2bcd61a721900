"""langchain-core tools both ways: a ``BaseTool`` as our :class:`Tool`, our Tool as a ``StructuredTool``.

Only this module imports langchain-core, so the rest of ragloom does not depend on its API.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from ragloom.core.errors import ConfigError, ToolError
from ragloom.tools.base import Tool


def from_langchain(lc_tool: Any) -> Tool:
    """Wrap any langchain ``BaseTool`` (``@tool`` functions, StructuredTool, community tools) as a Tool.

    The schema is the tool's ``tool_call_schema`` (what the model fills in, without injected arguments);
    a langchain ``ToolException`` or any other error becomes a ToolError, i.e. an observation for the model.
    """
    from langchain_core.tools import BaseTool

    if not isinstance(lc_tool, BaseTool):
        raise ConfigError(
            f"from_langchain expects a langchain_core.tools.BaseTool, got {type(lc_tool).__name__}"
        )
    schema = lc_tool.tool_call_schema
    override: dict[str, Any] | None = None
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        model: type[BaseModel] = schema
    else:  # a JSON-schema dict: langchain validates; we pass arguments through and publish the schema
        model = create_model(f"{lc_tool.name}_args", __config__=ConfigDict(extra="allow"))
        override = dict(schema) if isinstance(schema, dict) else {"type": "object", "properties": {}}

    if _async_only(lc_tool):  # e.g. tools from langchain-mcp-adapters: `invoke` raises, `ainvoke` works

        async def call(**kwargs: Any) -> Any:
            return await lc_tool.ainvoke(kwargs)

    else:

        def call(**kwargs: Any) -> Any:  # type: ignore[misc]
            return lc_tool.invoke(kwargs)

    return Tool(
        name=lc_tool.name,
        description=lc_tool.description or lc_tool.name,
        args_model=model,
        fn=call,
        parameters_override=override,
    )


def _async_only(lc_tool: Any) -> bool:
    """A StructuredTool made from a coroutine alone has no sync path."""
    return getattr(lc_tool, "coroutine", None) is not None and getattr(lc_tool, "func", None) is None


def to_langchain(tool: Tool) -> Any:
    """Our Tool as a langchain ``StructuredTool``; failures raise ``ToolException`` (handled as the tool's
    text output, as langchain agents expect)."""
    from langchain_core.tools import StructuredTool, ToolException

    def run(**kwargs: Any) -> Any:
        try:
            return tool.invoke(kwargs)
        except ToolError as e:
            raise ToolException(str(e)) from e

    async def arun(**kwargs: Any) -> Any:
        try:
            return await tool.ainvoke(kwargs)
        except ToolError as e:
            raise ToolException(str(e)) from e

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_model,
        handle_tool_error=True,
    )
