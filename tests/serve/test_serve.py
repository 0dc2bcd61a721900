"""``ragloom serve``: flows over real HTTP on 127.0.0.1, driven by our own OpenAI-compatible client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel
from serve_fakes import CliServer

from ragloom.core.errors import LLMHTTPError
from ragloom.core.types import Usage
from ragloom.core.usage import UsageMeter, report_usage
from ragloom.flows import END, START, Flow
from ragloom.flows.yaml_io import compile_file
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.serve import serving


class State(BaseModel):
    question: str
    answer: str = ""


def _answer(state: State) -> dict:
    report_usage(Usage(12, 3, 0.0, 1), "fake-llm")
    if state.question == "boom":
        raise RuntimeError("the node broke")
    return {"answer": state.question.upper()}


def test_chat_completions_through_our_client(echo_yaml: Path) -> None:
    with serving(compile_file(echo_yaml)) as server:
        llm = OpenAICompatibleLLM("echo", server.url + "/v1", max_retries=0, timeout=30)
        c = llm.complete([{"role": "system", "content": "x"}, {"role": "user", "content": "Who is Scrooge?"}])
        assert c.text == "You asked: Who is Scrooge?" and c.finish_reason == "stop" and c.model == "echo"
        assert "".join(llm.stream("streamed question")) == "You asked: streamed question"
        assert asyncio.run(llm.acomplete("async")).text == "You asked: async"
        assert httpx.get(server.url + "/health").json() == {"status": "ok", "flow": "echo"}
        assert httpx.get(server.url + "/v1/models").json()["data"][0]["id"] == "echo"
        with pytest.raises(LLMHTTPError, match="HTTP 400: messages must hold at least one user message"):
            llm.complete([{"role": "system", "content": "no question"}])


def test_runs_returns_state_and_trace_and_reports_errors() -> None:
    flow = Flow(State, name="upper")
    flow.add_node("answer", _answer)
    flow.add_edge(START, "answer")
    flow.add_edge("answer", END)
    with serving(flow.compile()) as server:
        ok = httpx.post(server.url + "/runs", json={"question": "hi"}, timeout=30)
        assert ok.status_code == 200
        body = ok.json()
        assert body["state"] == {"question": "hi", "answer": "HI"} and body["status"] == "done"
        assert body["trace"]["prompt_tokens"] == 12 and body["trace"]["steps"][0]["node"] == "answer"
        assert "answer" in body["trace"]["summary"] and len(body["run_id"]) == 32
        bad = httpx.post(server.url + "/runs", json={"nope": 1}, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "nope"
        assert "clients may set: question" in bad.json()["error"]["message"]
        missing = httpx.post(server.url + "/runs", json={}, timeout=30)
        assert missing.status_code == 422 and "question" in missing.json()["error"]["message"]
        broken = httpx.post(server.url + "/runs", json={"question": "boom"}, timeout=30)
        assert broken.status_code == 500 and "the node broke" in broken.json()["error"]["message"]
        json_type = {"Content-Type": "application/json"}
        assert httpx.post(server.url + "/runs", content=b"{not json", headers=json_type).status_code == 400
        assert httpx.post(server.url + "/runs", content=b"{not json", timeout=30).status_code == 415
        client = OpenAICompatibleLLM("upper", server.url + "/v1", max_retries=0)
        chat = client.complete("abc")
        assert chat.text == "ABC" and (chat.usage.prompt_tokens, chat.usage.completion_tokens) == (12, 3)
        with UsageMeter().measure() as meter:
            assert "".join(client.stream("streamed words")) == "STREAMED WORDS"
        assert (meter.total.prompt_tokens, meter.total.completion_tokens) == (12, 3)  # the flow's usage
        lines = httpx.post(
            server.url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x"}], "stream": True},
            timeout=30,
        ).text.splitlines()
        assert ": step answer done" in lines and lines[-2] == "data: [DONE]"
        with pytest.raises(LLMHTTPError, match="the node broke"):  # failed before any output: a status
            list(client.stream("boom"))


def test_a_failed_run_keeps_its_state_and_resumes(tmp_path: Path) -> None:
    from ragloom.flows import SQLiteCheckpointer

    calls: list[str] = []

    def first(state: State) -> dict:
        calls.append(state.question)
        return {}

    flow = Flow(State, name="two")
    flow.add_node("first", first)
    flow.add_node("answer", _answer)
    flow.add_edge(START, "first")
    flow.add_edge("first", "answer")
    flow.add_edge("answer", END)
    compiled = flow.compile(checkpointer=SQLiteCheckpointer(str(tmp_path / "runs.sqlite")))
    with serving(compiled) as server:
        broken = httpx.post(server.url + "/runs", json={"question": "boom"}, timeout=30)
        assert broken.status_code == 500
        run_id, token = broken.json()["error"]["run_id"], broken.json()["error"]["run_token"]
        url = f"{server.url}/runs/{run_id}/resume"
        assert httpx.post(url, json={"question": "fixed"}, timeout=30).status_code == 404  # no token
        headers = {"X-Ragloom-Run-Token": token}
        resumed = httpx.post(url, json={"question": "fixed"}, headers=headers, timeout=30)
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["state"]["answer"] == "FIXED" and resumed.json()["run_id"] == run_id
        assert calls == ["boom"]  # the step that succeeded is not run again


@pytest.mark.integration
def test_ragloom_serve_command(echo_yaml: Path) -> None:
    server = CliServer(echo_yaml)
    try:
        server.wait()
        answer = OpenAICompatibleLLM("echo", server.url + "/v1", max_retries=0).complete("from the CLI")
        assert answer.text == "You asked: from the CLI"
    finally:
        server.stop()


class Answered(BaseModel):
    question: str
    answer: str = ""
    citations: list[str] = []


def test_streaming_sends_the_answer_tokens_while_generate_runs(echo_yaml: Path) -> None:
    """The answer's LLM is itself a served flow (a real OpenAI-compatible server on loopback): with
    ``stream: true`` its pieces reach the client before the generate step has finished."""
    from ragloom.llm.components import generate

    flow = Flow(Answered, name="qa")
    flow.add_node("generate", generate(max_tokens=32))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    with serving(compile_file(echo_yaml)) as upstream:
        llm = OpenAICompatibleLLM("echo", upstream.url + "/v1", max_retries=0, timeout=30)
        with serving(flow.compile(), context={"llm": llm}) as server:
            lines = httpx.post(
                server.url + "/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "Who is Scrooge?"}], "stream": True},
                timeout=30,
            ).text.splitlines()
            done = lines.index(": step generate done")
            streamed = "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                for line in lines[:done]
                if line.startswith("data: {")
            )
            assert streamed == "You asked: Question: Who is Scrooge?"
            after = [ln for ln in lines[done:] if ln.startswith("data: {") and '"content"' in ln]
            assert after == []  # nothing sent twice: the final answer is what was streamed
            client = OpenAICompatibleLLM("qa", server.url + "/v1", max_retries=0, timeout=30)
            assert "".join(client.stream("Who is Marley?")) == "You asked: Question: Who is Marley?"
            assert client.complete("Who is Fred?").text == "You asked: Question: Who is Fred?"
