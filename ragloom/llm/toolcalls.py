"""Parsing of tool-call arguments, which models often emit as slightly broken JSON.

Why a repair step: small and quantized models (and some servers) produce trailing commas, code fences, single
quotes or a missing closing brace. We repair the common cases deterministically; anything else raises a
:class:`ToolCallParseError` naming the tool and showing the raw text, so an agent can feed it back to the
model.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ragloom.core.errors import LLMError


class ToolCallParseError(LLMError):
    """A tool call's arguments are not a JSON object, even after repair."""

    def __init__(self, message: str, tool: str = "", raw: str = "") -> None:
        self.tool, self.raw = tool, raw
        super().__init__(message)


_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def repair_json(text: str) -> str:
    """Best-effort fix of common JSON slips: code fences, trailing commas, unbalanced closing brackets."""
    text = _FENCE.sub("", text.strip())
    stack = []
    in_str = escaped = False
    for ch in text:
        if in_str:
            escaped, in_str = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    if in_str:
        text += '"'
    return _TRAILING_COMMA.sub(r"\1", text + "".join(reversed(stack)))


def parse_tool_arguments(tool: str, raw: Any) -> dict[str, Any]:
    """The arguments of a tool call as a dict; repairs common slips, else raises ToolCallParseError."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    text = str(raw)
    for candidate in (text, repair_json(text)):
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
        raise ToolCallParseError(
            f"tool call {tool!r}: arguments must be a JSON object, got {type(value).__name__}: "
            f"{text[:200]!r}",
            tool,
            text,
        )
    raise ToolCallParseError(
        f"tool call {tool!r}: arguments are not valid JSON even after repair: {text[:200]!r}. "
        "Ask the model to call the tool again with a JSON object of arguments.",
        tool,
        text,
    )
