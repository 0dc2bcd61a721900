"""Reading a request body safely: a size cap checked before and while reading, a read timeout (a client that
sends half a body cannot hold a handler forever), strict JSON with a nesting limit, and typed field readers
whose errors name the field."""

from __future__ import annotations

import json
from typing import Any

import anyio
from starlette.requests import ClientDisconnect, Request

from ragloom.serve.errors import ApiError, bad_request

#: JSON nested deeper than this is refused (no request of this API needs more than a handful of levels).
MAX_DEPTH = 32


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The raw body: at most ``max_bytes`` (413 before buffering more), within ``timeout_s`` (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise bad_request(f"invalid Content-Length header {declared[:40]!r}")
        if int(declared) > max_bytes:
            raise too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(size, max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408, f"the request body did not arrive within {timeout_s:g} s", code="timeout"
        ) from None
    except ClientDisconnect:
        raise ApiError(400, "the client disconnected while sending the body", code="client_closed") from None
    return b"".join(chunks)


def too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body ({size} bytes or more) is over the limit of {limit} bytes (--max-body-bytes)",
        code="request_too_large",
    )


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON; 400 for invalid UTF-8, invalid JSON or nesting deeper than MAX_DEPTH."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise bad_request(f"the request body is nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as e:
        raise bad_request(f"the request body is not valid UTF-8 (byte {e.start})") from None
    except ValueError as e:
        raise bad_request(f"the request body is not valid JSON: {e}") from None
    if _depth(value) > MAX_DEPTH:
        raise bad_request(f"the request body is nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion limit to hit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


async def json_object(
    request: Request, max_bytes: int, timeout_s: float, empty_ok: bool = False
) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for an empty body when ``empty_ok``)."""
    raw = await read_body(request, max_bytes, timeout_s)
    if empty_ok and not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise bad_request(f"the request body must be a JSON object, got {json_type(body)}")
    return body


def json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


# ---- typed fields ------------------------------------------------------------------------------------------
def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"`{key}` must be a string, got {json_type(value)}", key)
    return value


def optional_bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise bad_request(f"`{key}` must be true or false, got {json_type(value)}", key)
    return bool(value)


def optional_int(body: dict[str, Any], key: str, low: int, high: int | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request(f"`{key}` must be an integer, got {json_type(value)}", key)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_request(f"`{key}` must be {bounds}, got {value}", key)
    return value


def optional_number(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise bad_request(f"`{key}` must be a number, got {json_type(value)}", key)
    if not low <= value <= high:
        raise bad_request(f"`{key}` must be between {low:g} and {high:g}, got {value}", key)
    return float(value)
