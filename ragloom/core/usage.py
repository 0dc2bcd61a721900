"""A context-local sink for LLM usage, so that any LLM call made inside a flow step is charged to that step.

The LLM layer calls :func:`report_usage` after every call; the flow runner opens a :func:`usage_sink` around
each node. This keeps the dependency direction one way (llm does not import flows) and needs no plumbing
through user code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ragloom.core.types import Usage

UsageListener = Callable[[Usage, str], None]

_sinks: ContextVar[tuple[UsageListener, ...]] = ContextVar("ragloom_usage_sinks", default=())


def report_usage(usage: Usage, model: str = "") -> None:
    """Tell every open sink (innermost first) that ``usage`` was spent on ``model``."""
    for listener in _sinks.get():
        listener(usage, model)


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
