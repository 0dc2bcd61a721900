"""compile() rejects invalid graphs with errors that say where and how to fix them; CompiledFlow is frozen."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from ragloom.core.errors import FlowCompileError, FlowDefinitionError
from ragloom.flows import END, START, Flow


class S(BaseModel):
    n: int = 0


def noop(state: S) -> None:
    return None


def flow_with(*names: str, max_steps: int | None = None) -> Flow:
    flow = Flow(S, name="f", max_steps=max_steps)
    for name in names:
        flow.add_node(name, noop)
    return flow


def test_unknown_node_in_edge_names_it_and_suggests() -> None:
    flow = flow_with("retrieve")
    flow.add_edge(START, "retrieve")
    flow.add_edge("retrieve", "retreive_typo")
    with pytest.raises(FlowCompileError) as info:
        flow.compile()
    msg = str(info.value)
    assert "edge ['retrieve'] -> 'retreive_typo'" in msg
    assert "unknown node 'retreive_typo'" in msg
    assert "Did you mean 'retrieve'?" in msg
    assert "flow.add_node('retreive_typo', fn)" in msg


def test_unknown_router_target() -> None:
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_conditional_edges("a", lambda s: "b", targets={"go": "b", "stop": END})
    with pytest.raises(
        FlowCompileError, match=r"conditional edges from 'a' \(label 'go'\).*unknown node 'b'"
    ):
        flow.compile()


def test_no_entry() -> None:
    flow = flow_with("a")
    flow.add_edge("a", END)
    with pytest.raises(FlowCompileError, match=r"has no entry.*flow.add_edge\(START, 'a'\)"):
        flow.compile()


def test_unreachable_node() -> None:
    flow = flow_with("a", "orphan")
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    flow.add_edge("orphan", END)
    with pytest.raises(FlowCompileError, match=r"node 'orphan' is unreachable from START.*add_edge"):
        flow.compile()


def test_node_without_outgoing_edge() -> None:
    flow = flow_with("a", "b")
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    with pytest.raises(FlowCompileError, match=r"node 'b' has no outgoing edge.*flow.add_edge\('b', END\)"):
        flow.compile()


def test_cycle_without_way_to_end() -> None:
    flow = flow_with("a", "b", max_steps=10)
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("b", "a")
    with pytest.raises(FlowCompileError, match=r"node 'a' has no path to END.*exit"):
        flow.compile()


def test_loop_without_step_limit() -> None:
    flow = flow_with("a", "b")
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_conditional_edges("b", lambda s: END, targets=["a", END])
    with pytest.raises(FlowCompileError, match=r"loop .*a -> b -> a.* no step limit.*max_steps=N"):
        flow.compile()
    flow.max_steps = 5
    assert flow.compile().invoke({}).trace.steps == [["a"], ["b"]]


def test_router_without_targets_counts_as_possible_loop() -> None:
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_conditional_edges("a", lambda s: END)
    with pytest.raises(FlowCompileError, match="no step limit"):
        flow.compile()


def test_unknown_interrupt_node() -> None:
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    with pytest.raises(FlowCompileError, match=r"interrupt_before names unknown node 'nope'"):
        flow.compile(interrupt_before=["nope"])


def test_edges_into_start_or_out_of_end() -> None:
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_edge("a", START)
    with pytest.raises(FlowCompileError, match="START cannot be a target"):
        flow.compile()
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    flow.add_edge(END, "a")
    with pytest.raises(FlowCompileError, match="END has no successors"):
        flow.compile()


def test_bad_max_steps() -> None:
    flow = flow_with("a", max_steps=0)
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    with pytest.raises(FlowCompileError, match="max_steps=0 must be a positive integer"):
        flow.compile()


def test_builder_rejects_duplicate_and_reserved_names() -> None:
    flow = flow_with("a")
    with pytest.raises(FlowDefinitionError, match="already has a node named 'a'"):
        flow.add_node("a", noop)
    with pytest.raises(FlowDefinitionError, match="reserved"):
        flow.add_node(END, noop)
    with pytest.raises(FlowDefinitionError, match="needs the node function"):
        flow.add_node("b")


def test_non_callable_node() -> None:
    flow = Flow(S)
    flow.add_node("x", 42)
    flow.add_edge(START, "x")
    flow.add_edge("x", END)
    with pytest.raises(FlowCompileError, match="node 'x' is 42, which is not callable"):
        flow.compile()


def test_compiled_flow_is_immutable_and_independent_of_builder() -> None:
    flow = flow_with("a")
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    compiled = flow.compile()
    with pytest.raises(AttributeError, match="immutable"):
        compiled.max_steps = 3  # type: ignore[misc]
    flow.add_node("b", noop)  # later builder edits do not leak into the compiled flow
    assert list(compiled.nodes) == ["a"]
    assert compiled.invoke({}).trace.steps == [["a"]]


def test_state_type_must_be_model_or_typeddict() -> None:
    flow = Flow(dict)
    flow.add_node("a", noop)
    flow.add_edge(START, "a")
    flow.add_edge("a", END)
    with pytest.raises(FlowDefinitionError, match="pydantic BaseModel or a TypedDict"):
        flow.compile()


def test_mermaid_rendering() -> None:
    flow = flow_with("a", "b", "c", "d")
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("a", "c")
    flow.add_edge(["b", "c"], "d")
    flow.add_conditional_edges("d", lambda s: END, targets={"again": "a", "done": END})
    flow.max_steps = 9
    compiled = flow.compile()
    text = compiled.to_mermaid()
    assert text.startswith("flowchart TD")
    assert "n_b & n_c --> n_d" in text
    assert "n_d -.->|again| n_a" in text and "n_d -.->|done| __end__" in text
    assert compiled._repr_markdown_() == f"```mermaid\n{text}\n```"
    assert "flowchart TD" in compiled._repr_html_() and "mermaid" in flow._repr_html_()


def test_a_join_that_can_never_fire_again_is_an_error_not_a_quiet_stop() -> None:
    from pydantic import BaseModel

    from ragloom.core.errors import FlowError
    from ragloom.flows import END, START, Flow

    class S(BaseModel):
        rounds: int = 0

    flow = Flow(S, name="stall", max_steps=20)
    flow.add_node("split", lambda s: None)
    flow.add_node("a", lambda s: None)
    flow.add_node("b", lambda s: None)
    flow.add_node("join", lambda s: {"rounds": s.rounds + 1})
    flow.add_edge(START, "split")
    flow.add_edge("split", "a")
    flow.add_edge("split", "b")
    flow.add_edge(["a", "b"], "join")
    flow.add_conditional_edges("join", lambda s: END if s.rounds >= 2 else "a", targets=["a", END])
    with pytest.raises(FlowError, match=r"join 'join' got \['a'\] but still waits for \['b'\]"):
        flow.compile().invoke({})
