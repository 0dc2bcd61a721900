"""Catalogue, part 2: the shapes LangGraph users rely on — map fan-out (Send), interrupts (also in parallel
branches, Send instances and subflows), interrupt_after, time travel, stream modes, subflow key mapping,
threads with a messages reducer, batch, retry_on and the cross-run node cache. Each test asserts the final
state and the step order, like part 1."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

from ragloom.core.errors import FlowError, NodeExecutionError
from ragloom.flows import (
    END,
    START,
    Flow,
    InMemoryCheckpointer,
    NodeCache,
    RemoveMessage,
    Send,
    SQLiteCheckpointer,
    add,
    add_messages,
    append,
    emit,
    interrupt,
)


class S(BaseModel):
    docs: list[str] = []
    summaries: Annotated[list[str], append] = []
    log: Annotated[list[str], append] = []
    total: Annotated[int, add] = 0
    answer: str = ""


def logger(name: str):
    def fn(state: Any) -> dict:
        return {"log": [name]}

    fn.__name__ = name
    return fn


def summarise(arg: dict) -> dict:
    return {"summaries": [arg["doc"].upper()], "total": 1}


def map_flow(checkpointer: Any = None) -> Flow:
    flow = Flow(S, name="map")
    flow.add_node(logger("split"))
    flow.add_node("summarise", summarise)
    flow.add_node(logger("combine"))
    flow.add_edge(START, "split")
    flow.add_conditional_edges(
        "split", lambda s: [Send("summarise", {"doc": d}) for d in s.docs], ["summarise"]
    )
    flow.add_edge("summarise", "combine")
    flow.add_edge("combine", END)
    return flow


# -- 1-3: map fan-out ----
def test_router_sends_fan_one_node_out_over_items() -> None:
    result = map_flow().compile().invoke({"docs": ["a", "b", "c"]})
    assert sorted(result.state.summaries) == ["A", "B", "C"]
    assert result.state.total == 3
    assert result.state.log == ["split", "combine"]
    assert result.trace.steps == [["split"], ["summarise", "summarise", "summarise"], ["combine"]]


def test_a_node_can_return_sends() -> None:
    flow = Flow(S, name="node-sends")
    flow.add_node(
        "plan", lambda s: [Send("summarise", {"doc": d}) for d in ("x", "y")], sends_to=["summarise"]
    )
    flow.add_node("summarise", summarise)
    flow.add_edge(START, "plan")
    flow.add_edge("summarise", END)
    result = flow.compile().invoke({})
    assert result.state.summaries == ["X", "Y"]
    assert result.trace.steps == [["plan"], ["summarise", "summarise"]]


def test_sends_and_a_plain_target_run_in_one_step() -> None:
    flow = Flow(S, name="mixed")
    for name in ("split", "audit", "combine"):
        flow.add_node(logger(name))
    flow.add_node("summarise", summarise)
    flow.add_edge(START, "split")
    flow.add_conditional_edges(
        "split", lambda s: ["audit", *(Send("summarise", {"doc": d}) for d in s.docs)], ["audit", "summarise"]
    )
    flow.add_edge(["audit", "summarise"], "combine")
    flow.add_edge("combine", END)
    result = flow.compile().invoke({"docs": ["p", "q"]})
    assert result.state.log == ["split", "audit", "combine"]
    assert result.trace.steps == [["split"], ["audit", "summarise", "summarise"], ["combine"]]


# -- 4-9: human in the loop ----
def test_interrupt_pauses_and_resume_value_is_returned_by_interrupt() -> None:
    calls = Counter[str]()

    def review(state: S) -> dict:
        calls["review"] += 1
        verdict = interrupt({"draft": state.answer})
        return {"answer": f"{state.answer} ({verdict})", "log": ["review"]}

    flow = Flow(S, name="hitl")
    flow.add_node("draft", lambda s: {"answer": "42", "log": ["draft"]})
    flow.add_node("review", review)
    flow.add_node(logger("publish"))
    flow.add_edge(START, "draft")
    flow.add_edge("draft", "review")
    flow.add_edge("review", "publish")
    flow.add_edge("publish", END)
    compiled = flow.compile(checkpointer=InMemoryCheckpointer())
    paused = compiled.invoke({})
    assert paused.status == "interrupted"
    assert [(i.node, i.value) for i in paused.interrupts] == [("review", {"draft": "42"})]
    assert paused.state.log == ["draft"]
    done = compiled.resume(paused.run_id, value="approved")
    assert done.status == "done"
    assert done.state.answer == "42 (approved)"
    assert done.state.log == ["draft", "review", "publish"]
    assert done.trace.steps == [["draft"], ["review"], ["publish"]]
    assert calls["review"] == 2  # re-run from its start, as in LangGraph


def parallel_approvals(counter: Counter[str]) -> Flow:
    def asker(name: str):
        def fn(state: S) -> dict:
            counter[name] += 1
            return {"log": [f"{name}:{interrupt(f'ok {name}?')}"]}

        return fn

    def worker(state: S) -> dict:
        counter["worker"] += 1
        return {"log": ["worker"], "total": 10}

    flow = Flow(S, name="parallel-hitl")
    flow.add_node(logger("start"))
    flow.add_node("left", asker("left"))
    flow.add_node("right", asker("right"))
    flow.add_node("worker", worker)
    flow.add_node(logger("join"))
    flow.add_edge(START, "start")
    for branch in ("left", "right", "worker"):
        flow.add_edge("start", branch)
    flow.add_edge(["left", "right", "worker"], "join")
    flow.add_edge("join", END)
    return flow


def test_interrupts_in_parallel_branches_resume_with_a_mapping() -> None:
    counter = Counter[str]()
    compiled = parallel_approvals(counter).compile(checkpointer=InMemoryCheckpointer())
    paused = compiled.invoke({})
    assert paused.status == "interrupted"
    ids = {i.node: i.id for i in paused.interrupts}
    assert sorted(ids) == ["left", "right"]
    assert compiled.pending_interrupts(paused.run_id) == paused.interrupts
    done = compiled.resume(paused.run_id, value={ids["left"]: "yes", ids["right"]: "no"})
    assert done.status == "done"
    assert done.state.log == ["start", "left:yes", "right:no", "worker", "join"]
    assert done.state.total == 10
    assert done.trace.steps == [["start"], ["left", "right", "worker"], ["join"]]
    assert counter == Counter({"left": 2, "right": 2, "worker": 1})  # the finished branch never re-ran


def test_answering_one_of_two_interrupts_leaves_the_other_pending() -> None:
    counter = Counter[str]()
    compiled = parallel_approvals(counter).compile(checkpointer=InMemoryCheckpointer())
    paused = compiled.invoke({})
    left = next(i.id for i in paused.interrupts if i.node == "left")
    again = compiled.resume(paused.run_id, value={left: "yes"})
    assert again.status == "interrupted"
    assert [i.node for i in again.interrupts] == ["right"]
    done = compiled.resume(paused.run_id, value="fine")
    assert done.state.log == ["start", "left:yes", "right:fine", "worker", "join"]
    assert counter["worker"] == 1 and counter["left"] == 2  # left's answer was kept as a task write


def test_interrupt_inside_a_subflow_is_namespaced_and_resumable() -> None:
    class Inner(TypedDict, total=False):
        log: Annotated[list[str], append]

    prepared = Counter[str]()

    def prep(state: Inner) -> dict:
        prepared["prep"] += 1
        return {"log": ["prep"]}

    inner = Flow(Inner, name="inner")
    inner.add_node("prep", prep)
    inner.add_node("ask", lambda s: {"log": [f"ask:{interrupt('sure?')}"]})
    inner.add_edge(START, "prep")
    inner.add_edge("prep", "ask")
    inner.add_edge("ask", END)
    outer = Flow(S, name="outer")
    outer.add_node(logger("a"))
    outer.add_node("sub", inner.compile())
    outer.add_node(logger("z"))
    outer.add_edge(START, "a")
    outer.add_edge("a", "sub")
    outer.add_edge("sub", "z")
    outer.add_edge("z", END)
    compiled = outer.compile(checkpointer=InMemoryCheckpointer())
    paused = compiled.invoke({})
    (pending,) = paused.interrupts
    assert pending.ns == "sub@2" and pending.node == "ask" and pending.id == "sub@2/ask@2"
    done = compiled.resume(paused.run_id, value="yes")
    assert done.state.log == ["a", "prep", "ask:yes", "z"]
    assert done.trace.steps == [["a"], ["sub"], ["z"]]
    assert prepared["prep"] == 1  # the subflow continued from its own checkpoint, not from its start


def test_interrupt_per_send_instance() -> None:
    def approve(arg: dict) -> dict:
        answer = interrupt(arg["doc"])
        return {"summaries": [arg["doc"]] if answer == "keep" else []}

    flow = Flow(S, name="approve-each")
    flow.add_node(logger("split"))
    flow.add_node("approve", approve)
    flow.add_edge(START, "split")
    flow.add_conditional_edges("split", lambda s: [Send("approve", {"doc": d}) for d in s.docs], ["approve"])
    flow.add_edge("approve", END)
    compiled = flow.compile(checkpointer=InMemoryCheckpointer())
    paused = compiled.invoke({"docs": ["a", "b", "c"]})
    answers = {i.id: ("keep" if i.value != "b" else "drop") for i in paused.interrupts}
    assert sorted(i.value for i in paused.interrupts) == ["a", "b", "c"]
    done = compiled.resume(paused.run_id, value=answers)
    assert done.state.summaries == ["a", "c"]
    assert done.trace.steps == [["split"], ["approve", "approve", "approve"]]


def test_interrupt_after_pauses_once_the_node_ran() -> None:
    flow = Flow(S, name="after")
    for name in ("a", "b", "c"):
        flow.add_node(logger(name))
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("b", "c")
    flow.add_edge("c", END)
    compiled = flow.compile(interrupt_after=["b"])
    paused = compiled.invoke({})
    assert (paused.status, paused.interrupted_after, paused.state.log) == ("interrupted", "b", ["a", "b"])
    done = compiled.resume(paused.run_id, {"answer": "edited"})
    assert done.state.log == ["a", "b", "c"] and done.state.answer == "edited"
    assert done.trace.steps == [["a"], ["b"], ["c"]]


def test_interrupt_without_a_checkpointer_is_a_clear_error() -> None:
    flow = Flow(S, name="nocp")
    flow.add_node("ask", lambda s: {"answer": interrupt("?")})
    flow.add_edge(START, "ask")
    flow.add_edge("ask", END)
    with pytest.raises(FlowError, match="no checkpointer"):
        flow.compile().invoke({})


def test_async_flow_interrupt_and_aresume() -> None:
    async def ask(state: S) -> dict:
        await asyncio.sleep(0)
        return {"answer": interrupt("name?")}

    flow = Flow(S, name="async-hitl")
    flow.add_node("ask", ask)
    flow.add_node(logger("after"))
    flow.add_edge(START, "ask")
    flow.add_edge("ask", "after")
    flow.add_edge("after", END)
    compiled = flow.compile(checkpointer=InMemoryCheckpointer())
    paused = asyncio.run(compiled.ainvoke({}))
    assert paused.status == "interrupted"
    done = asyncio.run(compiled.aresume(paused.run_id, value="ada"))
    assert (done.state.answer, done.state.log) == ("ada", ["after"])
    assert done.trace.steps == [["ask"], ["after"]]


# -- 10: time travel ----
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_history_and_fork_from_a_past_step(kind: str, tmp_path: Path) -> None:
    checkpointer = InMemoryCheckpointer() if kind == "memory" else SQLiteCheckpointer(tmp_path / "c.sqlite")
    flow = Flow(S, name="travel")
    flow.add_node("a", lambda s: {"log": ["a"], "total": 1})
    flow.add_node("b", lambda s: {"log": [f"b{s.total}"], "total": 10})
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("b", END)
    compiled = flow.compile(checkpointer=checkpointer)
    first = compiled.invoke({}, run_id="orig")
    assert first.state.log == ["a", "b1"]
    history = compiled.history("orig")
    assert [(cp.step, cp.next, cp.status) for cp in history] == [
        (0, ("a",), "running"),
        (1, ("b",), "running"),
        (2, (), "done"),
    ]
    fork = compiled.fork("orig", step=1, update={"total": 100})
    forked = compiled.resume(fork)
    assert forked.run_id == fork != "orig"
    assert forked.state.log == ["a", "b101"] and forked.state.total == 111
    assert forked.trace.steps == [["a"], ["b"]]
    assert compiled.get_state("orig").log == ["a", "b1"]  # the original is intact


# -- 11-12: streaming ----
def test_stream_modes_values_updates_custom() -> None:
    def work(state: S) -> dict:
        emit({"progress": 0.5})
        return {"log": ["work"]}

    flow = Flow(S, name="streamy")
    flow.add_node("work", work)
    flow.add_node(logger("end"))
    flow.add_edge(START, "work")
    flow.add_edge("work", "end")
    flow.add_edge("end", END)
    events = list(flow.compile().stream({}, mode=["values", "updates", "custom"]))
    assert [(e.mode, e.node) for e in events] == [
        ("custom", "work"),
        ("updates", "work"),
        ("values", ""),
        ("updates", "end"),
        ("values", ""),
    ]
    assert events[0].data == {"progress": 0.5}
    assert events[-1].data["log"] == ["work", "end"]
    json.dumps([e.to_dict() for e in events])  # every event is JSON-serialisable


def test_stream_reports_subflow_events_with_a_namespace_and_interrupts() -> None:
    class Inner(TypedDict, total=False):
        log: Annotated[list[str], append]

    inner = Flow(Inner, name="inner")
    inner.add_node("deep", lambda s: (emit("hi from deep"), {"log": ["deep"]})[1])
    inner.add_edge(START, "deep")
    inner.add_edge("deep", END)
    outer = Flow(S, name="outer")
    outer.add_node("sub", inner.compile())
    outer.add_node("ask", lambda s: {"answer": interrupt("go?")})
    outer.add_edge(START, "sub")
    outer.add_edge("sub", "ask")
    outer.add_edge("ask", END)
    events = list(outer.compile(checkpointer=InMemoryCheckpointer()).stream({}, mode=["custom", "updates"]))
    assert [(e.mode, e.node, e.ns) for e in events] == [
        ("custom", "deep", "sub@1"),
        ("updates", "deep", "sub@1"),
        ("updates", "sub", ""),
        ("interrupt", "", ""),
    ]
    assert events[-1].data[0]["value"] == "go?"


# -- 13: subflow with its own schema ----
def test_subflow_key_mapping() -> None:
    class Search(BaseModel):
        query: str = ""
        hits: list[str] = []

    sub = Flow(Search, name="search")
    sub.add_node("find", lambda s: {"hits": [f"{s.query}-1", f"{s.query}-2"]})
    sub.add_edge(START, "find")
    sub.add_edge("find", END)
    parent = Flow(S, name="parent")
    parent.add_node("search", sub.compile(), input_map={"answer": "query"}, output_map={"hits": "summaries"})
    parent.add_node(logger("done"))
    parent.add_edge(START, "search")
    parent.add_edge("search", "done")
    parent.add_edge("done", END)
    result = parent.compile().invoke({"answer": "q", "summaries": ["old"]})
    assert result.state.summaries == ["old", "q-1", "q-2"]  # through the parent's append reducer
    assert result.trace.steps == [["search"], ["done"]]


# -- 14-15: threads and messages ----
class Chat(TypedDict, total=False):
    messages: Annotated[list[dict], add_messages]


def test_thread_keeps_the_conversation_across_runs(tmp_path: Path) -> None:
    def bot(state: Chat) -> dict:
        said = [m["content"] for m in state["messages"] if m["role"] == "user"]
        return {"messages": [{"role": "bot", "content": f"heard {len(said)}: {said[-1]}"}]}

    flow = Flow(Chat, name="chat")
    flow.add_node("bot", bot)
    flow.add_edge(START, "bot")
    flow.add_edge("bot", END)
    compiled = flow.compile(checkpointer=SQLiteCheckpointer(tmp_path / "t.sqlite"))
    compiled.invoke({"messages": [{"role": "user", "content": "hi"}]}, thread_id="t1")
    second = compiled.invoke({"messages": [{"role": "user", "content": "again"}]}, thread_id="t1")
    assert [m["content"] for m in second.state["messages"]] == [
        "hi",
        "heard 1: hi",
        "again",
        "heard 2: again",
    ]
    assert second.trace.steps == [["bot"]]
    assert [cp.status for cp in compiled.history("t1")] == ["running", "done", "running", "done"]


def test_add_messages_appends_replaces_by_id_and_removes() -> None:
    flow = Flow(Chat, name="edit")
    flow.add_node("edit", lambda s: {"messages": [{"id": "2", "content": "B"}, RemoveMessage("1")]})
    flow.add_edge(START, "edit")
    flow.add_edge("edit", END)
    start = [{"id": "1", "content": "a"}, {"id": "2", "content": "b"}, {"content": "c"}]
    result = flow.compile().invoke({"messages": start})
    assert result.state["messages"] == [{"id": "2", "content": "B"}, {"content": "c"}]
    assert result.trace.steps == [["edit"]]


# -- 16-17: batch ----
def batch_flow() -> Flow:
    def check(state: S) -> dict:
        if state.answer == "bad":
            raise ValueError("bad input")
        return {"log": [state.answer]}

    flow = Flow(S, name="batch")
    flow.add_node("check", check)
    flow.add_edge(START, "check")
    flow.add_edge("check", END)
    return flow


def test_batch_returns_results_and_errors_per_item() -> None:
    out = (
        batch_flow().compile().batch([{"answer": "a"}, {"answer": "bad"}, {"answer": "c"}], max_concurrency=2)
    )
    assert out[0].state.log == ["a"] and out[2].state.log == ["c"]
    assert isinstance(out[1], NodeExecutionError) and "bad input" in str(out[1])
    assert out[0].trace.steps == [["check"]]


def test_abatch_limits_concurrency() -> None:
    running, peak = [0], [0]

    async def slow(state: S) -> dict:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.01)
        running[0] -= 1
        return {"log": [state.answer]}

    flow = Flow(S, name="abatch")
    flow.add_node("slow", slow)
    flow.add_edge(START, "slow")
    flow.add_edge("slow", END)
    out = asyncio.run(flow.compile().abatch([{"answer": str(i)} for i in range(6)], max_concurrency=2))
    assert [r.state.log for r in out] == [[str(i)] for i in range(6)]
    assert peak[0] == 2


# -- 18-19: retries and caching ----
def test_retry_on_retries_only_listed_exceptions() -> None:
    attempts = Counter[str]()

    def flaky(state: S) -> dict:
        attempts[state.answer] += 1
        if attempts[state.answer] < 3:
            raise (TimeoutError if state.answer == "timeout" else KeyError)("transient")
        return {"log": ["ok"]}

    flow = Flow(S, name="retry")
    flow.add_node("flaky", flaky, retries=3, retry_on=(TimeoutError,))
    flow.add_edge(START, "flaky")
    flow.add_edge("flaky", END)
    compiled = flow.compile()
    result = compiled.invoke({"answer": "timeout"})
    assert result.state.log == ["ok"]
    assert [r.attempt for r in result.trace] == [1, 2, 3]
    with pytest.raises(NodeExecutionError, match="attempt 1 of 4"):
        compiled.invoke({"answer": "key"})


def test_node_cache_persists_across_flows_with_a_ttl(tmp_path: Path) -> None:
    calls = Counter[str]()

    def expensive(state: S) -> dict:
        calls[state.answer] += 1
        return {"log": [f"computed {state.answer}"]}

    def build(ttl: float) -> Any:
        flow = Flow(S, name="cached")
        flow.add_node("expensive", expensive, cache_ttl=ttl)
        flow.add_edge(START, "expensive")
        flow.add_edge("expensive", END)
        return flow.compile(cache=NodeCache(tmp_path / "cache.sqlite"))

    first = build(60).invoke({"answer": "q"})
    second = build(60).invoke({"answer": "q"})  # a new flow and a new cache connection: still a hit
    assert first.state.log == second.state.log == ["computed q"]
    assert [r.cached for r in second.trace] == [True]
    assert calls == Counter({"q": 1})
    time.sleep(0.05)
    build(0.01).invoke({"answer": "q"})  # expired
    assert calls == Counter({"q": 2})


def test_parallel_step_writes_are_stored_per_task() -> None:
    """The finished tasks of an interrupted step are task writes: visible to a resumed run, not re-run."""
    counter = Counter[str]()
    checkpointer = InMemoryCheckpointer()
    compiled = parallel_approvals(counter).compile(checkpointer=checkpointer)
    paused = compiled.invoke({})
    writes = checkpointer.writes(paused.run_id, 1)
    assert sorted(w.node for w in writes.values()) == ["worker"]
    assert threading.active_count() >= 1


def test_astream_modes_for_async_consumers() -> None:
    flow = Flow(S, name="astream")
    flow.add_node("a", lambda s: (emit("tick"), {"log": ["a"]})[1])
    flow.add_node(logger("b"))
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("b", END)
    compiled = flow.compile()

    async def collect() -> list:
        return [(e.mode, e.node, e.data) async for e in compiled.astream({}, mode=["custom", "updates"])]

    assert asyncio.run(collect()) == [
        ("custom", "a", "tick"),
        ("updates", "a", {"a": {"log": ["a"]}}),
        ("updates", "b", {"b": {"log": ["b"]}}),
    ]
