"""OpenAICompatibleLLM against a real fault-injecting HTTP server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from ragloom.core.errors import LLMHTTPError, LLMStreamError, LLMTimeoutError
from ragloom.core.types import Message
from ragloom.core.usage import UsageMeter
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.llm.pricing import set_price
from ragloom.llm.toolcalls import ToolCallParseError

Q = [Message("user", "What is the capital of France?")]


def client(server, waits: list[float] | None = None, **kw) -> OpenAICompatibleLLM:
    kw.setdefault("max_retries", 3)
    sleep = waits.append if waits is not None else (lambda s: None)
    return OpenAICompatibleLLM("test-model", server.base_url, "sk-test", sleep=sleep, seed=0, **kw)


def test_complete_reports_usage_and_cost(fault_server) -> None:
    set_price("test-model", 1.0, 2.0)
    with UsageMeter().measure() as meter:
        c = client(fault_server).complete(Q, max_tokens=5, temperature=0)
    assert c.text == "echo: What is the capital of France?"
    assert (c.usage.prompt_tokens, c.usage.completion_tokens, c.usage.calls) == (11, 7, 1)
    assert c.usage.cost_usd == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    assert meter.total == c.usage and meter.by_model["test-model"] == c.usage
    body = fault_server.requests[0]
    assert body["model"] == "test-model" and body["max_tokens"] == 5 and body["messages"][0]["role"] == "user"
    assert fault_server.headers[0]["authorization"] == "Bearer sk-test"


def test_429_honours_retry_after(fault_server) -> None:
    waits: list[float] = []
    fault_server.script({"status": 429, "retry_after": "2"}, {"status": 503, "retry_after": "0"}, {})
    c = client(fault_server, waits).complete(Q)
    assert c.text.startswith("echo:")
    assert waits == [2.0, 0.0] and len(fault_server.requests) == 3


def test_500s_are_retried_with_backoff_then_reported(fault_server) -> None:
    waits: list[float] = []
    fault_server.script({"status": 500}, {"status": 502}, {})
    assert client(fault_server, waits, backoff_base=0.5).complete(Q).text.startswith("echo:")
    assert len(waits) == 2 and 0 <= waits[0] <= 0.5 and 0 <= waits[1] <= 1.0  # full jitter, doubling caps
    fault_server.script(*[{"status": 500, "message": "model crashed"}] * 3)
    with pytest.raises(LLMHTTPError, match="HTTP 500: model crashed") as err:
        client(fault_server, max_retries=2).complete(Q)
    assert err.value.status_code == 500 and len(fault_server.requests) == 3 + 3


def test_4xx_is_reported_at_once_with_the_servers_message(fault_server) -> None:
    fault_server.script({"status": 400, "message": "max_tokens must be positive"})
    with pytest.raises(LLMHTTPError, match="HTTP 400: max_tokens must be positive") as err:
        client(fault_server).complete(Q, max_tokens=-1)
    assert err.value.status_code == 400 and len(fault_server.requests) == 1
    fault_server.script({"status": 401, "message": "bad key"})
    with pytest.raises(LLMHTTPError, match="check the API key"):
        client(fault_server).complete(Q)


def test_slow_server_times_out_and_nothing_hangs(fault_server) -> None:
    fault_server.script({"slow": True}, {"slow": True})
    t = time.monotonic()
    with pytest.raises(LLMTimeoutError, match=r"did not answer within 0\.3 s"):
        client(fault_server, timeout=0.3, max_retries=1).complete(Q)
    assert time.monotonic() - t < 5 and len(fault_server.requests) == 2


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    waits: list[float] = []
    llm = OpenAICompatibleLLM("m", f"http://127.0.0.1:{port}/v1", sleep=waits.append, max_retries=2)
    with pytest.raises(LLMHTTPError, match=r"could not reach .* is the server running"):
        llm.complete(Q)
    assert len(waits) == 2


def test_stream_yields_deltas_and_reports_usage(fault_server) -> None:
    fault_server.script({"text": "Paris is the capital"})
    with UsageMeter().measure() as meter:
        deltas = list(client(fault_server).stream(Q))
    assert "".join(deltas) == "Paris is the capital" and len(deltas) == 4
    assert (meter.total.prompt_tokens, meter.total.completion_tokens) == (5, 4)
    assert fault_server.requests[0]["stream"] is True


def test_truncated_streams_raise_stream_errors(fault_server) -> None:
    fault_server.script({"text": "one two three four", "cut_after": 2})
    got: list[str] = []
    with pytest.raises(LLMStreamError, match=r"ended before 'data: \[DONE\]'"):
        for d in client(fault_server).stream(Q):
            got.append(d)
    assert "".join(got) == "one two"
    fault_server.script({"text": "one two three four", "cut_after": 2, "hard_cut": True})
    with pytest.raises(LLMStreamError):
        list(client(fault_server).stream(Q))


def test_stream_failure_before_first_byte_is_retried(fault_server) -> None:
    waits: list[float] = []
    fault_server.script({"status": 503, "retry_after": "1"}, {"text": "ok then"})
    assert "".join(client(fault_server, waits).stream(Q)) == "ok then"
    assert waits == [1.0]


def test_tool_calls_are_parsed_and_repaired(fault_server) -> None:
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    fault_server.script(
        {"tool_arguments": '{"a": 1, "b": 2}'},
        {"tool_arguments": '```json\n{"a": 1, "b": [2, 3],\n```'},  # fenced, trailing comma, unclosed
        {"tool_arguments": "add one and two please", "tool": "add"},
    )
    llm = client(fault_server)
    first = llm.complete(Q, tools=tools)
    assert first.tool_calls[0].name == "add" and first.tool_calls[0].arguments == {"a": 1, "b": 2}
    assert fault_server.requests[0]["tools"] == tools
    assert llm.complete(Q, tools=tools).tool_calls[0].arguments == {"a": 1, "b": [2, 3]}
    with pytest.raises(ToolCallParseError, match="tool call 'add': arguments are not valid JSON") as err:
        llm.complete(Q, tools=tools)
    assert err.value.raw == "add one and two please"


def test_a_malformed_tool_call_still_reports_its_usage(fault_server) -> None:
    """The server spent the tokens even when its tool call cannot be parsed: the trace must count them."""
    from ragloom.core.usage import UsageMeter

    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    fault_server.script({"tool_arguments": "add one and two please", "tool": "add"})
    meter = UsageMeter()
    with meter.measure(), pytest.raises(ToolCallParseError):
        client(fault_server).complete(Q, tools=tools)
    assert meter.total.calls == 1 and meter.total.total_tokens > 0


def test_usage_falls_back_to_the_tokenizer(fault_server) -> None:
    fault_server.script({"no_usage": True, "text": "Paris"})
    c = client(fault_server).complete(Q)
    assert c.usage.completion_tokens == 1 and c.usage.prompt_tokens > 8  # SmolLM2 tokens, chat template


def test_async_complete_stream_and_retry(fault_server) -> None:
    fault_server.script({"status": 500, "retry_after": "0"}, {"text": "a b c"}, {"text": "x y"})
    llm = client(fault_server)

    async def main() -> tuple[str, list[str]]:
        c = await llm.acomplete(Q)
        deltas = [d async for d in llm.astream(Q)]
        return c.text, deltas

    text, deltas = asyncio.run(main())
    assert text == "a b c" and "".join(deltas) == "x y" and len(fault_server.requests) == 3


def test_configuration_from_the_environment(fault_server, monkeypatch) -> None:
    monkeypatch.setenv("RAGLOOM_LLM_BASE_URL", fault_server.base_url)
    monkeypatch.setenv("RAGLOOM_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    llm = OpenAICompatibleLLM()
    assert llm.complete("hi").model == "env-model"
    assert fault_server.headers[0]["authorization"] == "Bearer sk-env"


def test_complete_inside_a_token_stream_streams_its_pieces(fault_server) -> None:
    """stream(mode="tokens") of a flow: a node's plain ``complete`` streams from the server piece by piece."""
    from typing import TypedDict

    from ragloom.flows import END, START, Flow

    class S(TypedDict, total=False):
        answer: str

    llm = client(fault_server)
    fault_server.script({"text": "Paris is the capital"}, {"text": "Paris is the capital"})
    flow = Flow(S, name="ask")
    flow.add_node("ask", lambda s: {"answer": llm.complete(Q).text})
    flow.add_edge(START, "ask")
    flow.add_edge("ask", END)
    events = list(flow.compile().stream({}, mode=["tokens", "values"]))
    pieces = [e.data["text"] for e in events if e.mode == "tokens"]
    assert pieces == ["Paris", " is", " the", " capital"]
    assert all(e.node == "ask" for e in events if e.mode == "tokens")
    assert events[-1].data == {"answer": "Paris is the capital"}
    assert fault_server.requests[0]["stream"] is True
    assert flow.compile().invoke({}).state == {"answer": "Paris is the capital"}  # no stream: one plain call
    assert fault_server.requests[1].get("stream") is not True
