"""Security of ``ragloom serve`` (issue 13, item 4): CSRF, DNS rebinding, API keys, run ownership, internal
state keys, bounded streaming threads and cancellation when the client goes away. Real uvicorn servers on
loopback; the flow's LLM is the FakeLLM collaborator."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_fakes import QA, FakeLLM, qa_flow
from typer.testing import CliRunner

from ragloom.cli import app as cli_app
from ragloom.core.protocols import LLM
from ragloom.core.types import Message
from ragloom.flows import END, START, Flow, RunContext, node
from ragloom.serve import FlowApp, ServeConfig, ServerThread, serving

CHAT = {"model": "qa", "messages": [{"role": "user", "content": "hi"}]}


def test_a_cross_site_text_plain_post_is_refused() -> None:
    fake = FakeLLM()
    with serving(qa_flow(), context={"llm": fake}) as server:
        url = server.url + "/v1/chat/completions"
        csrf = httpx.post(
            url,
            content=json.dumps(CHAT),
            headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        )
        assert csrf.status_code == 403 and csrf.json()["error"]["code"] == "bad_origin"
        plain = httpx.post(url, content=json.dumps(CHAT), headers={"Content-Type": "text/plain"})
        assert plain.status_code == 415 and "application/json" in plain.json()["error"]["message"]
        foreign_json = httpx.post(url, json=CHAT, headers={"Origin": "https://evil.example"})
        assert foreign_json.status_code == 403
        assert httpx.post(url, json=CHAT, headers={"Origin": "null"}).status_code == 403
        assert fake.calls == []  # nothing ran
        local = httpx.post(url, json=CHAT, headers={"Origin": f"http://localhost:{server.port}"})
        assert local.status_code == 200


def test_a_foreign_host_header_is_refused() -> None:
    with serving(qa_flow(), context={"llm": FakeLLM()}) as server:
        rebound = httpx.get(server.url + "/v1/models", headers={"Host": "evil.example"})
        assert rebound.status_code == 403 and rebound.json()["error"]["code"] == "bad_host"
        assert (
            httpx.get(server.url + "/v1/models", headers={"Host": f"localhost:{server.port}"}).status_code
            == 200
        )
    config = ServeConfig(allowed_hosts=frozenset({"rag.example"}), api_key="k")
    with serving(qa_flow(), context={"llm": FakeLLM()}, config=config) as server:
        auth = {"Authorization": "Bearer k"}
        assert (
            httpx.get(server.url + "/v1/models", headers={"Host": "rag.example", **auth}).status_code == 200
        )
        assert httpx.get(server.url + "/v1/models", headers=auth).status_code == 403


def test_without_the_api_key_every_endpoint_but_health_is_401() -> None:
    with serving(qa_flow(), context={"llm": FakeLLM()}, config=ServeConfig(api_key="s3cret")) as server:
        for method, path in [("GET", "/v1/models"), ("POST", "/v1/chat/completions"), ("POST", "/runs")]:
            r = httpx.request(method, server.url + path, json=CHAT)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", path
        assert httpx.get(server.url + "/health").status_code == 200
        ok = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_serving_beyond_loopback_needs_an_api_key(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("name: x\nstate: {question: str}\nnodes: {}\nedges: []\n")
    result = CliRunner().invoke(
        cli_app, ["serve", str(flow), "--host", "0.0.0.0"], env={"RAGLOOM_API_KEY": ""}
    )
    assert result.exit_code != 0
    assert "needs an API key" in result.output and "--api-key" in result.output


def _failing_flow(tmp_path: Path) -> Any:
    from ragloom.flows import SQLiteCheckpointer

    def answer(state: QA) -> dict[str, Any]:
        if state.question == "boom":
            raise RuntimeError("the node broke")
        return {"answer": state.question.upper()}

    flow = Flow(QA, name="two")
    flow.add_node("answer", answer)
    flow.add_edge(START, "answer")
    flow.add_edge("answer", END)
    return flow.compile(checkpointer=SQLiteCheckpointer(str(tmp_path / "runs.sqlite")))


def test_a_run_can_be_resumed_only_by_its_creator(tmp_path: Path) -> None:
    with serving(_failing_flow(tmp_path)) as server:
        mine = httpx.post(server.url + "/runs", json={"question": "boom"}).json()["error"]
        theirs = httpx.post(server.url + "/runs", json={"question": "ok"}).json()
        url = f"{server.url}/runs/{mine['run_id']}/resume"
        for headers in [{}, {"X-Ragloom-Run-Token": "0" * 64}, {"X-Ragloom-Run-Token": theirs["run_token"]}]:
            stolen = httpx.post(url, json={"question": "read it"}, headers=headers)
            assert stolen.status_code == 404 and "state" not in stolen.text, stolen.text
            assert stolen.json()["error"]["code"] == "run_not_found"
        resumed = httpx.post(
            url, json={"question": "fixed"}, headers={"X-Ragloom-Run-Token": mine["run_token"]}
        )
        assert resumed.status_code == 200 and resumed.json()["state"]["answer"] == "FIXED"


def test_clients_set_only_input_keys(tmp_path: Path) -> None:
    with serving(_failing_flow(tmp_path)) as server:
        planted = httpx.post(server.url + "/runs", json={"question": "q", "answer": "planted"})
        assert planted.status_code == 400 and planted.json()["error"]["param"] == "answer"
        assert "internal state key" in planted.json()["error"]["message"]
        failed = httpx.post(server.url + "/runs", json={"question": "boom"}).json()["error"]
        token = {"X-Ragloom-Run-Token": failed["run_token"]}
        url = f"{server.url}/runs/{failed['run_id']}/resume"
        assert httpx.post(url, json={"context": ["x"]}, headers=token).json()["error"]["param"] == "context"
    with serving(_failing_flow(tmp_path), config=ServeConfig(client_keys=("context",))) as server:
        opened = httpx.post(server.url + "/runs", json={"question": "q", "context": ["x"]})
        assert opened.status_code == 200 and opened.json()["state"]["context"] == ["x"]


async def _raw_stream(port: int, body: bytes, read_until: bytes | None = None) -> bytes:
    """A streamed chat request over a bare asyncio socket (no client threads, no DNS look-up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    data = b""
    while chunk := await reader.read(65536):
        data += chunk
        if read_until is not None and read_until in data:
            break
    writer.close()
    return data


def test_200_streams_run_on_the_bounded_worker_pool() -> None:
    fake = FakeLLM(delay_s=0.005)
    config = ServeConfig(max_concurrency=4, max_queue=300)
    with serving(qa_flow(), context={"llm": fake}, config=config) as server:
        body = json.dumps({**CHAT, "stream": True}).encode()
        asyncio.run(_raw_stream(server.port, body))  # warm-up: the pool's first workers
        baseline = threading.active_count()
        peak = baseline

        async def main() -> list[bytes]:
            nonlocal peak
            tasks = [asyncio.create_task(_raw_stream(server.port, body)) for _ in range(200)]
            while not all(t.done() for t in tasks):
                peak = max(peak, threading.active_count())
                await asyncio.sleep(0.005)
            return [t.result() for t in tasks]

        answers = asyncio.run(main())
    failed = [a for a in answers if b"data: [DONE]" not in a or b'" asked:"' not in a]
    assert not failed, failed[0][:600]
    assert peak <= baseline + 4, (baseline, peak)  # 200 streams, at most 4 more worker threads


def _wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_disconnected_stream_cancels_its_run() -> None:
    fake = FakeLLM(delay_s=0.02)
    flow_app = FlowApp(qa_flow(), {"llm": fake})
    with ServerThread(flow_app.app) as server:
        long = {"model": "qa", "stream": True, "messages": [{"role": "user", "content": "w " * 400}]}
        got = asyncio.run(_raw_stream(server.port, json.dumps(long).encode(), read_until=b'w"'))
        assert b"You" in got
        _wait_until(lambda: flow_app.slots.active == 0)  # the run ended, its worker is free
        sent = fake.pieces_sent
        time.sleep(0.3)
        assert fake.pieces_sent == sent < 100  # of 402 words: stopped, not finished in the background


def test_a_disconnected_request_cancels_its_run_at_the_next_llm_call() -> None:
    class Many(QA):
        calls: int = 0

    @node(takes_context=True)
    def many_calls(state: Many, ctx: RunContext) -> dict[str, Any]:
        llm: LLM = ctx.resources["llm"]
        for _ in range(100):
            llm.complete([Message("user", "x")])
        return {"answer": "done"}

    flow = Flow(Many, name="many")
    flow.add_node("many", many_calls)
    flow.add_edge(START, "many")
    flow.add_edge("many", END)
    fake = FakeLLM(delay_s=0.05)
    flow_app = FlowApp(flow.compile(), {"llm": fake})
    with ServerThread(flow_app.app) as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/runs", json={"question": "q"}, timeout=0.5)
        _wait_until(lambda: flow_app.slots.active == 0)
        assert len(fake.calls) < 40  # 100 calls of 0.05 s would take 5 s


def test_half_sent_bodies_time_out_and_free_the_handler() -> None:
    config = ServeConfig(body_timeout_s=0.5)
    with (
        serving(qa_flow(), context={"llm": FakeLLM()}, config=config) as server,
        socket.create_connection(("127.0.0.1", server.port)) as sock,
    ):
        sock.sendall(
            b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"question"'
        )
        sock.settimeout(5)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and b'"code":"timeout"' in answer


def test_run_tokens_survive_a_restart_with_the_checkpoints_secret(tmp_path: Path) -> None:
    from ragloom.serve.limits import RunTokens, run_secret

    path = tmp_path / "runs.sqlite.run-secret"
    secret = run_secret(path)
    assert run_secret(path) == secret and path.stat().st_mode & 0o777 == 0o600
    assert RunTokens(secret).token("r1") == RunTokens(run_secret(path)).token("r1")  # the restarted server
    assert RunTokens().token("r1") != RunTokens().token("r1")  # no secret: random per process


def test_a_disconnected_plain_chat_request_stops_mid_answer() -> None:
    fake = FakeLLM(delay_s=0.02)
    flow_app = FlowApp(qa_flow(), {"llm": fake})
    with ServerThread(flow_app.app) as server:
        long = {"model": "qa", "messages": [{"role": "user", "content": "w " * 400}]}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url + "/v1/chat/completions", json=long, timeout=0.5)
        _wait_until(lambda: flow_app.slots.active == 0)
        assert fake.pieces_sent < 100  # of 402 words (8 s): the answer's generation stopped
