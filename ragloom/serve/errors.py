"""Errors of ``ragloom serve`` in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every client mistake is a 4xx with a message that names the field (``param``); 404 and 405 from routing and
unexpected faults (500) are JSON too, so an OpenAI SDK always gets an error it can parse, and never retries a
client mistake (it retries 408, 409, 429 and 5xx).
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ragloom.core.errors import (
    ContextLengthExceededError,
    LLMHTTPError,
    NodeExecutionError,
    RagloomError,
    StateUpdateError,
    StepLimitError,
)

#: OpenAI's error ``type`` per status (the SDKs pick their exception class by status; the type is for people).
_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """A request the server answers with an error; raised anywhere in a handler, turned into JSON once."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        *,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind = kind or _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return JSONResponse({"error": {**error, **self.extra}}, self.status, headers=self.headers)


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param, code)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Routing's 404/405 (and any other HTTPException) as OpenAI-shaped JSON."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = (
            f"no endpoint {request.method} {request.url.path}; see GET /v1/models, POST /v1/chat/completions"
        )
        return ApiError(404, message, code="not_found").response()
    if exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        allow = exc.headers.get("Allow", "") if exc.headers else ""
        return ApiError(405, message, code="method_not_allowed", headers={"Allow": allow}).response()
    return ApiError(exc.status_code, str(exc.detail)).response()


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """An unexpected fault: still JSON (the traceback goes to the server log, not to the client)."""
    return ApiError(500, f"internal server error: {type(exc).__name__}", code="internal_error").response()


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class RunCancelledError(RagloomError):
    """The client went away: its run stops at the next LLM token or call."""


def run_error(error: Exception, flow: str, extra: dict[str, Any]) -> ApiError:
    """The API error for a failed run; ``extra`` (run id, run token) goes into the error object.

    A prompt longer than the model's context is the client's input (400 ``context_length_exceeded``, also when
    an upstream OpenAI-compatible server said so); a bad state is 422; a node that broke is the server's 500.
    """
    chain = _causes(error)
    if any(isinstance(e, ContextLengthExceededError) for e in chain) or any(
        isinstance(e, LLMHTTPError) and e.status_code == 400 and "context" in str(e).lower() for e in chain
    ):
        cause = next(e for e in chain if not isinstance(e, NodeExecutionError))
        message = f"the input is too long for the model's context: {cause}"
        return ApiError(400, message, "messages", "context_length_exceeded", extra=extra)
    if any(isinstance(e, RunCancelledError) for e in chain):
        return ApiError(499, "the client disconnected; the run was cancelled", code="cancelled", extra=extra)
    if isinstance(error, StateUpdateError):
        return ApiError(422, str(error), code="invalid_state", kind="invalid_request_error", extra=extra)
    if isinstance(error, NodeExecutionError | StepLimitError):
        return ApiError(
            500, f"flow {flow!r} failed: {error}", code="run_failed", kind="run_failed", extra=extra
        )
    if isinstance(error, RagloomError):
        return ApiError(400, str(error), extra=extra)
    raise error
