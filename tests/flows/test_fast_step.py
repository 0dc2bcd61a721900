"""The fused one-node step (``invoke``: ragloom/flows/fast_step.py) and the general step (``stream``:
``_step_sync`` and ``Run.plan``) must leave the same state, trace and checkpoints, and fail alike, for every
shape a one-node step can hand over to the next: plain edges, a router's label, a list of labels, Sends from a
router or from a node, joins, reducers, END."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest

from ragloom.core.errors import FlowError, NodeExecutionError, StateUpdateError
from ragloom.flows import END, START, Flow, InMemoryCheckpointer, Send, append


class S(TypedDict, total=False):
    n: int
    log: Annotated[list[str], append]
    item: str


def step(name: str, **extra: Any) -> Callable[[Any], dict[str, Any]]:
    def fn(state: Any) -> dict[str, Any]:
        return {"log": [name], "n": state.get("n", 0) + 1, **extra}

    fn.__name__ = name
    return fn


def loop_to_end() -> Flow:
    flow = Flow(S, name="loop", max_steps=20)
    flow.add_node(step("inc"))
    flow.add_edge(START, "inc")
    flow.add_conditional_edges(
        "inc", lambda s: "again" if s["n"] < 5 else "stop", {"again": "inc", "stop": END}
    )
    return flow


def router_list_then_join() -> Flow:
    flow = Flow(S, name="fan")
    for name in ("a", "b", "c", "d"):
        flow.add_node(name, step(name) if name == "a" else (lambda s, name=name: {"log": [name]}))
    flow.add_edge(START, "a")
    flow.add_conditional_edges("a", lambda s: ["b", "c"], ["b", "c"])
    flow.add_edge(["b", "c"], "d")
    flow.add_edge("d", END)
    return flow


def router_sends() -> Flow:
    flow = Flow(S, name="map")
    flow.add_node(step("split"))
    flow.add_node("work", lambda item: {"log": [f"work {item['item']}"]})
    flow.add_edge(START, "split")
    flow.add_conditional_edges("split", lambda s: [Send("work", {"item": x}) for x in "xyz"], ["work"])
    flow.add_edge("work", END)
    return flow


def node_sends() -> Flow:
    flow = Flow(S, name="node-map")
    flow.add_node("split", lambda s: [Send("work", {"item": x}) for x in "xy"], sends_to=["work"])
    flow.add_node("work", lambda item: {"log": [f"work {item['item']}"]})
    flow.add_node(step("after"))
    flow.add_edge(START, "split")
    flow.add_edge("work", "after")
    flow.add_edge("after", END)
    return flow


def chain_with_reducer() -> Flow:
    flow = Flow(S, name="chain")
    previous = START
    for name in ("a", "b", "c"):
        flow.add_node(step(name))
        flow.add_edge(previous, name)
        previous = name
    flow.add_edge(previous, END)
    return flow


def router_unlisted_label() -> Flow:
    flow = Flow(S, name="free", max_steps=10)
    flow.add_node(step("a"))
    flow.add_node(step("b"))
    flow.add_edge(START, "a")
    flow.add_conditional_edges("a", lambda s: "b")  # no targets: node names checked at run time
    flow.add_edge("b", END)
    return flow


SHAPES = [
    loop_to_end,
    router_list_then_join,
    router_sends,
    node_sends,
    chain_with_reducer,
    router_unlisted_label,
]


def outcome(shape: Callable[[], Flow], fused: bool) -> tuple[Any, ...]:
    """(final state, trace as (step, node, changed), checkpoints as (step, state, next, status, nodes))."""
    checkpointer = InMemoryCheckpointer()
    flow = shape().compile(checkpointer=checkpointer)
    if fused:
        flow.invoke({"n": 0}, run_id="r")
    else:
        list(flow.stream({"n": 0}, run_id="r"))
    history = flow.history("r")
    trace = [(r.step, r.node, r.changed) for cp in history for r in cp.records]
    rows = [(cp.step, cp.state, cp.next, cp.status, [r.node for r in cp.records]) for cp in history]
    return flow.get_state("r"), trace, rows


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_the_fused_step_and_the_general_step_agree(shape: Callable[[], Flow]) -> None:
    fused, general = outcome(shape, fused=True), outcome(shape, fused=False)
    assert fused == general
    assert fused[2][-1][3] == "done"


def test_a_run_through_the_fused_step_has_the_shapes_expected_results() -> None:
    result = loop_to_end().compile().invoke({"n": 0})
    assert result.state["n"] == 5 and result.trace.nodes == ["inc"] * 5
    result = router_list_then_join().compile().invoke({})
    assert result.trace.steps == [["a"], ["b", "c"], ["d"]]
    assert sorted(router_sends().compile().invoke({}).state["log"]) == ["split", "work x", "work y", "work z"]
    assert node_sends().compile().invoke({}).state["log"] == ["work x", "work y", "after"]


@pytest.mark.parametrize(
    ("router", "error", "match"),
    [
        (lambda s: "nowhere", NodeExecutionError, "returned 'nowhere', which is not one of its targets"),
        (
            lambda s: 1 / 0,
            NodeExecutionError,
            "the router after node 'a' of flow 'bad' raised ZeroDivisionError",
        ),
    ],
)
def test_router_errors_are_the_same_on_both_paths(router: Any, error: type, match: str) -> None:
    for fused in (True, False):
        flow = Flow(S, name="bad")
        flow.add_node(step("a"))
        flow.add_node(step("b"))
        flow.add_edge(START, "a")
        flow.add_conditional_edges("a", router, ["b", END])
        flow.add_edge("b", END)
        compiled = flow.compile()
        with pytest.raises(error, match=match) as info:
            compiled.invoke({}) if fused else list(compiled.stream({}))
        assert [r.node for r in info.value.trace] == ["a"]  # type: ignore[attr-defined]


def test_a_bad_update_fails_alike_and_the_failed_step_is_in_the_trace() -> None:
    for fused in (True, False):
        flow = Flow(S, name="bad-update")
        flow.add_node("a", lambda s: {"n": "one"})
        flow.add_edge(START, "a")
        flow.add_edge("a", END)
        compiled = flow.compile(checkpointer=InMemoryCheckpointer())
        with pytest.raises(StateUpdateError, match="node 'a' wrote n='one'") as info:
            compiled.invoke({}, run_id="x") if fused else list(compiled.stream({}, run_id="x"))
        assert [r.node for r in info.value.trace] == ["a"]  # type: ignore[attr-defined]
        assert [cp.step for cp in compiled.history("x")] == [0]  # the input row, resumable


def test_a_join_that_can_no_longer_fire_is_reported_by_both_paths() -> None:
    for fused in (True, False):
        flow = Flow(S, name="stall")
        for name in ("a", "b", "c"):
            flow.add_node(step(name))
        flow.add_edge(START, "a")
        flow.add_conditional_edges("a", lambda s: "b", ["b", "c"])
        flow.add_edge(["b", "c"], END)
        compiled = flow.compile()
        with pytest.raises(FlowError, match="still waits for \\['c'\\]"):
            compiled.invoke({}) if fused else list(compiled.stream({}))
