"""Server-sent events for OpenAI-style streaming: parse ``data:`` lines and fold chunks into a completion.

Pure functions over lines so they can be tested without a server. A stream that ends without ``data: [DONE]``
and without a ``finish_reason`` was cut off: :class:`StreamAccumulator.finish` raises LLMStreamError then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ragloom.core.errors import LLMStreamError
from ragloom.core.types import ToolCall
from ragloom.llm.toolcalls import parse_tool_arguments

DONE = object()


def parse_sse_line(line: str) -> dict[str, Any] | object | None:
    """One SSE line -> a JSON chunk, :data:`DONE`, or None (comments, blank lines, other fields)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    if not payload:
        return None
    try:
        chunk = json.loads(payload)
    except json.JSONDecodeError as e:
        raise LLMStreamError(f"malformed server-sent event (not JSON): {payload[:200]!r}") from e
    if isinstance(chunk, dict) and "error" in chunk:
        err = chunk["error"]
        msg = err.get("message", err) if isinstance(err, dict) else err
        raise LLMStreamError(f"the server reported an error mid-stream: {msg}")
    return chunk


@dataclass
class StreamAccumulator:
    """Folds streamed chunks into text, tool calls, finish reason and usage."""

    text: list[str] = field(default_factory=list)
    tool_parts: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str = ""
    done: bool = False

    def add(self, chunk: dict[str, Any]) -> str:
        """Absorb one chunk; return its text delta ('' when none)."""
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        delta_text = ""
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            delta_text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or ():
                part = self.tool_parts.setdefault(tc.get("index", 0), {"id": "", "name": "", "arguments": ""})
                part["id"] = tc.get("id") or part["id"]
                fn = tc.get("function") or {}
                part["name"] += fn.get("name") or ""
                part["arguments"] += fn.get("arguments") or ""
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if delta_text:
            self.text.append(delta_text)
        return delta_text

    def feed_lines(self, lines: Iterator[str]) -> Iterator[str]:
        """Parse lines, yielding text deltas, until ``[DONE]`` or the end of the lines."""
        for line in lines:
            event = parse_sse_line(line)
            if event is DONE:
                self.done = True
                return
            if isinstance(event, dict):
                delta = self.add(event)
                if delta:
                    yield delta

    def finish(self) -> None:
        """Raise LLMStreamError when the stream was cut off before its end."""
        if not self.done and self.finish_reason is None:
            got = len("".join(self.text))
            raise LLMStreamError(
                f"the stream ended before 'data: [DONE]' (after {got} characters, no finish_reason): "
                "the connection was cut or the server crashed; retry the call"
            )

    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(p["id"] or f"call_{i}", p["name"], parse_tool_arguments(p["name"], p["arguments"]))
            for i, p in sorted(self.tool_parts.items())
        )
