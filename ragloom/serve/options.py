"""Per-request LLM options and cancellation, without touching the flow: the run's ``llm`` resource is
wrapped for one request, so ``max_tokens``, ``temperature``, ``stop`` (...) of the chat request override the
options the flow's LLM nodes pass, and a run whose client went away stops at its next LLM call or token."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragloom.core.streaming import token_sink
from ragloom.core.types import Completion, Message
from ragloom.serve.errors import RunCancelledError


@dataclass
class RunControl:
    """What one request asks of its run: LLM option overrides and a cancel flag set on disconnect."""

    options: dict[str, Any] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        if self.cancelled.is_set():
            raise RunCancelledError("the client disconnected; the run was cancelled")


class RequestLLM:
    """An LLM for one request: ``control.options`` win over the node's options; checks the cancel flag.

    Anything else (``count_tokens``, ``context_window``, ...) is the wrapped LLM's.
    """

    def __init__(self, llm: Any, control: RunControl) -> None:
        self._llm, self._control = llm, control

    @property
    def model(self) -> str:
        return str(self._llm.model)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        self._control.check()
        return {**options, **self._control.options}

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return self._llm.complete(messages, **self._options(options))  # type: ignore[no-any-return]

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return await self._llm.acomplete(messages, **self._options(options))  # type: ignore[no-any-return]

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        pieces = iter(self._llm.stream(messages, **self._options(options)))
        try:
            for piece in pieces:
                self._control.check()
                yield piece
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # a generator holding the model's lock lets go now, not when collected

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        async for piece in self._llm.astream(messages, **self._options(options)):
            self._control.check()
            yield piece


def with_control(context: dict[str, Any], control: RunControl) -> dict[str, Any]:
    """The run's resources with its ``llm`` wrapped for this request (unchanged when there is none)."""
    llm = context.get("llm")
    return {**context, "llm": RequestLLM(llm, control)} if llm is not None else context


def run_watched(call: Callable[[dict[str, Any]], Any], context: dict[str, Any], control: RunControl) -> Any:
    """``call(context)`` with a token sink that only checks the cancel flag: the answer's LLM node then
    streams (see :mod:`ragloom.core.streaming`), so a run whose client left stops mid-answer, not after it."""

    def check(piece: str, key: str) -> None:
        control.check()

    with token_sink(check):
        return call(context)
