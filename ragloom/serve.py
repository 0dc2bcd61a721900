"""Serve any flow over HTTP (Starlette on uvicorn): ``ragloom serve FLOW.yaml``.

Endpoints:
- ``POST /runs``: body = the initial state (JSON object); answer = final state, status, run id and a trace
  summary (per-step time, tokens, cost; totals). A failed run's error names its run id; with a checkpointer
  ``POST /runs/{run_id}/resume`` (body: an optional state update) continues it from its last good step.
- ``POST /v1/chat/completions``: OpenAI-compatible, for flows whose input is a question: the last user message
  becomes ``state[input_key]`` and ``state[output_key]`` the assistant message; ``stream: true`` answers as
  server-sent events, token by token while the answer's ``llm.generate`` node runs (through
  :mod:`ragloom.core.streaming`), else word by word at the end. Any OpenAI client (ours included) can talk
  to a flow this way.
- ``GET /v1/models`` (the flow, as the one model) and ``GET /health``.

Flows run in a worker thread (nodes may load models and block), so the event loop keeps serving.
Errors come back as JSON ``{"error": {"message", "type"}}``: 400/422 for bad input, 500 for a failed run.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragloom.core.errors import NodeExecutionError, RagloomError, StateUpdateError, StepLimitError
from ragloom.core.streaming import token_sink
from ragloom.core.types import Usage


def _error(status: int, message: str, kind: str, run_id: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": kind}
    if run_id is not None:
        error["run_id"] = run_id
    return JSONResponse({"error": error}, status_code=status)


def _jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)


def _read_state(state: Any, key: str) -> Any:
    return state.get(key) if isinstance(state, dict) else getattr(state, key, None)


def trace_payload(result: Any) -> dict[str, Any]:
    """The trace of a RunResult as JSON: totals, per-step records and the rendered summary table."""
    trace = result.trace
    usage = trace.usage
    return {
        "summary": trace.summary(),
        "steps": [r.to_dict() for r in trace],
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "duration_s": trace.duration,
    }


class FlowApp:
    """The endpoints of one compiled flow; ``app`` is the Starlette application."""

    def __init__(
        self,
        compiled: Any,
        context: Mapping[str, Any] | None = None,
        input_key: str = "question",
        output_key: str = "answer",
    ) -> None:
        self.compiled = compiled
        self.context = dict(context or {})
        self.input_key = input_key
        self.output_key = output_key
        self.name = str(getattr(getattr(compiled, "builder", None), "name", "") or "flow")
        self.app = Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/runs", self.runs, methods=["POST"]),
                Route("/runs/{run_id}/resume", self.resume, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
            ]
        )

    async def _run(self, state: dict[str, Any], resume_id: str | None = None) -> Any | JSONResponse:
        """Run (or resume) the flow in a worker thread; a JSONResponse when it fails.

        The run id is chosen here so that a failed run can be named in the error: with a checkpointer, its
        state up to the failing step is kept and ``POST /runs/{run_id}/resume`` continues it.
        """
        run_id = resume_id or uuid.uuid4().hex
        try:
            if resume_id is not None:
                return await run_in_threadpool(self.compiled.resume, resume_id, state or None, self.context)
            return await run_in_threadpool(self.compiled.invoke, state, self.context, run_id)
        except StateUpdateError as e:
            return _error(422, str(e), "invalid_state", run_id)
        except (NodeExecutionError, StepLimitError) as e:
            return _error(500, f"flow {self.name!r} failed: {e}", "run_failed", run_id)
        except RagloomError as e:
            return _error(400, str(e), "bad_request", run_id)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "flow": self.name})

    async def models(self, request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": self.name, "object": "model", "owned_by": "ragloom"}]}
        )

    async def runs(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        scope = _where_of(body)
        if isinstance(scope, Response):
            return scope
        return self._run_response(await self._run(body))

    async def resume(self, request: Request) -> Response:
        """Continue a failed or interrupted run from its last checkpoint; the body is a state update."""
        if getattr(self.compiled, "checkpointer", None) is None:
            return _error(
                400, "resuming needs a checkpointer: start the server with --checkpoint FILE", "bad_request"
            )
        body = await _json_body(request) if await request.body() else {}
        if isinstance(body, Response):
            return body
        return self._run_response(await self._run(body, resume_id=request.path_params["run_id"]))

    def _run_response(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        return JSONResponse(
            {
                "run_id": result.run_id,
                "status": result.status,
                "interrupted_before": result.interrupted_before,
                "state": _jsonable(result.state),
                "trace": trace_payload(result),
            }
        )

    async def chat(self, request: Request) -> Response:
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        question = _last_user_message(body.get("messages"))
        if question is None:
            return _error(
                400, "messages must hold at least one user message with text content", "bad_request"
            )
        scope = _where_of(body)
        if isinstance(scope, Response):
            return scope
        if body.get("stream"):
            events = self._stream_chat(question, body, uuid.uuid4().hex)
            return StreamingResponse(events, media_type="text/event-stream")
        result = await self._run({self.input_key: question, **scope})
        if isinstance(result, Response):
            return result
        answer = str(_read_state(result.state, self.output_key) or "")
        usage_json = _usage_json(result.trace.usage)
        cid, created = f"chatcmpl-{result.run_id}", int(time.time())
        return JSONResponse(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": self.name,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                ],
                "usage": usage_json,
                "ragloom": {"run_id": result.run_id, "state": _jsonable(result.state)},
            }
        )

    async def _stream_chat(self, question: str, body: dict[str, Any], run_id: str) -> AsyncIterator[bytes]:
        """SSE for ``stream: true``: the answer's tokens as its ``llm.generate`` node produces them, a
        comment line per finished flow step (progress, and it keeps clients' read timeouts from firing on
        long runs), then whatever of the final answer was not streamed, usage and ``[DONE]``.
        A failing run sends an ``error`` event naming the run id."""
        cid, created = f"chatcmpl-{run_id}", int(time.time())
        yield _chunk(cid, created, self.name, {"role": "assistant", "content": ""})
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._start_streamed_run(question, run_id, asyncio.get_running_loop(), queue, _where_of(body))
        streamed = ""
        while True:
            kind, value = await queue.get()
            if kind == "token":
                streamed += value
                yield _chunk(cid, created, self.name, {"content": value})
            elif kind == "step":
                yield f": step {value} done\n\n".encode()
            elif kind == "error":
                error = {
                    "message": f"flow {self.name!r} failed: {value}",
                    "type": "run_failed",
                    "run_id": run_id,
                }
                yield f"data: {json.dumps({'error': error})}\n\n".encode()
                return
            else:
                break
        last, usage = value
        answer = str(_read_state(last.state, self.output_key) or "") if last is not None else ""
        for piece in _pieces(_unsent(answer, streamed)):
            yield _chunk(cid, created, self.name, {"content": piece})
        yield _chunk(cid, created, self.name, {}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.name}
            yield f"data: {json.dumps({**payload, 'choices': [], 'usage': _usage_json(usage)})}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def _start_streamed_run(
        self,
        question: str,
        run_id: str,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[Any],
        scope: Any = None,
    ) -> None:
        """Run the flow in a worker thread, putting ("token", piece), ("step", node), then ("done", (last
        event, usage)) or ("error", exception) on ``queue``."""

        def send(kind: str, value: Any) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        def token(piece: str, key: str) -> None:
            if key == self.output_key:  # other LLM nodes (a query rewrite, ...) are not the answer
                send("token", piece)

        def work() -> None:
            last, usage = None, Usage()
            try:
                with token_sink(token):
                    state = {self.input_key: question, **(scope if isinstance(scope, dict) else {})}
                    for event in self.compiled.stream(state, self.context, run_id):
                        last, usage = event, usage + event.record.usage
                        send("step", event.node)
                send("done", (last, usage))
            except Exception as e:  # sent to the client as an error event
                send("error", e)

        threading.Thread(target=work, daemon=True, name=f"ragloom-run-{run_id[:8]}").start()


def _unsent(answer: str, streamed: str) -> str:
    """What the client has not seen of the final ``answer``: all of it when nothing was streamed; the tail a
    node added after streaming (e.g. a citation marker) when the answer extends what was sent; else nothing
    (sent text cannot be taken back, and the final state is in ``/runs`` for clients that need it)."""
    if not streamed:
        return answer
    sent = streamed.strip()
    return answer[len(sent) :] if answer.startswith(sent) else ""


def _usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _chunk(cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


async def _json_body(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "the request body is not valid JSON", "bad_request")
    if not isinstance(body, dict):
        return _error(
            400, f"the request body must be a JSON object, got {type(body).__name__}", "bad_request"
        )
    return body


def _where_of(body: dict[str, Any]) -> dict[str, Any] | Response:
    """``{"where": filter}`` from a request body (the flow's retrieve nodes read state key ``where``); a
    malformed filter is the client's mistake: 400 naming field and operator, before anything runs."""
    where = body.get("where")
    if where is None:
        return {}
    from ragloom.retrieval.filters import compile_filter

    try:
        compile_filter(where)
    except RagloomError as e:
        return _error(400, str(e), "bad_request")
    return {"where": where}


def _last_user_message(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
            return str(content) if content else None
    return None


def _pieces(text: str) -> Iterator[str]:
    """Split ``text`` into word pieces that concatenate back to ``text``."""
    start = 0
    for i in range(1, len(text)):
        if text[i] == " " and text[i - 1] != " ":
            yield text[start:i]
            start = i
    if start < len(text):
        yield text[start:]


def create_app(
    compiled: Any,
    context: Mapping[str, Any] | None = None,
    input_key: str = "question",
    output_key: str = "answer",
) -> Starlette:
    """The Starlette app serving ``compiled`` (a CompiledFlow); ``context`` = the runs' resources."""
    return FlowApp(compiled, context, input_key, output_key).app


class ServerThread:
    """uvicorn serving ``app`` in a background thread, on a socket bound before start (port 0 = any free).

    For tests and notebooks: ``with ServerThread(app) as server: httpx.get(server.url + "/health")``.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True, name="ragloom-serve"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                crashed = not self.thread.is_alive()
                self.stop()  # __exit__ does not run when __enter__ raises: free the bound port here
                if crashed:
                    raise RuntimeError(f"the HTTP server on {self.url} failed to start (see the error above)")
                raise RuntimeError(f"the HTTP server on {self.url} did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serving(compiled: Any, context: Mapping[str, Any] | None = None, **keys: str) -> Iterator[ServerThread]:
    """Serve ``compiled`` on a free loopback port for the duration of the block."""
    with ServerThread(create_app(compiled, context, **keys)) as server:
        yield server
