"""A context-local sink for LLM usage, so that any LLM call made inside a flow step is charged to that step.

The LLM layer calls :func:`report_usage` after every call; the flow runner opens a :func:`usage_sink` around
each node. This keeps the dependency direction one way (llm does not import flows) and needs no plumbing
through user code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ragloom.core.types import Usage

UsageListener = Callable[[Usage, str], None]

_sinks: ContextVar[tuple[UsageListener, ...]] = ContextVar("ragloom_usage_sinks", default=())
_call_timing: ContextVar[tuple[float, float | None]] = ContextVar("ragloom_call_timing", default=(0.0, None))


def report_usage(usage: Usage, model: str = "", seconds: float | None = None) -> None:
    """Tell every open sink (innermost first) that ``usage`` was spent on ``model``.

    ``seconds`` is how long the call took, when the caller timed it; listeners that want it (trace records,
    for LLM-call spans) read :func:`reported_call_timing` while they are called. A context variable keeps
    the two-argument listener signature every sink already has.
    """
    sinks = _sinks.get()
    if not sinks:
        return
    token = _call_timing.set((time.time(), seconds))
    try:
        for listener in sinks:
            listener(usage, model)
    finally:
        _call_timing.reset(token)


def reported_call_timing() -> tuple[float, float | None]:
    """Inside a usage listener: ``(end, seconds)`` of the call being reported: when it was reported
    (wall clock, the same for every listener) and how long it took (None when not timed)."""
    return _call_timing.get()


@contextmanager
def usage_sink(listener: UsageListener) -> Iterator[None]:
    """Send usage reported inside this block (same thread/task and its children) to ``listener``."""
    token = _sinks.set((listener, *_sinks.get()))
    try:
        yield
    finally:
        _sinks.reset(token)


class UsageMeter:
    """A listener that adds usage up; ``with meter.measure(): ...``."""

    def __init__(self) -> None:
        self.total = Usage()
        self.by_model: dict[str, Usage] = {}

    def __call__(self, usage: Usage, model: str) -> None:
        self.total = self.total + usage
        self.by_model[model] = self.by_model.get(model, Usage()) + usage

    @contextmanager
    def measure(self) -> Iterator[UsageMeter]:
        with usage_sink(self):
            yield self


def push_sink(listener: UsageListener) -> object:
    """``usage_sink`` without the context manager (hot paths): returns a token for :func:`pop_sink`."""
    return _sinks.set((listener, *_sinks.get()))


def pop_sink(token: object) -> None:
    _sinks.reset(token)  # type: ignore[arg-type]
