"""Conversions between our :class:`Message` records and the OpenAI wire shape, plus input coercion.

Every LLM accepts ``Sequence[Message]``; :func:`as_messages` also takes a plain string (one user message) or
OpenAI-style dicts, so scripts and the HTTP server can hand over what they have.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from ragloom.core.errors import ConfigError
from ragloom.core.types import Message, Role, ToolCall

_ROLES = ("system", "user", "assistant", "tool")


def as_messages(messages: str | Message | Mapping[str, Any] | Iterable[Any]) -> tuple[Message, ...]:
    """Coerce a string, a Message, an OpenAI dict or a sequence of those into a tuple of Messages."""
    if isinstance(messages, str):
        return (Message("user", messages),)
    if isinstance(messages, Message | Mapping):
        messages = [messages]
    out = []
    for i, m in enumerate(messages):
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            out.append(message_from_openai(m, where=f"messages[{i}]"))
        else:
            raise ConfigError(
                f"messages[{i}] is a {type(m).__name__}; pass Message objects or OpenAI-style dicts"
            )
    return tuple(out)


def message_from_openai(data: Mapping[str, Any], where: str = "message") -> Message:
    """Parse one OpenAI chat message dict (content may be a list of text parts)."""
    role = data.get("role")
    if role not in _ROLES:
        raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(_ROLES)}")
    content = data.get("content") or ""
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    calls = tuple(tool_call_from_openai(c) for c in data.get("tool_calls") or ())
    return Message(cast(Role, role), str(content), data.get("name"), data.get("tool_call_id"), calls)


def tool_call_from_openai(data: Mapping[str, Any]) -> ToolCall:
    """Parse an OpenAI tool call whose ``function.arguments`` is a JSON string (or already a dict)."""
    from ragloom.llm.toolcalls import parse_tool_arguments

    fn = data.get("function") or {}
    name = str(fn.get("name") or "")
    return ToolCall(str(data.get("id") or ""), name, parse_tool_arguments(name, fn.get("arguments")))


def to_openai(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The OpenAI wire shape of ``messages``."""
    out = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.name:
            d["name"] = m.name
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            d["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in m.tool_calls
            ]
        out.append(d)
    return out


def tool_to_openai(tool: Any) -> dict[str, Any]:
    """An OpenAI tool spec from a dict, or from an object with ``to_openai()`` / ``openai_schema()``."""
    if isinstance(tool, Mapping):
        return dict(tool)
    for attr in ("to_openai", "openai_schema", "to_openai_tool"):
        fn = getattr(tool, attr, None)
        if callable(fn):
            return dict(fn())
    raise ConfigError(
        f"tool {tool!r} is not an OpenAI tool dict and has no to_openai() method; "
        "pass {'type': 'function', 'function': {'name', 'description', 'parameters'}}"
    )
