"""A catalogue of graph shapes. Each test builds a small flow from deterministic nodes and asserts the final
state AND the order of steps in the trace (``trace.steps``: node names grouped by superstep)."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, TypedDict

import pytest
from pydantic import BaseModel

from ragloom.core.errors import NodeExecutionError, NodeTimeoutError, StepLimitError
from ragloom.flows import END, START, Flow, add, append, merge_dict, node, replace


class S(BaseModel):
    log: Annotated[list[str], append] = []
    n: int = 0
    total: Annotated[int, add] = 0
    meta: Annotated[dict[str, int], merge_dict] = {}
    answer: str = ""


def logger(name: str, **extra: object):
    """A node that appends its name to ``log`` (and writes ``extra``)."""

    def fn(state: S) -> dict:
        return {"log": [name], **extra}

    fn.__name__ = name
    return fn


def chain(*names: str, state: type = S, max_steps: int | None = None) -> Flow:
    flow = Flow(state, name="chain", max_steps=max_steps)
    previous = START
    for name in names:
        flow.add_node(logger(name))
        flow.add_edge(previous, name)
        previous = name
    flow.add_edge(previous, END)
    return flow


# -- 1-3: linear, fan-out/fan-in ----
def test_linear_chain() -> None:
    result = chain("a", "b", "c").compile().invoke({})
    assert result.state.log == ["a", "b", "c"]
    assert result.trace.steps == [["a"], ["b"], ["c"]]
    assert result.status == "done"


def test_diamond_fan_out_fan_in() -> None:
    flow = Flow(S)
    for name in ("a", "b", "c", "d"):
        flow.add_node(logger(name))
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("a", "c")
    flow.add_edge(["b", "c"], "d")
    flow.add_edge("d", END)
    result = flow.compile().invoke({})
    assert result.state.log == ["a", "b", "c", "d"]
    assert result.trace.steps == [["a"], ["b", "c"], ["d"]]


def test_join_waits_for_branches_of_unequal_length() -> None:
    flow = Flow(S)
    for name in ("a", "b1", "b2", "b3", "c", "join"):
        flow.add_node(logger(name))
    flow.add_edge(START, "a")
    flow.add_edge("a", "b1")
    flow.add_edge("b1", "b2")
    flow.add_edge("b2", "b3")
    flow.add_edge("a", "c")
    flow.add_edge(["b3", "c"], "join")
    flow.add_edge("join", END)
    result = flow.compile().invoke({})
    assert result.trace.steps == [["a"], ["b1", "c"], ["b2"], ["b3"], ["join"]]
    assert result.state.log[-1] == "join" and result.state.log.count("join") == 1


def test_fan_out_from_start() -> None:
    flow = Flow(S)
    for name in ("x", "y", "z"):
        flow.add_node(logger(name))
    flow.add_edge(START, "x")
    flow.add_edge(START, "y")
    flow.add_edge(["x", "y"], "z")
    flow.add_edge("z", END)
    result = flow.compile().invoke({})
    assert result.trace.steps == [["x", "y"], ["z"]]
    assert result.state.log == ["x", "y", "z"]


# -- 4-7: conditional routing and loops ----
def _conditional(n: int):
    flow = Flow(S)
    flow.add_node(logger("grade"))
    flow.add_node(logger("small", answer="small"))
    flow.add_node(logger("big", answer="big"))
    flow.add_edge(START, "grade")
    flow.add_conditional_edges("grade", lambda s: "big" if s.n > 5 else "small", targets=["small", "big"])
    flow.add_edge("small", END)
    flow.add_edge("big", END)
    return flow.compile().invoke({"n": n})


@pytest.mark.parametrize(("n", "branch"), [(1, "small"), (9, "big")])
def test_conditional_branch(n: int, branch: str) -> None:
    result = _conditional(n)
    assert result.state.answer == branch
    assert result.trace.steps == [["grade"], [branch]]


def test_router_with_labels_and_end() -> None:
    flow = Flow(S)
    flow.add_node(logger("check"))
    flow.add_node(logger("fix"))
    flow.add_edge(START, "check")
    flow.add_conditional_edges("check", lambda s: "ok" if s.n else "bad", targets={"ok": END, "bad": "fix"})
    flow.add_edge("fix", END)
    compiled = flow.compile()
    assert compiled.invoke({"n": 1}).trace.steps == [["check"]]
    assert compiled.invoke({"n": 0}).trace.steps == [["check"], ["fix"]]


def test_loop_with_exit() -> None:
    def step(state: S) -> dict:
        return {"n": state.n + 1, "log": [f"step{state.n}"]}

    flow = Flow(S, max_steps=10)
    flow.add_node("step", step)
    flow.add_node(logger("done"))
    flow.add_edge(START, "step")
    flow.add_conditional_edges("step", lambda s: "step" if s.n < 3 else "done", targets=["step", "done"])
    flow.add_edge("done", END)
    result = flow.compile().invoke({})
    assert result.state.n == 3
    assert result.state.log == ["step0", "step1", "step2", "done"]
    assert result.trace.steps == [["step"], ["step"], ["step"], ["done"]]


def test_loop_past_step_limit_raises() -> None:
    flow = Flow(S, max_steps=4)
    flow.add_node("spin", lambda s: {"n": s.n + 1})
    flow.add_edge(START, "spin")
    flow.add_conditional_edges("spin", lambda s: "spin" if s.n < 100 else END, targets=["spin", END])
    with pytest.raises(StepLimitError, match=r"max_steps=4") as info:
        flow.compile().invoke({})
    assert "exit condition" in str(info.value)


def test_loop_around_a_diamond() -> None:
    """A fan-out/fan-in inside a loop: the join fires once per round."""
    flow = Flow(S, max_steps=20)
    flow.add_node("split", lambda s: {"n": s.n + 1, "log": ["split"]})
    flow.add_node(logger("left"))
    flow.add_node(logger("right"))
    flow.add_node(logger("join"))
    flow.add_edge(START, "split")
    flow.add_edge("split", "left")
    flow.add_edge("split", "right")
    flow.add_edge(["left", "right"], "join")
    flow.add_conditional_edges("join", lambda s: "split" if s.n < 2 else END, targets=["split", END])
    result = flow.compile().invoke({})
    assert result.trace.steps == [["split"], ["left", "right"], ["join"]] * 2
    assert result.state.log == ["split", "left", "right", "join"] * 2


# -- 8-10: parallel branches and reducers ----
def test_router_list_fans_out_and_join_collects() -> None:
    flow = Flow(S)
    flow.add_node(logger("plan"))
    for name in ("web", "docs", "code"):
        flow.add_node(name, lambda s, name=name: {"log": [name], "total": len(name), "meta": {name: 1}})
    flow.add_node(logger("merge"))
    flow.add_edge(START, "plan")
    flow.add_conditional_edges("plan", lambda s: ["web", "code"], targets=["web", "docs", "code"])
    for name in ("web", "docs", "code"):
        flow.add_edge(name, "merge")
    flow.add_edge("merge", END)
    result = flow.compile().invoke({})
    assert result.trace.steps == [["plan"], ["web", "code"], ["merge"]]
    assert result.state.total == 3 + 4
    assert result.state.meta == {"web": 1, "code": 1}
    assert result.state.log == ["plan", "web", "code", "merge"]


def test_parallel_reducers_add_and_merge_dict() -> None:
    flow = Flow(S)
    for i, name in enumerate(("p", "q", "r")):
        flow.add_node(name, lambda s, i=i, name=name: {"total": 10**i, "meta": {name: i}})
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    result = flow.compile().invoke({"total": 1000})
    assert result.state.total == 1111
    assert result.state.meta == {"p": 0, "q": 1, "r": 2}
    assert result.trace.steps == [["p", "q", "r"]]


def test_explicit_replace_reducer_allows_several_writers() -> None:
    class R(BaseModel):
        winner: Annotated[str, replace] = ""

    flow = Flow(R)
    flow.add_node("first", lambda s: {"winner": "first"})
    flow.add_node("second", lambda s: {"winner": "second"})
    for name in ("first", "second"):
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    result = flow.compile().invoke({})
    assert result.state.winner == "second"  # last in scheduling order wins
    assert result.trace.steps == [["first", "second"]]


def test_custom_callable_reducer() -> None:
    class M(BaseModel):
        best: Annotated[int, max] = 0

    flow = Flow(M)
    for name, value in (("a", 3), ("b", 7), ("c", 5)):
        flow.add_node(name, lambda s, v=value: {"best": v})
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    result = flow.compile().invoke({})
    assert result.state.best == 7
    assert result.trace.steps == [["a", "b", "c"]]


# -- 11-12: concurrency is real ----
def test_sync_branches_run_concurrently() -> None:
    """Each branch waits for the other at a barrier: this only finishes if they run at the same time."""
    barrier = threading.Barrier(2, timeout=10)

    def branch(name: str):
        def fn(state: S) -> dict:
            barrier.wait()
            return {"log": [name]}

        return fn

    flow = Flow(S)
    flow.add_node("left", branch("left"))
    flow.add_node("right", branch("right"))
    flow.add_node(logger("join"))
    flow.add_edge(START, "left")
    flow.add_edge(START, "right")
    flow.add_edge(["left", "right"], "join")
    flow.add_edge("join", END)
    result = flow.compile().invoke({})
    assert result.trace.steps == [["left", "right"], ["join"]]
    assert result.state.log == ["left", "right", "join"]


def test_async_branches_run_concurrently() -> None:
    async def main() -> None:
        ping, pong = asyncio.Event(), asyncio.Event()

        async def left(state: S) -> dict:
            ping.set()
            await asyncio.wait_for(pong.wait(), 10)
            return {"log": ["left"]}

        async def right(state: S) -> dict:
            pong.set()
            await asyncio.wait_for(ping.wait(), 10)
            return {"log": ["right"]}

        flow = Flow(S)
        flow.add_node(left)
        flow.add_node(right)
        flow.add_node(logger("join"))
        flow.add_edge(START, "left")
        flow.add_edge(START, "right")
        flow.add_edge(["left", "right"], "join")
        flow.add_edge("join", END)
        result = await flow.compile().ainvoke({})
        assert result.trace.steps == [["left", "right"], ["join"]]
        assert result.state.log == ["left", "right", "join"]

    asyncio.run(main())


def test_mixed_sync_and_async_parallel_step_from_invoke() -> None:
    """A sync node (in a thread) and an async node (on a loop) in one step, hand-shaking through an Event."""
    seen = threading.Event()

    def sync_side(state: S) -> dict:
        assert seen.wait(10)
        return {"log": ["sync"]}

    async def async_side(state: S) -> dict:
        seen.set()
        return {"log": ["async"]}

    flow = Flow(S)
    flow.add_node("sync", sync_side)
    flow.add_node("async", async_side)
    for name in ("sync", "async"):
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    result = flow.compile().invoke({})
    assert result.trace.steps == [["sync", "async"]]
    assert result.state.log == ["sync", "async"]


# -- 13-14: async nodes ----
def test_async_chain_with_ainvoke_and_invoke() -> None:
    async def up(state: S) -> dict:
        await asyncio.sleep(0)
        return {"n": state.n + 1, "log": ["up"]}

    flow = Flow(S)
    flow.add_node(up)
    flow.add_node(logger("after"))
    flow.add_edge(START, "up")
    flow.add_edge("up", "after")
    flow.add_edge("after", END)
    compiled = flow.compile()
    for result in (asyncio.run(compiled.ainvoke({"n": 1})), compiled.invoke({"n": 1})):
        assert result.state.n == 2
        assert result.trace.steps == [["up"], ["after"]]


def test_astream_yields_events_in_order() -> None:
    compiled = chain("a", "b").compile()

    async def collect() -> list[tuple[str, int]]:
        return [(e.node, e.step) async for e in compiled.astream({})]

    assert asyncio.run(collect()) == [("a", 1), ("b", 2)]


# -- 15-16: subflows ----
def test_nested_subflow_as_node() -> None:
    inner = chain("i1", "i2").compile()
    outer = Flow(S)
    outer.add_node(logger("before"))
    outer.add_node("inner", inner)
    outer.add_node(logger("after"))
    outer.add_edge(START, "before")
    outer.add_edge("before", "inner")
    outer.add_edge("inner", "after")
    outer.add_edge("after", END)
    result = outer.compile().invoke({"log": ["input"]})
    # the subflow sees the parent's log and returns its final value (no double append)
    assert result.state.log == ["input", "before", "i1", "i2", "after"]
    assert result.trace.steps == [["before"], ["inner"], ["after"]]
    sub_record = result.trace[1]
    assert [c.node for c in sub_record.children] == ["i1", "i2"]


def test_subflow_within_subflow_and_other_state_type() -> None:
    class Inner(TypedDict, total=False):
        n: int

    deepest = Flow(Inner)
    deepest.add_node("double", lambda s: {"n": s["n"] * 2})
    deepest.add_edge(START, "double")
    deepest.add_edge("double", END)
    middle = Flow(Inner)
    middle.add_node("plus_one", lambda s: {"n": s["n"] + 1})
    middle.add_node("deep", deepest.compile())
    middle.add_edge(START, "plus_one")
    middle.add_edge("plus_one", "deep")
    middle.add_edge("deep", END)
    outer = Flow(S)
    outer.add_node("middle", middle.compile())
    outer.add_node(logger("end"))
    outer.add_edge(START, "middle")
    outer.add_edge("middle", "end")
    outer.add_edge("end", END)
    result = outer.compile().invoke({"n": 4})
    assert result.state.n == 10
    assert result.trace.steps == [["middle"], ["end"]]
    assert [c.node for c in result.trace[0].children] == ["plus_one", "deep"]


# -- 17-20: retries, timeouts, errors, cache ----
def test_retry_then_success() -> None:
    calls = []

    @node(retries=2, backoff=0.0)
    def flaky(state: S) -> dict:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)}")
        return {"answer": "ok"}

    flow = Flow(S)
    flow.add_node(flaky)
    flow.add_edge(START, "flaky")
    flow.add_edge("flaky", END)
    result = flow.compile().invoke({})
    assert result.state.answer == "ok"
    assert result.trace.nodes == ["flaky", "flaky", "flaky"]
    assert [r.attempt for r in result.trace] == [1, 2, 3]
    assert [r.error for r in result.trace] == ["ConnectionError: try 1", "ConnectionError: try 2", None]


def test_retries_exhausted_raise_with_trace() -> None:
    @node(name="boom", retries=1)
    def always_fails(state: S) -> dict:
        raise ValueError("bad input")

    flow = Flow(S)
    flow.add_node(logger("first"))
    flow.add_node(always_fails)
    flow.add_edge(START, "first")
    flow.add_edge("first", "boom")
    flow.add_edge("boom", END)
    with pytest.raises(NodeExecutionError) as info:
        flow.compile().invoke({})
    err = info.value
    assert err.node == "boom"
    assert "node 'boom'" in str(err) and "step 2" in str(err) and "attempt 2 of 2" in str(err)
    assert isinstance(err.__cause__, ValueError)
    assert err.trace.steps == [["first"], ["boom", "boom"]]  # type: ignore[attr-defined]


def test_timeout_sync_node() -> None:
    release = threading.Event()

    @node(timeout=0.05)
    def stuck(state: S) -> dict:
        release.wait(10)
        return {}

    flow = Flow(S)
    flow.add_node(stuck)
    flow.add_edge(START, "stuck")
    flow.add_edge("stuck", END)
    try:
        with pytest.raises(NodeTimeoutError, match=r"node 'stuck'.*timeout of 0.05 s") as info:
            flow.compile().invoke({})
        assert info.value.trace.nodes == ["stuck"]  # type: ignore[attr-defined]
        assert info.value.trace[0].error == "timeout after 0.05 s"  # type: ignore[attr-defined]
    finally:
        release.set()


def test_timeout_async_node_with_retry() -> None:
    attempts = []

    @node(timeout=0.05, retries=1)
    async def slow_once(state: S) -> dict:
        attempts.append(1)
        if len(attempts) == 1:
            await asyncio.Event().wait()  # never set: only the timeout ends it
        return {"answer": "second try"}

    flow = Flow(S)
    flow.add_node(slow_once)
    flow.add_edge(START, "slow_once")
    flow.add_edge("slow_once", END)
    result = flow.compile().invoke({})
    assert result.state.answer == "second try"
    assert [(r.attempt, r.error) for r in result.trace] == [(1, "timeout after 0.05 s"), (2, None)]


def test_cache_key_memoises_within_a_run() -> None:
    calls: list[int] = []

    @node(cache_key=lambda s: s.answer)
    def expensive(state: S) -> dict:
        calls.append(state.n)
        return {"log": ["computed"]}

    flow = Flow(S, max_steps=10)
    flow.add_node(expensive)
    flow.add_node("count", lambda s: {"n": s.n + 1})
    flow.add_edge(START, "expensive")
    flow.add_edge("expensive", "count")
    flow.add_conditional_edges("count", lambda s: "expensive" if s.n < 3 else END, targets=["expensive", END])
    compiled = flow.compile()
    result = compiled.invoke({})
    assert calls == [0]  # same key (answer == "") every round: computed once
    assert result.state.log == ["computed"] * 3
    assert result.trace.steps == [["expensive"], ["count"]] * 3
    assert [r.cached for r in result.trace if r.node == "expensive"] == [False, True, True]
    compiled.invoke({})
    assert calls == [0, 0]  # the cache lives for one run only


def test_node_returning_none_changes_nothing() -> None:
    flow = Flow(S)
    flow.add_node("noop", lambda s: None)
    flow.add_edge(START, "noop")
    flow.add_edge("noop", END)
    result = flow.compile().invoke({"n": 5})
    assert result.state.n == 5
    assert result.trace.steps == [["noop"]] and result.trace[0].changed == ()


# -- 21-22: typed dict state, stream ----
def test_typed_dict_state_with_reducer() -> None:
    class T(TypedDict, total=False):
        items: Annotated[list[int], append]
        label: str

    flow = Flow(T)
    flow.add_node("one", lambda s: {"items": 1})
    flow.add_node("two", lambda s: {"items": [2, 3], "label": f"{len(s['items'])} items"})
    flow.add_edge(START, "one")
    flow.add_edge("one", "two")
    flow.add_edge("two", END)
    result = flow.compile().invoke({})
    assert result.state == {"items": [1, 2, 3], "label": "1 items"}
    assert result.trace.steps == [["one"], ["two"]]


def test_stream_yields_one_event_per_node_step() -> None:
    flow = Flow(S)
    for name in ("a", "b", "c"):
        flow.add_node(logger(name))
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("a", "c")
    flow.add_edge("b", END)
    flow.add_edge("c", END)
    events = list(flow.compile().stream({}))
    assert [(e.node, e.step) for e in events] == [("a", 1), ("b", 2), ("c", 2)]
    assert events[0].update == {"log": ["a"]}
    assert events[0].state.log == ["a"]
    assert events[-1].state.log == ["a", "b", "c"]
    assert all(e.record.node == e.node for e in events)


def test_subflow_with_async_nodes_under_ainvoke() -> None:
    async def inner_node(state: S) -> dict:
        await asyncio.sleep(0)
        return {"log": ["inner"], "total": 5}

    inner = Flow(S, name="inner")
    inner.add_node("inner_node", inner_node)
    inner.add_edge(START, "inner_node")
    inner.add_edge("inner_node", END)
    outer = Flow(S, name="outer")
    outer.add_node("sub", inner.compile())
    outer.add_node(logger("side"))
    outer.add_node(logger("end"))
    outer.add_edge(START, "sub")
    outer.add_edge(START, "side")
    outer.add_edge(["sub", "side"], "end")
    outer.add_edge("end", END)
    compiled = outer.compile()
    for result in (asyncio.run(compiled.ainvoke({"total": 1})), compiled.invoke({"total": 1})):
        assert result.state.total == 6
        assert result.state.log == ["inner", "side", "end"]
        assert result.trace.steps == [["sub", "side"], ["end"]]


def test_parallel_subflow_merges_through_parent_reducers() -> None:
    """A subflow and a sibling both append to ``log`` and add to ``total`` in one step; nothing is lost
    whichever runs first, because the subflow's result goes through the parent's reducers as a delta."""
    inner = Flow(S, name="inner")
    inner.add_node("i", lambda s: {"log": ["i1", "i2"], "total": 10, "meta": {"inner": 1}, "answer": "sub"})
    inner.add_edge(START, "i")
    inner.add_edge("i", END)
    outer = Flow(S, name="outer")
    outer.add_node(logger("side", total=100, meta={"side": 2}))
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "side")  # side is scheduled before the subflow
    outer.add_edge(START, "sub")
    outer.add_edge("side", END)
    outer.add_edge("sub", END)
    result = outer.compile().invoke({"log": ["start"], "total": 1})
    assert result.state.log == ["start", "side", "i1", "i2"]
    assert result.state.total == 111
    assert result.state.meta == {"side": 2, "inner": 1}
    assert result.state.answer == "sub"
    assert result.trace.steps == [["side", "sub"]]
