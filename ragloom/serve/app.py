"""The routes of one served flow (:class:`FlowApp`) and :func:`create_app`, which wraps them in the guard.

Endpoints:
- ``POST /runs``: body = the flow's input keys (JSON object); answer = final state, status, run id, run token
  and a trace summary. With a checkpointer, ``POST /runs/{run_id}/resume`` (body: an optional update of input
  keys; header ``X-Ragloom-Run-Token``) continues a failed or interrupted run from its last good step.
- ``POST /v1/chat/completions``: OpenAI-compatible (see :mod:`ragloom.serve.chat` for the fields); the
  question goes to ``state[input_key]``, the answer is ``state[output_key]``; ``stream: true`` sends SSE.
- ``POST /v1/embeddings``: the index's embedder, OpenAI's shape (see :mod:`ragloom.serve.embeddings`).
- ``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /health``.

Flows run in the bounded worker pool of :class:`~ragloom.serve.limits.RunSlots`; a run is cancelled when
its client disconnects. Errors are OpenAI-shaped JSON (:mod:`ragloom.serve.errors`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragloom.serve.body import json_object
from ragloom.serve.chat import ChatRequest, check_where, completion_json, parse_chat
from ragloom.serve.embeddings import embeddings_response
from ragloom.serve.errors import (
    ApiError,
    api_error_handler,
    bad_request,
    http_error_handler,
    run_error,
    server_error_handler,
)
from ragloom.serve.guard import LOOPBACK_HOSTS, GuardMiddleware, GuardPolicy
from ragloom.serve.limits import RunSlots, RunTokens
from ragloom.serve.options import RunControl, run_watched, with_control
from ragloom.serve.state_keys import client_keys, jsonable, read_state
from ragloom.serve.streaming import StreamedRun


@dataclass(frozen=True)
class ServeConfig:
    """Limits and security of one server (the ``ragloom serve`` flags of the same names)."""

    api_key: str | None = None
    allowed_hosts: frozenset[str] | None = LOOPBACK_HOSTS
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    max_body_bytes: int = 1 << 20
    max_question_chars: int = 32_000
    max_concurrency: int = 8
    max_queue: int = 64
    body_timeout_s: float = 30.0
    client_keys: tuple[str, ...] = ()
    run_secret: bytes | None = None  # the key of run tokens (random per process when None)


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
    """The endpoints of one compiled flow; ``app`` is the Starlette application (guard included)."""

    def __init__(
        self,
        compiled: Any,
        context: Mapping[str, Any] | None = None,
        input_key: str = "question",
        output_key: str = "answer",
        config: ServeConfig | None = None,
        embedder: Any = None,
    ) -> None:
        self.compiled, self.context = compiled, dict(context or {})
        self.input_key, self.output_key = input_key, output_key
        self.config = config or ServeConfig()
        self.embedder = embedder
        self.name = str(getattr(getattr(compiled, "builder", None), "name", "") or "flow")
        self.created = int(time.time())
        self.keys = getattr(getattr(compiled, "schema", None), "keys", {})
        self.settable = client_keys(compiled, input_key, self.config.client_keys)
        self.slots = RunSlots(self.config.max_concurrency, self.config.max_queue)
        self.tokens = RunTokens(self.config.run_secret)
        self.app = self._starlette()

    def _starlette(self) -> Starlette:
        cfg = self.config
        policy = GuardPolicy(cfg.api_key, cfg.allowed_hosts, cfg.allowed_origins, cfg.max_body_bytes)
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/runs", self.runs, methods=["POST"]),
            Route("/runs/{run_id}/resume", self.resume, methods=["POST"]),
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.model, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ]
        handlers: dict[Any, Callable[..., Any]] = {
            ApiError: api_error_handler,
            HTTPException: http_error_handler,
            Exception: server_error_handler,
        }
        return Starlette(
            routes=routes,
            exception_handlers=handlers,
            middleware=[Middleware(GuardMiddleware, policy=policy)],
        )

    async def _body(self, request: Request, empty_ok: bool = False) -> dict[str, Any]:
        return await json_object(request, self.config.max_body_bytes, self.config.body_timeout_s, empty_ok)

    # ---- models -------------------------------------------------------------------------------------------
    def _model_entries(self) -> list[dict[str, Any]]:
        entries = [{"id": self.name, "object": "model", "created": self.created, "owned_by": "ragloom"}]
        if self.embedder is not None:
            name = str(self.embedder.model_name)
            entries.append({"id": name, "object": "model", "created": self.created, "owned_by": "ragloom"})
        return entries

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "flow": self.name})

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": self._model_entries()})

    async def model(self, request: Request) -> Response:
        wanted = request.path_params["model_id"]
        for entry in self._model_entries():
            if entry["id"] == wanted:
                return JSONResponse(entry)
        raise self._unknown_model(wanted)

    def _unknown_model(self, model: str) -> ApiError:
        known = ", ".join(e["id"] for e in self._model_entries())
        return ApiError(
            404, f"model {model[:100]!r} is not served here; models: {known}", "model", "model_not_found"
        )

    # ---- runs ---------------------------------------------------------------------------------------------
    def _check_state(self, body: dict[str, Any]) -> dict[str, Any]:
        """Only the flow's input keys may come from a client (internal keys steer the flow)."""
        for key in body:
            if self.settable is not None and key not in self.settable:
                what = "an internal state key" if key in self.keys else "not a state key"
                allowed = ", ".join(sorted(self.settable))
                message = f"`{key[:100]}` is {what}; clients may set: {allowed} (add one: --client-key)"
                raise bad_request(message, key[:100])
        question = body.get(self.input_key)
        if isinstance(question, str) and len(question) > self.config.max_question_chars:
            raise self._too_long(len(question), self.input_key)
        if "where" in body:
            check_where(body["where"])
        return body

    def _too_long(self, length: int, param: str) -> ApiError:
        limit = self.config.max_question_chars
        message = f"the question has {length} characters, over the limit of {limit} (--max-question-chars)"
        return ApiError(400, message, param, "question_too_long")

    async def _invoke(
        self, request: Request, control: RunControl, call: Callable[..., Any], run_id: str
    ) -> Any:
        """``call(context)`` in a worker within a run slot; cancelled when the client disconnects."""
        extra = {"run_id": run_id, "run_token": self.tokens.token(run_id)}
        await self.slots.acquire()
        try:
            context = with_control(self.context, control)
            work = asyncio.ensure_future(self.slots.run_in_thread(run_watched, call, context, control))
            gone = asyncio.ensure_future(_disconnected(request))
            try:
                await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
            if not work.done():
                control.cancelled.set()
            return await work
        except ApiError:
            raise
        except Exception as e:
            raise run_error(e, self.name, extra) from e
        finally:
            self.slots.release()

    async def runs(self, request: Request) -> Response:
        state = self._check_state(await self._body(request))
        run_id = uuid.uuid4().hex
        result = await self._invoke(
            request, RunControl(), partial(_invoke_flow, self.compiled, state, run_id), run_id
        )
        return self._run_response(result)

    async def resume(self, request: Request) -> Response:
        """Continue a failed or interrupted run from its last checkpoint; the body is a state update."""
        run_id = request.path_params["run_id"]
        self.tokens.verify(run_id, request.headers.get(RunTokens.HEADER))
        if getattr(self.compiled, "checkpointer", None) is None:
            raise bad_request("resuming needs a checkpointer: start the server with --checkpoint FILE")
        update = self._check_state(await self._body(request, empty_ok=True))
        call = partial(_resume_flow, self.compiled, run_id, update or None)
        return self._run_response(await self._invoke(request, RunControl(), call, run_id))

    def _run_response(self, result: Any) -> Response:
        return JSONResponse(
            {
                "run_id": result.run_id,
                "run_token": self.tokens.token(result.run_id),
                "status": result.status,
                "interrupted_before": result.interrupted_before,
                "state": jsonable(result.state),
                "trace": trace_payload(result),
            }
        )

    # ---- OpenAI-compatible --------------------------------------------------------------------------------
    async def chat(self, request: Request) -> Response:
        chat = parse_chat(await self._body(request))
        if chat.model is not None and chat.model != self.name:
            raise self._unknown_model(chat.model)
        state = self._chat_state(chat)
        run_id = uuid.uuid4().hex
        if chat.stream:
            streamed = StreamedRun(self, chat, state, run_id)
            await self.slots.acquire()
            first = await streamed.start(self.slots)
            return StreamingResponse(streamed.events(first), media_type="text/event-stream")
        control = RunControl(dict(chat.options))
        result = await self._invoke(
            request, control, partial(_invoke_flow, self.compiled, state, run_id), run_id
        )
        answer = str(read_state(result.state, self.output_key) or "")
        body = completion_json(f"chatcmpl-{run_id}", int(time.time()), self.name, answer, result.trace.usage)
        body["ragloom"] = {"run_id": run_id, "state": jsonable(result.state)}
        return JSONResponse(body)

    def _chat_state(self, chat: ChatRequest) -> dict[str, Any]:
        """The run's input: the question, and the conversation when the flow declares a ``messages`` key."""
        if len(chat.question) > self.config.max_question_chars:
            raise self._too_long(len(chat.question), "messages")
        state: dict[str, Any] = {self.input_key: chat.question}
        if chat.where is not None:
            if "where" not in self.keys:
                raise bad_request(f"flow {self.name!r} declares no `where` state key to filter by", "where")
            state["where"] = chat.where
        if "messages" in self.keys:
            state["messages"] = chat.messages
        elif any(m["role"] not in ("system", "developer") for m in chat.messages[:-1]):
            raise bad_request(
                f"flow {self.name!r} answers one question: it declares no `messages` state key to receive "
                "earlier turns (send only system messages and the question, or add `messages` to its state)",
                "messages",
            )
        return state

    async def embeddings(self, request: Request) -> Response:
        body = await self._body(request)
        if self.embedder is None:
            raise ApiError(
                404,
                "no embedder is served here: start the server with --index DIR",
                "model",
                "model_not_found",
            )
        await self.slots.acquire()
        try:
            return JSONResponse(await embeddings_response(body, self.embedder, self.slots.run_in_thread))
        finally:
            self.slots.release()


def _invoke_flow(compiled: Any, state: dict[str, Any], run_id: str, context: dict[str, Any]) -> Any:
    return compiled.invoke(state, context, run_id)


def _resume_flow(compiled: Any, run_id: str, update: Any, context: dict[str, Any]) -> Any:
    return compiled.resume(run_id, update, context)


async def _disconnected(request: Request) -> None:
    """Returns when the client has gone away (the body has been read, so only a disconnect can come)."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0)


def create_app(
    compiled: Any,
    context: Mapping[str, Any] | None = None,
    input_key: str = "question",
    output_key: str = "answer",
    config: ServeConfig | None = None,
    embedder: Any = None,
) -> Starlette:
    """The Starlette app serving ``compiled`` (a CompiledFlow); ``context`` = the runs' resources."""
    return FlowApp(compiled, context, input_key, output_key, config, embedder).app


__all__ = ["FlowApp", "ServeConfig", "create_app", "trace_payload"]
