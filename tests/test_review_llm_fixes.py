"""Regression tests for bugs found in review of the LLM client, serve, calculator and sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ragloom.core.errors import ToolError
from ragloom.core.types import Completion, Message, ToolCall
from ragloom.llm.cache import CachedLLM
from ragloom.llm.local import LocalLLM
from ragloom.llm.retry import RetryPolicy, parse_retry_after
from ragloom.serve import ServerThread, create_app
from ragloom.tools import PythonSandbox
from ragloom.tools.calculator import safe_eval
from ragloom.tools.isolation import isolation_problem


@pytest.mark.timeout(30)
def test_calculator_round_with_huge_negative_digits_is_refused_not_hung() -> None:
    # round(int, -n) computes 10**n inside CPython: with n = 10**8 the process hung
    with pytest.raises(ToolError, match="round"):
        safe_eval("round(1, -99999999)")
    assert safe_eval("round(123456, -2)") == 123500
    assert safe_eval("round(2.567, 2)") == 2.57


def test_retry_after_nan_is_ignored_not_a_crash() -> None:
    # "nan" parses as a float; time.sleep(nan) raises ValueError out of complete()
    assert parse_retry_after("nan") is None
    delay = RetryPolicy(max_wait=5.0).delay(0, parse_retry_after("nan"))
    assert 0.0 <= delay <= 5.0
    assert parse_retry_after("inf") is not None and RetryPolicy(max_wait=5.0).delay(0, float("inf")) == 5.0


def test_chat_with_a_null_text_part_is_a_400_not_a_500() -> None:
    with ServerThread(create_app(compiled=None)) as server:
        messages = [{"role": "user", "content": [{"type": "text", "text": None}]}]
        r = httpx.post(server.url + "/v1/chat/completions", json={"model": "x", "messages": messages})
        assert r.status_code == 400
        assert "user message" in r.json()["error"]["message"]
        r = httpx.post(server.url + "/v1/chat/completions", json={"model": "x", "messages": []})
        assert r.status_code == 400


@pytest.mark.integration
@pytest.mark.skipif(isolation_problem() is not None, reason="no sandbox isolation here (.ci/run installs it)")
def test_sandbox_output_flood_does_not_fill_the_parents_memory() -> None:
    # communicate() kept every byte the child printed: 64 MB here, GBs for a loop running until the timeout
    box = PythonSandbox(timeout_s=20.0, memory_mb=256, max_output_chars=1000)
    code = (
        "import sys\nfor _ in range(64):\n    sys.stdout.write('x' * (1 << 20))\n"
        "print('end', file=sys.stderr)"
    )
    tracemalloc.start()
    try:
        result = box.run(code)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.truncated
    assert result.stderr == "end\n"
    assert len(result.stdout) <= 1000 and "cut" in result.stdout
    assert peak < 16 * (1 << 20), f"parent held {peak / (1 << 20):.0f} MB of child output"


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_sandbox_returns_when_an_escaped_grandchild_holds_the_pipes(tmp_path: Path) -> None:
    # a descendant in another session keeps stdout open: communicate() waited for its EOF past any timeout
    pidfile = tmp_path / "grandchild.pid"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\nsetsid sleep 40 &\necho $! > {pidfile}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    # the unsafe mode: a wrapper script as the interpreter is only visible outside the isolated sandbox
    box = PythonSandbox(timeout_s=10.0, memory_mb=256, unsafe_no_isolation=True, python=str(wrapper))
    try:
        result = box.run("print('hi')")
        assert result.ok and not result.timed_out
        assert result.stdout == "hi\n"
        assert result.duration_s < 10.0
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)


class FakeEndlessLocalLLM(LocalLLM):
    """LocalLLM whose token source (``stream``) is scripted: one token, then more once ``resume`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.resume = threading.Event()
        self.produced = 0

    def stream(self, messages: Any, **options: Any) -> Iterator[str]:
        for i in range(10_000):
            if i == 1:
                self.resume.wait(timeout=10)
            self.produced += 1
            yield "tok "


def test_local_astream_stops_generating_when_the_consumer_stops() -> None:
    # the worker thread ran on to max_tokens (holding the model lock) after the consumer broke out
    llm = FakeEndlessLocalLLM()

    async def first_delta_then_stop() -> str:
        agen = llm.astream([Message("user", "hi")])
        delta = await agen.__anext__()
        await agen.aclose()  # type: ignore[attr-defined]  # an async generator
        llm.resume.set()  # the loop keeps running, as in a server whose client went away
        workers = [t for t in threading.enumerate() if t.name == "ragloom-local-llm-stream"]
        for t in workers:
            await asyncio.to_thread(t.join, 10)
        assert not any(t.is_alive() for t in workers)
        return delta

    assert asyncio.run(first_delta_then_stop()) == "tok "
    assert llm.produced <= 2


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # uvicorn's exit
def test_server_thread_that_fails_to_start_frees_its_socket_and_says_so() -> None:
    server = ServerThread("no_such_module_for_ragloom_review:app")
    with pytest.raises(RuntimeError, match="failed to start"):
        server.start(timeout=30)
    assert server.socket.fileno() == -1


class FakeToolCallingLLM:
    """An LLM collaborator whose answer is a tool call (streams carry only the text, here none)."""

    model = "fake-tools"

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, messages: Any, **options: Any) -> Completion:
        self.calls += 1
        return Completion("", tool_calls=(ToolCall("c1", "add", {"a": 1}),), finish_reason="tool_calls")

    def stream(self, messages: Any, **options: Any) -> Iterator[str]:
        self.calls += 1
        yield ""


def test_cached_stream_does_not_answer_later_completes(tmp_path: Path) -> None:
    # a streamed answer was stored under the complete() key as a bare-text completion with finish_reason
    # "stop": a later complete() got it back without its tool calls
    inner = FakeToolCallingLLM()
    add_one = [Message("user", "add 1")]
    cached = CachedLLM(inner, tmp_path / "cache.sqlite")  # type: ignore[arg-type]
    try:
        assert "".join(cached.stream(add_one)) == ""
        completion = cached.complete(add_one)
        assert completion.tool_calls and completion.finish_reason == "tool_calls"
        assert cached.complete(add_one) == completion and inner.calls == 2
        assert "".join(cached.stream(add_one)) == "" and inner.calls == 2  # streams still hit their entry
    finally:
        cached.close()
