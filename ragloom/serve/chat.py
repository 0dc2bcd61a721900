"""``POST /v1/chat/completions`` requests and answers: every field is checked, then honoured or refused.

- honoured: ``messages`` (the last one, the user's, is the question; the whole conversation goes to a
  ``messages`` state key when the flow declares one), ``model``, ``stream``/``stream_options``, and the LLM
  options ``max_tokens``/``max_completion_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``;
- refused with a 400 naming the field: what a flow cannot do (``n`` > 1, ``tools``, ``response_format``
  other than text, ``logprobs``, penalties, non-text content parts);
- ignored, as OpenAI does: fields it does not know (``user``, ``metadata``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ragloom.core.types import Usage
from ragloom.serve.body import json_type, optional_bool, optional_int, optional_number, optional_str
from ragloom.serve.errors import bad_request

ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MESSAGES = 1000
NO_QUESTION = "messages must hold at least one user message with text content"


@dataclass
class ChatRequest:
    """A checked chat request. ``messages``: every turn as ``{"role", "content"}`` with text content."""

    question: str
    messages: list[dict[str, str]]
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    where: dict[str, Any] | None = None  # a metadata filter for the flow's retrieve nodes (state key `where`)


def parse_chat(body: dict[str, Any]) -> ChatRequest:
    """Check ``body``; a 400 naming the first wrong field."""
    messages = _messages(body.get("messages"))
    last = messages[-1]
    if last["role"] != "user" and any(m["role"] == "user" for m in messages):
        raise bad_request(
            f"the last message must be the user's question, got role {last['role']!r}", "messages"
        )
    if last["role"] != "user" or not last["content"]:
        raise bad_request(NO_QUESTION, "messages")
    stream = optional_bool(body, "stream")
    _refuse_unsupported(body)
    return ChatRequest(
        question=last["content"],
        messages=messages,
        model=optional_str(body, "model"),
        stream=stream,
        include_usage=_include_usage(body),
        options=llm_options(body),
        where=check_where(body.get("where")),
    )


def check_where(where: Any) -> dict[str, Any] | None:
    """A request's ``where`` filter, checked before anything runs: a malformed one is a 400 naming field and
    operator (``ragloom.retrieval.filters``)."""
    if where is None:
        return None
    from ragloom.core.errors import RagloomError
    from ragloom.retrieval.filters import compile_filter

    try:
        compile_filter(where)
    except RagloomError as e:
        raise bad_request(str(e), "where") from e
    return dict(where)


def _messages(value: Any) -> list[dict[str, str]]:
    if value is None:
        raise bad_request("`messages` is required: a list of {role, content} objects", "messages")
    if not isinstance(value, list) or not value:
        raise bad_request(f"`messages` must be a non-empty list, got {json_type(value)}", "messages")
    if len(value) > MAX_MESSAGES:
        raise bad_request(
            f"`messages` holds {len(value)} messages, over the limit of {MAX_MESSAGES}", "messages"
        )
    out = []
    for i, message in enumerate(value):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"`{param}` must be an object, got {json_type(message)}", param)
        role = message.get("role")
        if role not in ROLES:
            shown = repr(role)[:40] if role is not None else "none"
            raise bad_request(
                f"`{param}.role` must be one of {', '.join(ROLES)}; got {shown}", f"{param}.role"
            )
        out.append({"role": str(role), "content": _content(message.get("content"), f"{param}.content")})
    return out


def _content(value: Any, param: str) -> str:
    """Text content: a string, null (an assistant turn with tool calls) or a list of text parts."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise bad_request(
            f"`{param}` must be a string or a list of text parts, got {json_type(value)}", param
        )
    texts = []
    for j, part in enumerate(value):
        if not isinstance(part, dict):
            raise bad_request(f"`{param}[{j}]` must be an object, got {json_type(part)}", f"{param}[{j}]")
        kind = part.get("type", "text")
        if kind != "text":
            shown = repr(kind)[:40]
            message = f"`{param}[{j}].type` {shown} is not supported: flows served here read text parts only"
            raise bad_request(message, f"{param}[{j}].type")
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
    return "".join(texts)


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise bad_request(f"`stream_options` must be an object, got {json_type(options)}", "stream_options")
    return optional_bool(options, "include_usage")


def _refuse_unsupported(body: dict[str, Any]) -> None:
    """400 for a field whose request a flow cannot honour (a silently dropped option would mislead)."""
    n = optional_int(body, "n", 1)
    if n is not None and n > 1:
        raise bad_request("`n` must be 1: a flow run gives one answer (send n requests instead)", "n")
    for key in ("tools", "functions", "logit_bias"):
        if body.get(key):
            raise bad_request(f"`{key}` is not supported: the served flow cannot use client-side {key}", key)
    for key in ("tool_choice", "function_call"):
        if body.get(key) not in (None, "none", "auto"):
            raise bad_request(f"`{key}` is not supported: the served flow calls no client-side tools", key)
    response_format = body.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        message = '`response_format` must be {"type": "text"}: the served flow writes its own answer format'
        raise bad_request(message, "response_format")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        raise bad_request("`logprobs` are not available from a flow", "logprobs")
    for key in ("presence_penalty", "frequency_penalty"):
        if optional_number(body, key, -2.0, 2.0):
            raise bad_request(f"`{key}` is not supported by the flow's LLM (send 0 or leave it out)", key)
    if body.get("audio") is not None or body.get("modalities") not in (None, ["text"]):
        raise bad_request("only text output is supported", "modalities")


def llm_options(body: dict[str, Any]) -> dict[str, Any]:
    """The options that reach the flow's LLM calls (checked here: a bad value is a 400, not a failed run)."""
    options: dict[str, Any] = {}
    max_tokens = optional_int(body, "max_completion_tokens", 1, 1 << 20)
    max_tokens = optional_int(body, "max_tokens", 1, 1 << 20) if max_tokens is None else max_tokens
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    temperature = optional_number(body, "temperature", 0.0, 2.0)
    if temperature is not None:
        options["temperature"] = temperature
    top_p = optional_number(body, "top_p", 0.0, 1.0)
    if top_p is not None:
        options["top_p"] = top_p
    seed = optional_int(body, "seed", -(1 << 63), (1 << 63) - 1)
    if seed is not None:
        options["seed"] = seed
    stop = body.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
            raise bad_request("`stop` must be a string or a list of at most 4 non-empty strings", "stop")
        if stop:
            options["stop"] = stop
    return options


# ---- answers -----------------------------------------------------------------------------------------------
def usage_json(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_json(cid: str, created: int, model: str, answer: str, usage: Usage) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
        "usage": usage_json(usage),
    }


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def chunk(cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
    )


def unsent(answer: str, streamed: str) -> str:
    """What the client has not seen of the final ``answer``: all of it when nothing was streamed; the tail a
    node added after streaming (e.g. a citation marker) when the answer extends what was sent; else nothing
    (sent text cannot be taken back, and the final state is in ``/runs`` for clients that need it)."""
    if not streamed:
        return answer
    sent = streamed.strip()
    return answer[len(sent) :] if answer.startswith(sent) else ""


def pieces(text: str) -> Iterator[str]:
    """Split ``text`` into word pieces that concatenate back to ``text``."""
    start = 0
    for i in range(1, len(text)):
        if text[i] == " " and text[i - 1] != " ":
            yield text[start:i]
            start = i
    if start < len(text):
        yield text[start:]
