"""langchain-core tools both ways, with real langchain objects."""

from __future__ import annotations

from langchain_core.tools import StructuredTool, ToolException
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ragloom.tools import calculator, from_langchain, to_langchain, tool


@lc_tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@lc_tool
def failing(query: str) -> str:
    """Always raises a ToolException."""
    raise ToolException(f"no results for {query}")


def test_langchain_tool_as_ours() -> None:
    t = from_langchain(multiply)
    assert t.name == "multiply" and t.description == "Multiply two integers."
    assert t.parameters["required"] == ["a", "b"]
    assert t.invoke({"a": 6, "b": "7"}) == 42
    ok, text = t.observe({"a": "six", "b": 7})
    assert not ok and "tool 'multiply': invalid arguments" in text
    assert t.to_openai()["function"]["parameters"]["properties"]["a"]["type"] == "integer"


def test_langchain_tool_exception_becomes_observation() -> None:
    ok, text = from_langchain(failing).observe({"query": "cats"})
    assert not ok and "no results for cats" in text


def test_our_tool_as_langchain() -> None:
    lc = to_langchain(calculator)
    assert isinstance(lc, StructuredTool)
    assert lc.invoke({"expression": "(17 + 25) * 3"}) == "126"
    # errors come back as the tool's text output (handle_tool_error), as langchain agents expect
    assert "not allowed" in lc.invoke({"expression": "__import__('os')"})
    spec = convert_to_openai_tool(lc)
    assert spec["function"]["name"] == "calculator"
    assert spec["function"]["parameters"]["required"] == ["expression"]


def test_round_trip_keeps_schema() -> None:
    @tool
    def echo(text: str, times: int = 1) -> str:
        """Repeat text."""
        return text * times

    back = from_langchain(to_langchain(echo))
    assert back.invoke({"text": "ab", "times": 2}) == "abab"
    assert back.parameters["properties"]["times"]["default"] == 1
    assert back.required_args == ["text"]
