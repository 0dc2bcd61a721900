"""Usage of one call: from the server's numbers when given, else counted with a tokenizer; then reported.

Reporting goes through :func:`ragloom.core.usage.report_usage`, so a call made inside a flow step is charged
to that step in the trace without any plumbing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Message, Usage
from ragloom.core.usage import report_usage
from ragloom.llm.pricing import make_usage


def count_prompt(counter: TokenCounter, messages: Sequence[Message]) -> int:
    """Prompt tokens with the chat template when the counter knows it, else the sum of contents."""
    count_messages = getattr(counter, "count_messages", None)
    if callable(count_messages):
        return int(count_messages(messages))
    return sum(counter.count_tokens(m.content) for m in messages)


def usage_from_server(
    model: str,
    server_usage: Mapping[str, Any] | None,
    messages: Sequence[Message],
    completion_text: str,
    counter: TokenCounter | None,
) -> Usage:
    """The server's token counts when present, else counted with ``counter`` (0 when there is none)."""
    if server_usage and server_usage.get("prompt_tokens") is not None:
        return make_usage(
            model,
            int(server_usage.get("prompt_tokens") or 0),
            int(server_usage.get("completion_tokens") or 0),
        )
    if counter is None:
        from ragloom.llm.tokens import default_token_counter

        counter = default_token_counter()
    return make_usage(model, count_prompt(counter, messages), counter.count_tokens(completion_text))


def report(usage: Usage, model: str, started: float | None = None) -> Usage:
    """Send ``usage`` to the open usage sinks (the running flow step) and return it.

    ``started`` is the ``time.perf_counter()`` reading taken when the call began (for LLM-call spans)."""
    seconds = None if started is None else max(0.0, time.perf_counter() - started)
    report_usage(usage, model, seconds)
    return usage
