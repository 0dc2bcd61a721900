"""A context-local sink for answer tokens, so a server can stream an answer while the flow is still running.

``ragloom serve`` opens a :func:`token_sink` around a streamed run; the answer-writing LLM node
(``llm.generate``) sees it through :func:`token_listener`, streams from its LLM instead of waiting for the
whole completion, and hands each piece over with the state key it is writing. Like the usage sink, this
keeps the dependency one way (llm and flows do not import serve) and contextvars carry it into the flow's
worker threads. Without an open sink nothing changes: nodes call ``complete`` as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["TokenListener", "token_listener", "token_sink"]

#: Called with (piece of text, the state key the piece belongs to).
TokenListener = Callable[[str, str], None]

_listener: ContextVar[TokenListener | None] = ContextVar("ragloom_token_listener", default=None)


@contextmanager
def token_sink(listener: TokenListener) -> Iterator[None]:
    """Send answer tokens produced inside this block (same thread/task and its children) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def token_listener() -> TokenListener | None:
    """The open sink's listener, or None when nobody is streaming."""
    return _listener.get()
