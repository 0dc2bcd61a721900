"""Regression tests for bugs found in the review of ragloom/flows (each failed before its fix)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import TypedDict

import pytest

from ragloom.core.errors import ConfigError, FlowError, LLMTimeoutError, NodeTimeoutError
from ragloom.flows.builder import END, START, Flow
from ragloom.flows.checkpoint import Checkpoint
from ragloom.flows.sqlite_checkpoint import _SEGMENTS_SCHEMA, SQLiteCheckpointer


class S(TypedDict, total=False):
    q: list[int]
    a: str
    b: str


def test_unhashable_cache_key_names_the_node() -> None:
    flow = Flow(S, name="cached")
    flow.add_node("n", lambda s: {"a": "x"}, cache_key=lambda s: s["q"])  # a list: unhashable
    flow.add_edge(START, "n")
    flow.add_edge("n", END)
    with pytest.raises(FlowError, match=r"cache_key of node 'n'.*not hashable"):
        flow.compile().invoke({"q": [1]})


def test_sync_timeout_in_async_parallel_step_returns_promptly() -> None:
    """A parallel step with an async node runs on a private loop; a timed-out sync node must not block it."""
    release = threading.Event()

    def slow(s: S) -> dict[str, str]:
        release.wait(10)
        return {"a": "slow"}

    async def fast(s: S) -> dict[str, str]:
        return {"b": "fast"}

    flow = Flow(S, name="timeouts")
    flow.add_node("slow", slow, timeout=0.05)
    flow.add_node("fast", fast)
    for name in ("slow", "fast"):
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    started = time.perf_counter()
    try:
        with pytest.raises(NodeTimeoutError, match="slow"):
            flow.compile().invoke({})
        elapsed = time.perf_counter() - started
    finally:
        release.set()
    assert elapsed < 5, f"invoke waited {elapsed:.1f} s for the abandoned node instead of its timeout"


def test_sqlite_async_writer_recovers_after_a_failed_commit(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    cp = SQLiteCheckpointer(path, durability="async")
    cp.save(Checkpoint("r", 1, {"a": 1}, ("x",)))
    cp.flush()
    other = sqlite3.connect(path, timeout=0.5)
    other.execute("DROP TABLE segments")
    other.commit()
    cp.save(Checkpoint("r", 2, {"a": 2}, ("x",)))
    with pytest.raises(ConfigError, match="no such table"):
        cp.flush()
    other.execute(_SEGMENTS_SCHEMA)  # failed before the fix: the writer's open transaction locked the file
    other.commit()
    other.close()
    cp.save(Checkpoint("r", 3, {"a": 3}, ("x",)))
    cp.flush()
    latest = cp.latest("r")
    assert latest is not None and latest.step == 3
    cp.close()


def test_sqlite_async_save_after_close_raises_instead_of_hanging(tmp_path: Path) -> None:
    cp = SQLiteCheckpointer(tmp_path / "c.db", durability="async")
    cp.save(Checkpoint("r", 1, {}, ()))
    cp.close()
    box: dict[str, BaseException] = {}

    def late_save() -> None:
        try:
            cp.save(Checkpoint("r", 2, {}, ()))
            cp.flush()
        except BaseException as e:
            box["error"] = e

    thread = threading.Thread(target=late_save, daemon=True)
    thread.start()
    thread.join(5)
    assert not thread.is_alive(), "save()/flush() after close() hung"
    assert isinstance(box.get("error"), ConfigError)


def _flaky_subflow_parent(retries: int) -> tuple[Flow, list[int]]:
    calls: list[int] = []

    def flaky(s: S) -> dict[str, str]:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("transient")
        return {"a": "ok"}

    inner = Flow(S, name="inner")
    inner.add_node("flaky", flaky)
    inner.add_edge(START, "flaky")
    inner.add_edge("flaky", END)
    outer = Flow(S, name="outer")
    outer.add_node("sub", inner.compile(), retries=retries)
    outer.add_edge(START, "sub")
    outer.add_edge("sub", END)
    return outer, calls


def test_subflow_node_honours_retries() -> None:
    outer, calls = _flaky_subflow_parent(retries=1)
    result = outer.compile().invoke({})
    assert result.state["a"] == "ok" and len(calls) == 2


def test_subflow_node_honours_retries_async() -> None:
    outer, calls = _flaky_subflow_parent(retries=1)
    result = asyncio.run(outer.compile().ainvoke({}))
    assert result.state["a"] == "ok" and len(calls) == 2


def _slow_subflow_parent(release: threading.Event, use_async: bool = False) -> Flow:
    def slow(s: S) -> dict[str, str]:
        release.wait(10)
        return {"a": "slow"}

    async def aslow(s: S) -> dict[str, str]:
        await asyncio.Event().wait()  # never set: cancelled by the timeout
        return {"a": "slow"}

    inner = Flow(S, name="inner")
    inner.add_node("slow", aslow if use_async else slow)
    inner.add_edge(START, "slow")
    inner.add_edge("slow", END)
    outer = Flow(S, name="outer")
    outer.add_node("sub", inner.compile(), timeout=0.05)
    outer.add_edge(START, "sub")
    outer.add_edge("sub", END)
    return outer


def test_subflow_node_honours_timeout() -> None:
    release = threading.Event()
    try:
        with pytest.raises(NodeTimeoutError, match="node 'sub'"):
            _slow_subflow_parent(release).compile().invoke({})
    finally:
        release.set()


def test_subflow_node_honours_timeout_async() -> None:
    release = threading.Event()
    try:
        with pytest.raises(NodeTimeoutError, match="node 'sub'"):
            asyncio.run(_slow_subflow_parent(release, use_async=True).compile().ainvoke({}))
    finally:
        release.set()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_failed_parallel_step_keeps_the_records_of_its_completed_nodes(mode: str) -> None:
    def bad(s: S) -> dict[str, str]:
        raise RuntimeError("boom")

    flow = Flow(S, name="parallel")
    flow.add_node("ok", lambda s: {"a": "ok"})
    flow.add_node("bad", bad)
    for name in ("ok", "bad"):
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    compiled = flow.compile()
    with pytest.raises(FlowError, match="node 'bad'") as info:
        compiled.invoke({}) if mode == "sync" else asyncio.run(compiled.ainvoke({}))
    records = info.value.trace.records  # type: ignore[attr-defined]
    assert {(r.node, r.error) for r in records} == {("ok", None), ("bad", "RuntimeError: boom")}


def test_async_node_raising_its_own_timeout_error_is_not_reported_as_the_node_timeout() -> None:
    async def call_llm(s: S) -> dict[str, str]:
        raise LLMTimeoutError("the LLM server did not answer within 30 s")

    flow = Flow(S, name="llm")
    flow.add_node("call_llm", call_llm, timeout=60)
    flow.add_edge(START, "call_llm")
    flow.add_edge("call_llm", END)
    with pytest.raises(FlowError) as info:
        flow.compile().invoke({})
    assert not isinstance(info.value, NodeTimeoutError)
    assert "LLMTimeoutError: the LLM server did not answer" in str(info.value)


def test_failing_cache_key_names_the_node() -> None:
    flow = Flow(S, name="cached")
    flow.add_node("n", lambda s: {"a": "x"}, cache_key=lambda s: s["b"])  # "b" is never set
    flow.add_edge(START, "n")
    flow.add_edge("n", END)
    with pytest.raises(FlowError, match=r"cache_key of node 'n'.*KeyError"):
        flow.compile().invoke({})


@pytest.mark.parametrize("durability", ["step", "async"])
def test_sqlite_close_is_idempotent(tmp_path: Path, durability: str) -> None:
    cp = SQLiteCheckpointer(tmp_path / "c.db", durability=durability)
    cp.save(Checkpoint("r", 1, {}, ()))
    cp.close()
    cp.close()  # raised sqlite3.ProgrammingError before the fix
