"""Plain data types shared by every room: documents, chunks, hits, usage, messages and completions.

They are frozen dataclasses (cheap, hashable, no validation cost on the hot path); pydantic is used
where user input is validated (flow state, config), not for these internal records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Document:
    """A source text with a stable id (file path, BEIR `_id`, …)."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document that keeps its character span: ``source[start:end] == text``.

    Keeping the span is what lets any hit be traced back to its source and scored against gold spans.
    """

    text: str
    doc_id: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Stable id derived from the document and the span."""
        return f"{self.doc_id}#{self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk with the score the producing component gave it (higher is better)."""

    chunk: Chunk
    score: float
    source: str = ""

    @property
    def id(self) -> str:
        return self.chunk.id

    @property
    def text(self) -> str:
        return self.chunk.text

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    def with_score(self, score: float, source: str | None = None) -> Hit:
        return replace(self, score=float(score), source=self.source if source is None else source)


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens and money spent by one or more LLM calls. Adds up with ``+``."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
            self.calls + other.calls,
        )


Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call a tool; ``arguments`` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message in the OpenAI shape."""

    role: Role
    content: str
    name: str | None = None
    tool_call_id: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    """What an LLM call returns: text, usage, tool calls and (when the backend has them) token log-probs."""

    text: str
    usage: Usage = Usage()
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""
    finish_reason: str | None = None
    logprobs: tuple[float, ...] | None = None
