"""The @tool decorator: schema from the signature, validation before the call, failures as observations."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import pytest
from pydantic import Field

from ragloom.core.errors import ConfigError, ToolError
from ragloom.tools import Tool, tool


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number,
            defaults to two.
    """
    return a + b


@tool(name="greet", description="Say hello.")
def _greet(
    name: Annotated[str, Field(description="Who to greet")], tone: Literal["warm", "dry"] = "warm"
) -> str:
    return f"hello {name} ({tone})"


calls: list[int] = []


@tool
def record(x: int) -> int:
    """Record a number (used to prove validation happens before the call)."""
    calls.append(x)
    return x


@tool
def explode(x: int) -> int:
    """Always fails."""
    raise RuntimeError(f"boom at {x}")


def test_schema_from_signature_and_docstring() -> None:
    assert isinstance(add, Tool)
    assert add.name == "add"
    assert add.description == "Add two integers."
    params = add.parameters
    assert params["type"] == "object"
    assert params["required"] == ["a"]
    assert params["properties"]["a"] == {"type": "integer", "description": "The first number."}
    assert params["properties"]["b"]["default"] == 2
    assert params["properties"]["b"]["description"] == "The second number, defaults to two."
    assert params["additionalProperties"] is False
    assert "title" not in params


def test_annotated_and_literal_arguments() -> None:
    params = _greet.parameters
    assert _greet.name == "greet" and _greet.description == "Say hello."
    assert params["properties"]["name"]["description"] == "Who to greet"
    assert params["properties"]["tone"]["enum"] == ["warm", "dry"]
    assert _greet.invoke({"name": "Ann"}) == "hello Ann (warm)"


def test_openai_export() -> None:
    spec = add.to_openai()
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "add"
    assert spec["function"]["parameters"]["properties"]["a"]["type"] == "integer"


def test_invoke_validates_and_coerces() -> None:
    assert add.invoke({"a": 1, "b": 5}) == 6
    assert add.invoke({"a": "3"}) == 5  # pydantic lax mode: "3" -> 3
    assert add(a=1) == 3


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({}, "a: Field required"),
        ({"a": "x"}, "a: Input should be a valid integer"),
        ({"a": 1, "c": 3}, "c: Extra inputs are not permitted"),
        ([1, 2], "arguments must be a JSON object"),
    ],
)
def test_validation_errors_name_the_tool_and_field(args: object, fragment: str) -> None:
    with pytest.raises(ToolError) as e:
        add.invoke(args)  # type: ignore[arg-type]
    assert "tool 'add'" in str(e.value)
    assert fragment in str(e.value)


def test_validation_happens_before_the_call() -> None:
    calls.clear()
    ok, text = record.observe({"x": "not a number"})
    assert not ok and text.startswith("Error: tool 'record': invalid arguments")
    assert calls == []


def test_exception_becomes_observation() -> None:
    with pytest.raises(ToolError, match="tool 'explode' failed: RuntimeError: boom at 3"):
        explode.invoke({"x": 3})
    ok, text = explode.observe({"x": 3})
    assert not ok
    assert text == "Error: tool 'explode' failed: RuntimeError: boom at 3"


def test_observe_formats_and_truncates() -> None:
    @tool
    def listing(n: int) -> list[int]:
        """Numbers up to n."""
        return list(range(n))

    assert listing.observe({"n": 3}) == (True, "[0, 1, 2]")
    ok, text = listing.observe({"n": 1000}, max_chars=50)
    assert ok and len(text) <= 50 and "chars cut" in text


def test_async_tool() -> None:
    @tool
    async def twice(x: int) -> int:
        """Double a number, asynchronously."""
        await asyncio.sleep(0)
        return 2 * x

    assert twice.invoke({"x": 4}) == 8
    assert asyncio.run(twice.ainvoke({"x": 5})) == 10
    assert asyncio.run(add.ainvoke({"a": 1})) == 3


def test_definition_errors() -> None:
    def no_doc(x: int) -> int:
        return x

    def untyped(x):  # type: ignore[no-untyped-def]
        """Untyped."""
        return x

    def varargs(*xs: int) -> int:
        """Varargs."""
        return 0

    with pytest.raises(ConfigError, match="no description"):
        tool(no_doc)
    with pytest.raises(ConfigError, match="argument 'x' has no type annotation"):
        tool(untyped)
    with pytest.raises(ConfigError, match="cannot be described by a JSON schema"):
        tool(varargs)
    with pytest.raises(ConfigError, match="tool name"):
        tool(name="bad name!")(add.fn)
