"""The safe calculator: correct arithmetic, and everything outside the whitelist refused quickly."""

from __future__ import annotations

import math
import time

import pytest

from ragloom.core.errors import ToolError
from ragloom.tools import calculator, safe_eval


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(17 + 25) * 3", 126),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("-(3 - 5)", 2),
        ("+4", 4),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(pi, 2)", 3.14),
        ("max(1, 5, 3) - min(4, 2)", 3),
        ("2 ** -1", 0.5),
        ("1e3 + 0.5", 1000.5),
        ("12 * 7 =", 84),
    ],
)
def test_arithmetic(expression: str, value: float) -> None:
    assert safe_eval(expression) == pytest.approx(value)


def test_tool_output_is_text() -> None:
    assert calculator.invoke({"expression": "(17 + 25) * 3"}) == "126"
    assert calculator.invoke({"expression": "10 / 4"}) == "2.5"
    assert calculator.invoke({"expression": "2.0 * 3"}) == "6"
    assert calculator.invoke({"expression": "1 / 3"}) == "0.333333333333"
    assert calculator.parameters["required"] == ["expression"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("().__class__.__bases__", "Attribute is not allowed"),
        ("(1).real", "Attribute is not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("import os", "not an arithmetic expression"),
        ("open('/etc/passwd')", "function 'open' is not allowed"),
        ("sqrt.__globals__", "Attribute is not allowed"),
        ("[1, 2]", "List is not allowed"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("2 ^ 3", "use ** for powers"),
        ("1 << 100", "LShift is not allowed"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "cannot evaluate"),
        ("", "empty expression"),
        ("1 +", "not an arithmetic expression"),
    ],
)
def test_rejections(expression: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        safe_eval(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "9 ** 9 ** 9",
        "2 ** 100000",
        "10 ** 5000",
        "(2 ** 4000) * (2 ** 4000)",
        "(10 ** 1000) ** 5",
        "1.5 ** 100000",
    ],
)
def test_huge_numbers_are_refused_fast(expression: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ToolError, match="too large"):
        safe_eval(expression)
    assert time.perf_counter() - start < 0.5


def test_float_overflow_is_reported() -> None:
    with pytest.raises(ToolError, match="cannot evaluate"):
        safe_eval("10.0 ** 400")
    assert safe_eval("2 ** 4000") == 2**4000  # big but within bounds
    assert math.isclose(safe_eval("exp(1)"), math.e)


def test_deep_nesting_and_long_input_are_refused() -> None:
    with pytest.raises(ToolError):
        safe_eval("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(ToolError, match="longer than"):
        safe_eval("1+" * 600 + "1")


def test_calculator_errors_become_observations() -> None:
    ok, text = calculator.observe({"expression": "__import__('os').system('true')"})
    assert not ok and text.startswith("Error: calculator:")
