"""``stream: true``: a flow run in the runs' worker pool feeding server-sent events.

No thread of its own: the run takes a worker of :class:`~ragloom.serve.limits.RunSlots` (so 200 streams wait
for 8 workers rather than start 200 threads) and posts its events to the event loop through a queue. The
first event is awaited before any byte is sent, so a run that fails at once (a question over the model's
context) still gets a proper 4xx status; later failures become an ``error`` event. When the client goes
away the run is cancelled at its next token or step.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ragloom.core.streaming import token_sink
from ragloom.core.types import Usage
from ragloom.serve.chat import ChatRequest, chunk, pieces, sse, unsent, usage_json
from ragloom.serve.errors import ApiError, run_error
from ragloom.serve.limits import RunSlots
from ragloom.serve.options import RunControl, with_control

Event = tuple[str, Any]


class StreamedRun:
    """One streamed chat run: start it, then iterate :meth:`events` (SSE bytes)."""

    def __init__(self, app: Any, chat: ChatRequest, state: dict[str, Any], run_id: str) -> None:
        self.app, self.chat, self.state, self.run_id = app, chat, state, run_id
        self.control = RunControl(dict(chat.options))
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.cid, self.created = f"chatcmpl-{run_id}", int(time.time())

    async def start(self, slots: RunSlots) -> Event:
        """Start the run (the caller holds a slot, released when the run ends) and return its first event;
        ApiError when the run fails before producing anything."""
        loop = asyncio.get_running_loop()

        def send(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is closed (server shutting down): nobody is listening
                self.control.cancelled.set()

        work = asyncio.ensure_future(slots.run_in_thread(self._work, send))
        work.add_done_callback(lambda _: slots.release())
        first = await self.queue.get()
        if first[0] == "error":
            raise run_error(first[1], self.app.name, {"run_id": self.run_id})
        return first

    def _work(self, send: Callable[[str, Any], None]) -> None:
        """In a worker thread: run the flow, posting ("token", piece), ("step", node), then ("done", (last
        event, usage)) or ("error", exception)."""
        control = self.control

        def token(piece: str, key: str) -> None:
            control.check()
            if key == self.app.output_key:  # other LLM nodes (a query rewrite, ...) are not the answer
                send("token", piece)

        last, usage = None, Usage()
        try:
            context = with_control(self.app.context, control)
            with token_sink(token):
                for event in self.app.compiled.stream(self.state, context, self.run_id):
                    last, usage = event, usage + event.record.usage
                    send("step", event.node)
                    control.check()
            send("done", (last, usage))
        except Exception as e:  # sent to the client as an error (status or event)
            send("error", e)

    async def events(self, first: Event) -> AsyncIterator[bytes]:
        """The SSE stream: role chunk, tokens, a comment per finished step (progress; keeps clients' read
        timeouts from firing), the rest of the answer, ``finish_reason``, usage when asked, ``[DONE]``."""
        name = self.app.name
        try:
            yield chunk(self.cid, self.created, name, {"role": "assistant", "content": ""})
            streamed, event = "", first
            while event[0] in ("token", "step"):
                if event[0] == "token":
                    streamed += event[1]
                    yield chunk(self.cid, self.created, name, {"content": event[1]})
                else:
                    yield f": step {event[1]} done\n\n".encode()
                event = await self.queue.get()
            if event[0] == "error":
                yield self._error_event(event[1])
                return
            async for part in self._finish(event[1], streamed):
                yield part
        finally:
            self.control.cancelled.set()  # the client went away (or we are done): stop the run

    async def _finish(self, done: tuple[Any, Usage], streamed: str) -> AsyncIterator[bytes]:
        last, usage = done
        answer = str(_read_state(last.state, self.app.output_key) or "") if last is not None else ""
        for piece in pieces(unsent(answer, streamed)):
            yield chunk(self.cid, self.created, self.app.name, {"content": piece})
        yield chunk(self.cid, self.created, self.app.name, {}, "stop")
        if self.chat.include_usage:
            payload = {"id": self.cid, "object": "chat.completion.chunk", "created": self.created}
            yield sse({**payload, "model": self.app.name, "choices": [], "usage": usage_json(usage)})
        yield b"data: [DONE]\n\n"

    def _error_event(self, error: Exception) -> bytes:
        try:
            api = run_error(error, self.app.name, {"run_id": self.run_id})
        except Exception as e:  # not a flow error: still an event, not a broken stream
            api = ApiError(500, f"flow {self.app.name!r} failed: {type(e).__name__}", code="run_failed")
        body = {"message": api.message, "type": api.kind, "param": api.param, "code": api.code, **api.extra}
        return f"data: {json.dumps({'error': body})}\n\n".encode()


def _read_state(state: Any, key: str) -> Any:
    return state.get(key) if isinstance(state, dict) else getattr(state, key, None)
