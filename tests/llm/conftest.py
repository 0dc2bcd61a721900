"""A fault-injecting OpenAI-compatible server on 127.0.0.1 (real HTTP, Starlette on uvicorn in a thread).

Each request pops the next scripted behaviour (default: a normal answer): ``server.script({"status": 429,
"retry_after": "2"}, {"ok": True})``. The server records every request body and headers for assertions.
A slow behaviour waits on an event that the fixture releases at teardown, so nothing outlives a test.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragloom.serve import ServerThread


class FaultServer:
    def __init__(self) -> None:
        self.behaviours: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])
        self.thread = ServerThread(self.app)

    @property
    def base_url(self) -> str:
        return self.thread.url + "/v1"

    def script(self, *behaviours: dict[str, Any]) -> None:
        self.behaviours.extend(behaviours)

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        b = self.behaviours.popleft() if self.behaviours else {}
        if b.get("slow"):
            for _ in range(200):  # up to 10 s, but released at teardown
                if self.release.is_set():
                    break
                await asyncio.sleep(0.05)
        if "status" in b:
            headers = {"Retry-After": b["retry_after"]} if "retry_after" in b else {}
            error = {"error": {"message": b.get("message", f"injected {b['status']}"), "type": "injected"}}
            return JSONResponse(error, status_code=b["status"], headers=headers)
        text = b.get("text", "echo: " + str(body["messages"][-1]["content"]))
        if body.get("stream"):
            return StreamingResponse(self._sse(text, b), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if "tool_arguments" in b:
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": b.get("tool", "add"), "arguments": b["tool_arguments"]},
                }
            ]
        answer: dict[str, Any] = {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if not b.get("no_usage"):
            answer["usage"] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        return JSONResponse(answer)

    async def _sse(self, text: str, b: dict[str, Any]) -> AsyncIterator[bytes]:
        words = text.split(" ")
        for i, w in enumerate(words):
            if b.get("cut_after") is not None and i == b["cut_after"]:
                if b.get("hard_cut"):
                    raise RuntimeError("injected: connection dropped mid-stream")
                return  # a clean end of the body without finish_reason or [DONE]
            delta = {"content": (" " if i else "") + w}
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n".encode()
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        yield f"data: {json.dumps(end)}\n\n".encode()
        usage = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.thread.stop()
