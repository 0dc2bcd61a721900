"""The @tool decorator: schema from the signature, validation before the call, failures as observations."""

from __future__ import annotations

import asyncio
import functools
import sys
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
    assert listing.observe({"n": 1000}, max_chars=5) == (True, "[0, 1")  # no room for the marker
    ok, text = listing.observe({"n": 300_000}, max_chars=2000)  # millions of chars cut: a longer marker
    assert ok and len(text) <= 2000 and text.endswith(" chars cut]")


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


def test_arguments_a_model_cannot_pass_are_refused_at_definition() -> None:
    """Positional-only and underscore arguments used to make a tool whose every call failed."""

    def positional(x: int, /) -> int:
        """Positional only."""
        return x

    def private(_x: int) -> int:
        """Underscore argument (pydantic would drop it from the schema)."""
        return _x

    with pytest.raises(ConfigError, match="argument 'x' is positional-only"):
        tool(positional)
    with pytest.raises(ConfigError, match=r"argument '_x'.*underscore"):
        tool(private)


def test_partials_and_callable_objects() -> None:
    """No __name__/__qualname__ (that used to crash with AttributeError): ask for a name, then work."""

    def base(a: int, b: int) -> int:
        """Add."""
        return a + b

    class Adder:
        def __call__(self, a: int) -> int:
            return a

    with pytest.raises(ConfigError, match=r"partial.*name="):
        tool(functools.partial(base, b=2))
    add_two = tool(functools.partial(base, b=2), name="add_two", description="Add two.")
    assert add_two.parameters["required"] == ["a"] and add_two.invoke({"a": 1}) == 3
    adder = tool(Adder(), name="adder", description="Echo.")
    assert adder.parameters["properties"]["a"]["type"] == "integer" and adder.invoke({"a": 4}) == 4

    class AsyncAdder:
        async def __call__(self, a: int) -> int:
            return a + 1

    async_adder = tool(AsyncAdder(), name="async_adder", description="Add one.")
    assert async_adder.invoke({"a": 1}) == 2
    assert asyncio.run(async_adder.ainvoke({"a": 2})) == 3  # used to return an un-awaited coroutine


def test_schema_keeps_title_keys_inside_default_values() -> None:
    @tool
    def render(default: str, title: str = "t", meta: dict[str, str] = {"title": "x"}) -> str:  # noqa: B006
        """Render."""
        return str(meta)

    properties = render.parameters["properties"]
    assert properties["meta"]["default"] == {"title": "x"}
    assert properties["default"] == {"type": "string"} and properties["title"] == {
        "default": "t",
        "type": "string",
    }
    assert "title" not in properties["meta"]


@tool
def quits(code: int = 3) -> int:
    """Calls sys.exit, as scripts wrapped into tools sometimes do."""
    sys.exit(code)


@tool
def interrupted() -> int:
    """Stands for the user pressing Ctrl-C while a tool runs."""
    raise KeyboardInterrupt


def test_sys_exit_in_a_tool_becomes_an_error_observation() -> None:
    """SystemExit is no Exception: it used to escape observe() and end the whole agent run (or a server)."""
    ok, text = quits.observe({"code": 3})
    assert not ok and text == "Error: tool 'quits' failed: it called sys.exit(3)"
    with pytest.raises(ToolError, match=r"sys\.exit\(3\)"):
        quits.invoke({"code": 3})
    with pytest.raises(ToolError, match=r"sys\.exit\(0\)"):  # even a "success" exit is no result
        asyncio.run(quits.ainvoke({"code": 0}))


def test_sys_exit_in_an_async_tool_becomes_an_error() -> None:
    @tool
    async def aquits() -> int:
        """Exits from a coroutine."""
        await asyncio.sleep(0)
        sys.exit("bye")

    assert aquits.observe({}) == (False, "Error: tool 'aquits' failed: it called sys.exit('bye')")
    with pytest.raises(ToolError, match="bye"):
        asyncio.run(aquits.ainvoke({}))


def test_ctrl_c_in_a_tool_still_stops_the_caller() -> None:
    with pytest.raises(KeyboardInterrupt):
        interrupted.observe({})
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted.ainvoke({}))
