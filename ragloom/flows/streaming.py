"""``stream(..., mode=...)``: the run goes to a worker thread and every event it emits (state values, node
updates, LLM tokens, custom events, node records, interrupts) comes back through a queue as it happens, so a
consumer sees tokens while a node is still running.

Tokens: a :func:`ragloom.core.streaming.token_sink` is open around the run, so any LLM call that streams
into it (``llm.generate``, and ``complete`` of LocalLLM and OpenAICompatibleLLM, which stream when a sink is
open) becomes a ``tokens`` event naming the node that made the call.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ragloom.core.errors import ConfigError
from ragloom.core.streaming import token_sink
from ragloom.flows.control import current_task
from ragloom.flows.events import MODES, StreamEvent
from ragloom.flows.runner import run_sync

if TYPE_CHECKING:
    from ragloom.flows.runner import Run

_END: Any = object()


def _modes(mode: str | Sequence[str]) -> frozenset[str]:
    modes = [mode] if isinstance(mode, str) else [m for m in mode if m != "interrupt"]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ConfigError(
            f"stream(mode={mode!r}): unknown mode(s) {unknown}; use one or a list of {list(MODES)}"
        )
    return frozenset(modes) | {"interrupt"}


def _token_event(piece: str, key: str) -> StreamEvent:
    task = current_task()
    if task is None:
        return StreamEvent("tokens", {"text": piece, "key": key})
    node, step = task.where()
    return StreamEvent("tokens", {"text": piece, "key": key}, node, step, task.run.prefix.rstrip("/"))


def stream_run(run: Run, mode: str | Sequence[str], resumed: bool = False) -> Iterator[StreamEvent]:
    """Yield the run's events of the wanted modes, then re-raise its error if it failed."""
    wanted = _modes(mode)
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def emit(event: StreamEvent) -> None:
        if event.mode in wanted:
            events.put(event)

    run.emit = emit
    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            if "tokens" in wanted:
                with token_sink(lambda piece, key: emit(_token_event(piece, key))):
                    run_sync(run, resumed)
            else:
                run_sync(run, resumed)
        except BaseException as e:  # re-raised in the consumer
            outcome["error"] = e
        finally:
            events.put(_END)

    ctx = contextvars.copy_context()
    threading.Thread(
        target=ctx.run, args=(work,), daemon=True, name=f"ragloom-stream-{run.run_id[:8]}"
    ).start()
    while True:
        item = events.get()
        if item is _END:
            break
        yield item
    if "error" in outcome:
        raise outcome["error"]


async def astream_run(
    run: Run, mode: str | Sequence[str], resumed: bool = False
) -> AsyncIterator[StreamEvent]:
    """``stream_run`` for async consumers (an SSE endpoint): the run still goes to a worker thread; events
    come back through an asyncio queue, so the event loop is never blocked."""
    wanted = _modes(mode)  # a bad mode fails here, in the caller
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[Any] = asyncio.Queue()

    def work() -> None:
        try:
            for event in stream_run(run, sorted(wanted), resumed):
                loop.call_soon_threadsafe(events.put_nowait, event)
            loop.call_soon_threadsafe(events.put_nowait, _END)
        except BaseException as e:  # re-raised in the consumer
            loop.call_soon_threadsafe(events.put_nowait, _Failed(e))

    ctx = contextvars.copy_context()
    threading.Thread(
        target=ctx.run, args=(work,), daemon=True, name=f"ragloom-astream-{run.run_id[:8]}"
    ).start()
    while True:
        item = await events.get()
        if item is _END:
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error
