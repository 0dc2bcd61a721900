"""Shared pieces of the ``ragloom serve`` tests: the FakeLLM collaborator, small flows, a CLI server
(a uniquely named module: ``from conftest import`` would find another directory's conftest)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from ragloom.core.types import Completion, Message, Usage
from ragloom.core.usage import report_usage
from ragloom.flows import END, START, Flow
from ragloom.llm.components import generate

ECHO_FLOW = """
name: echo
state:
  question: str
  answer: {type: str, default: ""}
nodes:
  respond: {uses: flows.template, with: {template: "You asked: {question}", output_key: answer}}
edges:
  - {from: START, to: respond}
  - {from: respond, to: END}
"""


class FakeLLM:
    """The collaborator of the server under test: answers ``You asked: <question>`` word by word, honours
    ``max_tokens`` (words) and ``stop``, records every call's options, and can be slow
    (``delay_s`` per word)."""

    model = "fake-llm"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[dict[str, Any]] = []
        self.pieces_sent = 0
        self._lock = threading.Lock()

    def _words(self, messages: Sequence[Message], options: dict[str, Any]) -> list[str]:
        with self._lock:
            self.calls.append(dict(options))
        question = str(messages[-1].content).rsplit("Question:", 1)[-1].strip()
        text = f"You asked: {question}"
        for stop in options.get("stop") or ():
            text = text.split(stop)[0]
        words = text.split(" ")[: int(options.get("max_tokens") or 256)]
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        words = self._words(messages, options)
        for _ in words:
            time.sleep(self.delay_s)
            with self._lock:
                self.pieces_sent += 1
        usage = Usage(len(str(messages[-1].content)) // 4 + 1, len(words), 0.0, 1)
        report_usage(usage, self.model)
        return Completion("".join(words), usage, model=self.model, finish_reason="stop")

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return self.complete(messages, **options)

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        words = self._words(messages, options)
        for word in words:
            time.sleep(self.delay_s)
            with self._lock:
                self.pieces_sent += 1
            yield word
        report_usage(Usage(len(str(messages[-1].content)) // 4 + 1, len(words), 0.0, 1), self.model)

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        for word in self.stream(messages, **options):
            yield word


class QA(BaseModel):
    question: str
    context: list[str] = []
    answer: str = ""
    citations: list[str] = []


class Chat(BaseModel):
    question: str
    messages: list[dict[str, str]] = []
    answer: str = ""


def qa_flow(name: str = "qa", max_tokens: int = 256, **compile_options: Any) -> Any:
    """question -> llm.generate (no retrieval: the prompt is ``Question: ...``) -> answer."""
    flow = Flow(QA, name=name)
    flow.add_node("generate", generate(max_tokens=max_tokens, cite_fallback=False))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    return flow.compile(**compile_options)


def chat_flow() -> Any:
    """A flow with a ``messages`` key: answers with the roles and contents of the conversation it got."""

    def turns(state: Chat) -> dict[str, Any]:
        return {"answer": " | ".join(f"{m['role']}:{m['content']}" for m in state.messages)}

    flow = Flow(Chat, name="chatty")
    flow.add_node("turns", turns)
    flow.add_edge(START, "turns")
    flow.add_edge("turns", END)
    return flow.compile()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CliServer:
    """``ragloom serve`` in a subprocess (a real uvicorn process whose RSS and threads can be read)."""

    def __init__(self, flow: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "from ragloom.cli import main; main()", "serve", str(flow)]
        cmd += ["--port", str(self.port), *args]
        # a file, not a pipe: an unread pipe fills up and blocks the server's logging
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (open as long as the server runs)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=os.environ.copy())

    def wait(self, timeout: float = 60.0) -> CliServer:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "ragloom serve did not come up in time"
            time.sleep(0.1)

    def status(self, field: str) -> int:
        """A number from /proc/PID/status (``VmRSS`` in kB, ``Threads``)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-5000:].decode(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
