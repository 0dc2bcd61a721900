"""Checkpoints: interrupt/resume (human in the loop), resume after a failure without re-running completed
steps, SQLite persistence across checkpointer instances, both serialisations."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from ragloom.core.errors import FlowError, NodeExecutionError
from ragloom.flows import (
    END,
    START,
    Checkpointer,
    Flow,
    InMemoryCheckpointer,
    SQLiteCheckpointer,
    append,
)


class S(BaseModel):
    log: Annotated[list[str], append] = []
    draft: str = ""
    approved: bool = False


def review_flow(calls: list[str], fail_publish: list[bool] | None = None) -> Flow:
    def write(state: S) -> dict:
        calls.append("write")
        return {"log": ["write"], "draft": "v1"}

    def publish(state: S) -> dict:
        calls.append("publish")
        if fail_publish and fail_publish[0]:
            raise RuntimeError("publisher down")
        return {"log": [f"publish {state.draft} approved={state.approved}"]}

    flow = Flow(S, name="review")
    flow.add_node("write", write)
    flow.add_node("publish", publish)
    flow.add_edge(START, "write")
    flow.add_edge("write", "publish")
    flow.add_edge("publish", END)
    return flow


@pytest.fixture(
    params=[
        "memory",
        "sqlite-pickle-step",
        "sqlite-json-step",
        "sqlite-pickle-async",
        "postgres-json-step",
        "postgres-json-async",
    ]
)
def checkpointer(request: pytest.FixtureRequest, tmp_path: Path) -> Checkpointer:
    if request.param == "memory":
        return InMemoryCheckpointer()
    if request.param.startswith("postgres"):
        from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

        dsn = request.getfixturevalue("postgres_dsn")
        _, serde, durability = request.param.split("-")
        prefix = f"t{uuid.uuid4().hex[:12]}_"  # one set of tables per test: tests share the server
        return PostgresCheckpointer(dsn, serde=serde, durability=durability, table_prefix=prefix)
    _, serde, durability = request.param.split("-")
    return SQLiteCheckpointer(tmp_path / "runs.sqlite", serde=serde, durability=durability)


def test_interrupt_then_resume_with_update(checkpointer: Checkpointer) -> None:
    calls: list[str] = []
    compiled = review_flow(calls).compile(checkpointer=checkpointer, interrupt_before=["publish"])
    paused = compiled.invoke({}, run_id="r1")
    assert paused.status == "interrupted" and paused.interrupted_before == "publish"
    assert paused.state.draft == "v1" and calls == ["write"]
    assert paused.trace.steps == [["write"]]
    assert compiled.get_state("r1").draft == "v1"

    done = compiled.resume("r1", update={"draft": "v2", "approved": True})
    assert done.status == "done" and done.interrupted_before is None
    assert done.state.log == ["write", "publish v2 approved=True"]
    assert calls == ["write", "publish"]  # write did not run again
    assert done.trace.steps == [["write"], ["publish"]]
    again = compiled.resume("r1")  # a finished run just reports its result
    assert again.state == done.state and calls == ["write", "publish"]


def test_resume_after_failure_skips_completed_steps(checkpointer: Checkpointer) -> None:
    calls: list[str] = []
    failing = [True]
    compiled = review_flow(calls, failing).compile(checkpointer=checkpointer)
    with pytest.raises(NodeExecutionError, match="publisher down"):
        compiled.invoke({}, run_id="crashy")
    failing[0] = False
    result = compiled.resume("crashy")
    assert calls == ["write", "publish", "publish"]
    assert result.state.log == ["write", "publish v1 approved=False"]
    assert result.trace.steps == [["write"], ["publish"]]


def test_sqlite_checkpoints_survive_a_new_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    calls: list[str] = []
    stores = [SQLiteCheckpointer(path), SQLiteCheckpointer(path)]  # two processes, say, both left open
    first = review_flow(calls).compile(checkpointer=stores[0], interrupt_before=["publish"])
    first.invoke({}, run_id="persist")
    second = review_flow(calls).compile(checkpointer=stores[1], interrupt_before=["publish"])
    result = second.resume("persist", update={"approved": True})  # re-saves the paused step 1
    assert result.state.log == ["write", "publish v1 approved=True"]
    assert calls == ["write", "publish"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert committed_steps(path, "persist") == [0, 1, 2]  # committed when each run returned
    for each in reversed(stores):  # the first's pause was committed when it paused: closing the first one
        each.close()  # last commits nothing that could override the update
    history = SQLiteCheckpointer(path).history("persist")
    assert [(cp.step, cp.state["approved"], cp.status) for cp in history] == [
        (0, False, "running"),
        (1, True, "running"),
        (2, True, "done"),
    ]


def committed_steps(path: Path, run_id: str) -> list[int]:
    """The steps of a run committed to the file, read by a plain sqlite3 connection (segments hold step-log
    records, see ragloom/flows/sqlite_checkpoint.py)."""
    from ragloom.flows.step_log import decode_rows

    with sqlite3.connect(path) as conn:
        blobs = conn.execute("SELECT rows FROM segments WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    return sorted({row[1] for (blob,) in blobs for row in decode_rows(blob)})


def test_state_is_saved_after_every_step(tmp_path: Path) -> None:
    checkpointer = SQLiteCheckpointer(tmp_path / "h.sqlite")
    calls: list[str] = []
    review_flow(calls).compile(checkpointer=checkpointer).invoke({}, run_id="h")
    history = checkpointer.history("h")
    assert [cp.step for cp in history] == [0, 1, 2]
    assert [cp.next for cp in history] == [("write",), ("publish",), ()]
    assert [cp.state["log"] for cp in history] == [[], ["write"], ["write", "publish v1 approved=False"]]
    assert [cp.status for cp in history] == ["running", "running", "done"]


def test_join_arrivals_are_checkpointed(checkpointer: Checkpointer) -> None:
    """A crash between two branches of unequal length must not lose the branch that already arrived."""
    calls: list[str] = []
    broken = [True]

    def node(name: str) -> Any:
        def fn(state: S) -> dict:
            calls.append(name)
            if name == "long2" and broken[0]:
                raise RuntimeError("crash")
            return {"log": [name]}

        return fn

    flow = Flow(S)
    for name in ("short", "long1", "long2", "join"):
        flow.add_node(name, node(name))
    flow.add_edge(START, "short")
    flow.add_edge(START, "long1")
    flow.add_edge("long1", "long2")
    flow.add_edge(["short", "long2"], "join")
    flow.add_edge("join", END)
    compiled = flow.compile(checkpointer=checkpointer)
    with pytest.raises(NodeExecutionError):
        compiled.invoke({}, run_id="j")
    broken[0] = False
    result = compiled.resume("j")
    assert result.state.log == ["short", "long1", "long2", "join"]
    assert sorted(calls[:2]) == ["long1", "short"]  # the first step's two branches run concurrently
    assert calls[2:] == ["long2", "long2", "join"]
    assert result.trace.steps == [["short", "long1"], ["long2"], ["join"]]


def test_run_id_reuse_and_unknown_runs(checkpointer: Checkpointer) -> None:
    compiled = review_flow([]).compile(checkpointer=checkpointer)
    compiled.invoke({}, run_id="once")
    with pytest.raises(FlowError, match=r"run 'once' already exists.*resume\('once'\)"):
        compiled.invoke({}, run_id="once")
    with pytest.raises(FlowError, match="no checkpoint for run 'never'"):
        compiled.resume("never")


def test_resume_needs_a_checkpointer() -> None:
    with pytest.raises(FlowError, match=r"no checkpointer; compile\(checkpointer=...\)"):
        review_flow([]).compile().resume("x")


def test_interrupt_without_checkpointer_uses_memory() -> None:
    compiled = review_flow([]).compile(interrupt_before=["write"])
    paused = compiled.invoke({}, run_id="m")
    assert paused.status == "interrupted" and paused.interrupted_before == "write"
    assert paused.trace.steps == []
    assert compiled.resume("m").trace.steps == [["write"], ["publish"]]


def test_json_serde_refuses_non_json_state(tmp_path: Path) -> None:
    class Odd(BaseModel):
        value: Any = None

    flow = Flow(Odd)
    flow.add_node("put", lambda s: {"value": object()})
    flow.add_edge(START, "put")
    flow.add_edge("put", END)
    compiled = flow.compile(checkpointer=SQLiteCheckpointer(tmp_path / "j.sqlite", serde="json"))
    with pytest.raises(Exception, match=r"not JSON-serialisable.*serde='pickle'"):
        compiled.invoke({})


def test_async_durability_commits_before_the_run_returns(tmp_path: Path) -> None:
    path = tmp_path / "async.sqlite"
    checkpointer = SQLiteCheckpointer(path, durability="async")
    for i in range(5):
        review_flow([]).compile(checkpointer=checkpointer).invoke({}, run_id=f"a{i}")
        # another connection sees every step as soon as invoke returned
        assert committed_steps(path, f"a{i}") == [0, 1, 2]
    checkpointer.close()


def test_run_with_generated_id_failing_in_first_step_is_resumable(checkpointer: Checkpointer) -> None:
    calls: list[str] = []
    broken = [True]

    def first(state: S) -> dict:
        calls.append("first")
        if broken[0]:
            raise RuntimeError("down")
        return {"log": ["first"]}

    flow = Flow(S)
    flow.add_node("first", first)
    flow.add_edge(START, "first")
    flow.add_edge("first", END)
    compiled = flow.compile(checkpointer=checkpointer)
    with pytest.raises(NodeExecutionError) as info:
        compiled.invoke({"draft": "input"})
    run_id = info.value.trace.run_id  # type: ignore[attr-defined]
    broken[0] = False
    result = compiled.resume(run_id)
    assert result.state.log == ["first"] and result.state.draft == "input"
    assert calls == ["first", "first"]


def test_sends_interrupts_task_writes_and_history_in_every_checkpointer(checkpointer: Checkpointer) -> None:
    """Conformance for the map fan-out/HITL records: Send tasks and Interrupts round-trip through the store,
    a finished instance is a task write (not re-run), history lists every step, a fork leaves the original."""
    from ragloom.flows import Send, interrupt

    ran: list[str] = []

    def item(arg: dict) -> dict:
        ran.append(arg["doc"])
        if arg["doc"] == "ask":
            return {"log": [f"ask:{interrupt({'doc': arg['doc']})}"]}
        return {"log": [arg["doc"]]}

    flow = Flow(S, name="conformance")
    flow.add_node("item", item)
    flow.add_conditional_edges(START, lambda s: [Send("item", {"doc": d}) for d in ("a", "ask")], ["item"])
    flow.add_edge("item", END)
    compiled = flow.compile(checkpointer=checkpointer)
    paused = compiled.invoke({}, run_id="c1")
    (pending,) = paused.interrupts
    assert pending.value == {"doc": "ask"} and pending.node == "item"
    assert compiled.pending_interrupts("c1") == paused.interrupts  # read back from the store
    assert [w.node for w in checkpointer.writes("c1", 0).values()] == ["item"]
    done = compiled.resume("c1", value="yes")
    assert done.state.log == ["a", "ask:yes"] and sorted(ran) == ["a", "ask", "ask"]
    assert [(cp.step, cp.status) for cp in compiled.history("c1")] == [(0, "interrupted"), (1, "done")]
    assert isinstance(compiled.history("c1")[0].next[0], Send)
    fork = compiled.fork("c1", 0, new_run_id="c2")
    assert compiled.resume(fork, value="no").state.log == ["a", "ask:no"]
    assert compiled.get_state("c1").log == ["a", "ask:yes"]
