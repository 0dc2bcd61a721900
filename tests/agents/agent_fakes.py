"""Shared by the ReAct agent tests: the base of their scripted FakeLLMs (the collaborators of the agent)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from ragloom.core.types import Completion, Message


class CompleteOnlyFakeLLM:
    """A FakeLLM written as ``complete`` alone: ``acomplete`` answers the same, and ``stream``/``astream``
    yield its text as one piece, so a subclass satisfies the LLM protocol."""

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        raise NotImplementedError

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return self.complete(messages, **options)

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        yield self.complete(messages, **options).text

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        yield self.complete(messages, **options).text
