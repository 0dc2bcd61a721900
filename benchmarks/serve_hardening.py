"""``ragloom serve`` under the requests of issue 15/13 that once hurt it: a 10.8 MB question (held the server
26.7 s, +1.2 GB never returned), a 100 MB body, 200 concurrent streams (245 threads) and a burst over the
concurrency limit. Measures the server process from /proc (RSS, threads), prints a table, writes
``benchmarks/results/serve_hardening.json``.

Run: ``python benchmarks/serve_hardening.py``. The server is this script in ``--server PORT`` mode: a
question-answering flow whose LLM is SlowEchoLLM (a 5 ms-per-word stand-in, so streams overlap).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from common import print_table, write_results

CHAT = "/v1/chat/completions"


class SlowEchoLLM:
    """Answers ``You asked: <question>`` word by word, 5 ms per word (the benchmark's stand-in LLM)."""

    model = "slow-echo"

    def _words(self, messages: Sequence[Any]) -> list[str]:
        question = str(messages[-1].content).rsplit("Question:", 1)[-1].strip()[:200]
        return [(" " if i else "") + w for i, w in enumerate(f"You asked: {question}".split(" "))]

    def complete(self, messages: Sequence[Any], **options: Any) -> Any:
        from ragloom.core.types import Completion

        words = self._words(messages)
        time.sleep(0.005 * len(words))
        return Completion("".join(words), model=self.model, finish_reason="stop")

    def stream(self, messages: Sequence[Any], **options: Any) -> Iterator[str]:
        for word in self._words(messages):
            time.sleep(0.005)
            yield word


def serve(port: int) -> None:
    """Server mode: the QA flow on 127.0.0.1:PORT until killed."""
    from pydantic import BaseModel

    from ragloom.flows import END, START, Flow
    from ragloom.llm.components import generate
    from ragloom.serve import ServeConfig, ServerThread, create_app

    class QA(BaseModel):
        question: str
        context: list[str] = []
        answer: str = ""
        citations: list[str] = []

    flow = Flow(QA, name="qa")
    flow.add_node("generate", generate(cite_fallback=False))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    app = create_app(flow.compile(), {"llm": SlowEchoLLM()}, config=ServeConfig(max_question_chars=10**8))
    with ServerThread(app, port=port):
        threading.Event().wait()


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def body_of(question: str, stream: bool = False) -> dict[str, Any]:
    return {"model": "qa", "messages": [{"role": "user", "content": question}], "stream": stream}


def big_requests(url: str, pid: int) -> list[list[Any]]:
    rows = []
    for name, send in [
        (
            "10.8 MB question (JSON)",
            lambda: httpx.post(url + CHAT, json=body_of("x" * 10_800_000), timeout=120),
        ),
        (
            "100 MB chunked body",
            lambda: httpx.post(
                url + CHAT, content=_chunks(100), timeout=120, headers={"Content-Type": "application/json"}
            ),
        ),
    ]:
        before, start = proc_status(pid, "VmRSS"), time.perf_counter()
        try:
            status: Any = send().status_code
        except httpx.HTTPError as e:  # the server answered early and closed: the client's upload broke off
            status = type(e).__name__
        took = time.perf_counter() - start
        time.sleep(0.5)
        rows.append([name, status, took, (proc_status(pid, "VmRSS") - before) / 1024])
    return rows


def _chunks(megabytes: int) -> Iterator[bytes]:
    yield b'{"messages": [{"role": "user", "content": "'
    for _ in range(megabytes * 16):
        yield b"y" * 65536


async def burst(url: str, pid: int, n: int, stream: bool) -> list[Any]:
    """``n`` requests at once; (statuses, seconds, peak server threads, baseline threads)."""
    baseline, peak, done = proc_status(pid, "Threads"), 0, False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, proc_status(pid, "Threads"))
            await asyncio.sleep(0.005)

    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        sampler = asyncio.create_task(sample())
        start = time.perf_counter()
        answers = await asyncio.gather(
            *(client.post(CHAT, json=body_of(f"q{i} " * 20, stream)) for i in range(n))
        )
        took = time.perf_counter() - start
        done = True
        await sampler
    statuses = Counter(r.status_code for r in answers)
    return [dict(sorted(statuses.items())), took, peak, baseline]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--server":
        serve(int(sys.argv[2]))
        return
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--server", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.post(url + CHAT, json=body_of("warm up"), timeout=30)
        rss0 = proc_status(proc.pid, "VmRSS")
        big = big_requests(url, proc.pid)
        bursts = [
            ["200 streams", *asyncio.run(burst(url, proc.pid, 200, True))],
            ["200 plain requests", *asyncio.run(burst(url, proc.pid, 200, False))],
        ]
        rss1 = proc_status(proc.pid, "VmRSS")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    md = print_table("Oversized requests", ["request", "status", "seconds", "server RSS change (MB)"], big)
    md += "\n" + print_table(
        "Bursts (8 run slots, 64 queued)",
        ["burst", "statuses", "seconds", "peak threads", "threads before"],
        bursts,
    )
    md += f"\nserver RSS: {rss0 / 1024:.1f} MB after warm-up, {rss1 / 1024:.1f} MB at the end\n"
    print(md)
    write_results(
        "serve_hardening",
        {"oversized": big, "bursts": bursts, "rss_mb": [rss0 / 1024, rss1 / 1024], "markdown": md},
    )


if __name__ == "__main__":
    main()
