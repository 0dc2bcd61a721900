"""A safe arithmetic evaluator: Python's parser, a whitelist of AST nodes, and no ``eval``.

Why not ``eval`` with empty builtins: attribute access (``().__class__.__bases__``) escapes any namespace
restriction, and ``9**9**9`` hangs the process. Walking the AST ourselves allows exactly numbers, the
arithmetic operators, parentheses and a few math functions, and bounds the size of every intermediate result.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from ragloom.core.errors import ToolError
from ragloom.tools.base import Tool, tool

Number = int | float

MAX_EXPRESSION_CHARS = 1000
MAX_INT_BITS = 4096  # ~1233 decimal digits: plenty for arithmetic, small enough to stay instant
MAX_EXPONENT = 10_000

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "min": min,
    "max": max,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def safe_eval(expression: str) -> Number:
    """Evaluate an arithmetic expression; anything outside the whitelist raises a ToolError saying why."""
    text = expression.strip().rstrip("=").strip()
    if not text:
        raise ToolError('calculator: empty expression; send e.g. {"expression": "(2 + 3) * 4"}')
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"calculator: expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise ToolError(f"calculator: {text!r} is not an arithmetic expression ({type(e).__name__})") from e
    try:
        return _eval(tree.body)
    except ToolError:
        raise
    except ZeroDivisionError as e:
        raise ToolError(f"calculator: division by zero in {text!r}") from e
    except (OverflowError, ValueError, TypeError, RecursionError) as e:
        raise ToolError(f"calculator: cannot evaluate {text!r}: {e}") from e


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolError(f"calculator: only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            hint = " (use ** for powers)" if isinstance(node.op, ast.BitXor) else ""
            raise ToolError(f"calculator: operator {type(node.op).__name__} is not allowed{hint}")
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        elif isinstance(node.op, ast.Mult):
            _check_product(left, right)
        return _check_size(op(left, right))
    if isinstance(node, ast.UnaryOp):
        unary = _UNARY.get(type(node.op))
        if unary is None:
            raise ToolError(f"calculator: operator {type(node.op).__name__} is not allowed")
        return unary(_eval(node.operand))
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(f"calculator: unknown name {node.id!r}; allowed constants: {', '.join(_CONSTANTS)}")
    raise ToolError(
        f"calculator: {type(node).__name__} is not allowed; use numbers, + - * / // % **, parentheses "
        f"and the functions {', '.join(_FUNCTIONS)}"
    )


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        shown = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
        raise ToolError(f"calculator: function {shown!r} is not allowed; allowed: {', '.join(_FUNCTIONS)}")
    if node.keywords:
        raise ToolError("calculator: keyword arguments are not allowed")
    args = [_eval(a) for a in node.args]
    if node.func.id == "round" and len(args) > 1 and isinstance(args[1], int) and abs(args[1]) > MAX_EXPONENT:
        # round(int, -n) computes 10**n: a huge n would hang the process like 9**9**9
        raise ToolError(f"calculator: round() digits {args[1]} out of range (limit {MAX_EXPONENT})")
    return _check_size(_FUNCTIONS[node.func.id](*args))


def _check_power(base: Number, exponent: Number) -> None:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"calculator: exponent {exponent} is too large (limit {MAX_EXPONENT})")
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) <= 1:
        return
    if max(1, abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
        raise ToolError(f"calculator: {base}**{exponent} is too large (over {MAX_INT_BITS} bits)")


def _check_product(left: Number, right: Number) -> None:
    ints = isinstance(left, int) and isinstance(right, int)
    if ints and abs(int(left)).bit_length() + abs(int(right)).bit_length() > MAX_INT_BITS + 1:
        raise ToolError(f"calculator: product is too large (over {MAX_INT_BITS} bits)")


def _check_size(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"calculator: result {value!r} is not a number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError(f"calculator: result is too large (over {MAX_INT_BITS} bits)")
    return value


def format_number(value: Number) -> str:
    """Integers exactly; floats with up to 12 significant digits, integral floats without '.0'."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.12g}"
    return str(value)


def _calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return the number.

    Supports numbers, + - * / // % ** (power), parentheses, sqrt, exp, log, log10, log2, sin, cos, tan,
    abs, round, floor, ceil, min, max and the constants pi, e, tau.

    Args:
        expression: The arithmetic expression, e.g. "(17 + 25) * 3".
    """
    return format_number(safe_eval(expression))


calculator: Tool = tool(_calculator, name="calculator")
