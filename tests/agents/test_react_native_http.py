"""The agent's native tool-calling path through the REAL OpenAI-compatible client and a loopback HTTP server.

The server (a FakeChatServer: the collaborator, scripted) answers like vLLM/OpenAI would; the client, the
wire format of tools and tool messages, and the agent loop are the real code.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ragloom.agents.react import ReActAgent
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.tools import calculator

pytestmark = pytest.mark.integration


class FakeChatServer:
    """Replays scripted chat-completion messages and keeps every request body."""

    def __init__(self) -> None:
        self.replies: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                message = server.replies.pop(0)
                payload = {
                    "id": "x",
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    s = FakeChatServer()
    s.thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _call(call_id: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "calculator", "arguments": arguments}}


def test_native_tool_calls_over_http(server: FakeChatServer) -> None:
    server.replies = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [_call("call_a", '{"expression": "(17 + 25) * 3"}')],
        },
        {"role": "assistant", "content": "It is 126."},
    ]
    llm = OpenAICompatibleLLM("test-model", server.base_url, api_key="k", max_retries=0)
    result = ReActAgent(llm, [calculator], token_budget=1000).run("What is (17 + 25) * 3?")
    assert result.protocol == "native" and result.status == "finished"
    assert result.answer == "It is 126."
    assert result.actions[0].observation == "126"
    assert result.usage.total_tokens == 120
    first, second = server.requests
    assert first["tools"] == [calculator.to_openai()]
    tool_message = second["messages"][-1]
    assert tool_message == {"role": "tool", "content": "126", "name": "calculator", "tool_call_id": "call_a"}
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "calculator"


def test_malformed_tool_call_json_is_fed_back(server: FakeChatServer) -> None:
    server.replies = [
        {"role": "assistant", "content": "", "tool_calls": [_call("c1", '{"expression": "2+')]},
        {"role": "assistant", "content": "", "tool_calls": [_call("c2", "not json at all")]},
        {"role": "assistant", "content": "", "tool_calls": [_call("c3", '{"expression": "2 + 2"}')]},
        {"role": "assistant", "content": "4"},
    ]
    llm = OpenAICompatibleLLM("test-model", server.base_url, api_key="k", max_retries=0)
    result = ReActAgent(llm, [calculator]).run("2 + 2?")
    assert result.answer == "4" and len(result.steps) == 4
    repaired, broken, good = (s.actions[0] for s in result.steps[:3])
    assert not repaired.ok  # '{"expression": "2+' is repaired to "2+", which the calculator then rejects
    assert not broken.ok and broken.observation.startswith("Error: tool call 'calculator'")
    assert good.observation == "4"
