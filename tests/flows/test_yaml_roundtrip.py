"""YAML and the Python DSL describe the same object: load -> dump -> load is stable, and an equivalent
Python flow has the same structure and gives the same result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from ragloom.core.errors import FlowDefinitionError
from ragloom.core.registry import create
from ragloom.flows import END, START, Flow, append
from ragloom.flows.when import Condition, WhenRouter
from ragloom.flows.yaml_io import dump_flow, flow_to_dict, load_flow

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "flows").glob("*.yaml"))

EVERYTHING = """\
name: everything
max_steps: 30
state:
  question: str
  count: {type: int, default: 0}
  notes: {type: "list[str]", reducer: append, default: []}
  meta: {type: "dict[str, Any]", reducer: merge_dict, default: {}}
  total: {type: float, reducer: add, default: 0.0}
  best: {type: "Hit | None", default: null}
  answer: {type: str, default: ""}
nodes:
  start: {uses: flows.set, with: {meta: {stage: start}}, retries: 2, backoff: 0.01, timeout: 5}
  left: {uses: flows.set, with: {notes: [left], total: 1.5}, cache_key: [question]}
  right:
    uses: flows.set
    with: {notes: [right], total: 2}
    retry_on: [TimeoutError, LLMTimeoutError]
    cache_ttl: 60
  join: {uses: flows.increment, with: {key: count}}
  inner:
    flow:
      name: inner
      state:
        question: str
        answer: {type: str, default: ""}
      nodes:
        echo: {uses: flows.template, with: {template: "re: {question}", output_key: answer}}
      edges:
        - {from: START, to: echo}
        - {from: echo, to: END}
edges:
  - {from: START, to: start}
  - {from: start, to: [left, right]}
  - {from: [left, right], to: join}
  - from: join
    when:
      - {if: {key: count, op: "<", value: 2}, to: [left, right]}
      - {if: {key: notes, op: contains, value: nothing}, to: END}
      - else: inner
  - {from: inner, to: END}
interrupt_after: [inner]
"""


@pytest.mark.parametrize("source", [*EXAMPLES, EVERYTHING], ids=[*(p.name for p in EXAMPLES), "everything"])
def test_load_dump_load_is_stable(source: Any) -> None:
    flow = load_flow(source)
    text = dump_flow(flow)
    again = load_flow(text)
    assert flow_to_dict(again) == flow_to_dict(flow)
    assert dump_flow(again) == text
    assert yaml.safe_load(text) == flow_to_dict(flow)  # the dump is plain YAML
    assert flow.to_yaml() == text and Flow.from_yaml(text).to_yaml() == text


def test_everything_flow_runs_the_same_after_a_round_trip() -> None:
    results = []
    for flow in (load_flow(EVERYTHING), load_flow(dump_flow(load_flow(EVERYTHING)))):
        result = flow.compile().invoke({"question": "why"})
        results.append((result.state.model_dump(), result.trace.steps))
    state, steps = results[0]
    assert results[1] == results[0]
    assert steps == [["start"], ["left", "right"], ["join"], ["left", "right"], ["join"], ["inner"]]
    assert state["count"] == 2 and state["total"] == 7.0 and state["answer"] == "re: why"
    assert state["notes"] == ["left", "right", "left", "right"] and state["meta"] == {"stage": "start"}


LOOP_YAML = """\
name: loop
max_steps: 20
state:
  count: {type: int, default: 0}
  log: {type: "list[str]", reducer: append, default: []}
  message: {type: str, default: ""}
nodes:
  tick: {uses: flows.increment, with: {key: count, by: 2}}
  note: {uses: flows.set, with: {log: [tick]}}
  report: {uses: flows.template, with: {template: "{count} after {log}", output_key: message}}
edges:
  - {from: START, to: tick}
  - {from: tick, to: note}
  - from: note
    when:
      - {if: {key: count, op: "<", value: 5}, to: tick}
      - else: report
  - {from: report, to: END}
"""


class LoopState(BaseModel):
    count: int = 0
    log: Annotated[list[str], append] = []
    message: str = ""


def _python_loop() -> Flow:
    flow = Flow(LoopState, name="loop", max_steps=20)
    flow.add_node("tick", create("flows.increment", {"key": "count", "by": 2}))
    flow.add_node("note", create("flows.set", {"log": ["tick"]}))
    template = {"template": "{count} after {log}", "output_key": "message"}
    flow.add_node("report", create("flows.template", template))
    flow.add_edge(START, "tick")
    flow.add_edge("tick", "note")
    router = WhenRouter(((Condition("count", "<", 5), "tick"),), default="report", source="note")
    flow.add_conditional_edges("note", router, targets=router.targets)
    flow.add_edge("report", END)
    return flow


def test_yaml_and_python_dsl_compile_to_the_same_flow() -> None:
    from_yaml, from_python = load_flow(LOOP_YAML), _python_loop()
    assert flow_to_dict(from_yaml) == flow_to_dict(from_python)
    assert from_yaml.edges == from_python.edges
    assert list(from_yaml.nodes) == list(from_python.nodes)
    for name, spec in from_yaml.nodes.items():
        other = from_python.nodes[name]
        assert (spec.retries, spec.backoff, spec.timeout, spec.takes_context) == (
            other.retries,
            other.backoff,
            other.timeout,
            other.takes_context,
        )
    assert [(r.source, r.router, r.targets) for r in from_yaml.routers] == [
        (r.source, r.router, r.targets) for r in from_python.routers
    ]
    assert from_python.to_yaml() == from_yaml.to_yaml()
    assert from_python.compile().to_mermaid() == from_yaml.compile().to_mermaid()
    a, b = from_yaml.compile().invoke({}), from_python.compile().invoke({})
    assert (
        a.state.model_dump()
        == b.state.model_dump()
        == {
            "count": 6,
            "log": ["tick", "tick", "tick"],
            "message": "6 after ['tick', 'tick', 'tick']",
        }
    )
    assert a.trace.nodes == b.trace.nodes == ["tick", "note"] * 3 + ["report"]


def test_python_code_that_yaml_cannot_name_is_reported() -> None:
    def shout(state: Any) -> dict[str, Any]:
        return {"message": "!"}

    flow = _python_loop()
    flow.add_node("shout", shout)
    with pytest.raises(FlowDefinitionError, match=r"node 'shout' .* is not a registered component"):
        flow.to_yaml()

    flow = _python_loop()
    flow.add_conditional_edges("report", lambda s: END, targets=[END])
    with pytest.raises(FlowDefinitionError, match="router after node 'report' is Python code"):
        flow.to_yaml()

    flow = _python_loop()
    flow.add_node("cached", create("flows.set", {"message": "x"}), cache_key=lambda s: s.count)
    with pytest.raises(FlowDefinitionError, match="node 'cached': its cache_key is Python code"):
        flow.to_yaml()

    class Odd(BaseModel):
        seen: set[str] = set()

    with pytest.raises(FlowDefinitionError, match="state field 'seen'"):
        Flow(Odd).to_yaml()


def test_module_level_functions_round_trip_through_the_allow_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rtnodes.py").write_text("def double(state):\n    return {'count': state.count * 2}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import rtnodes  # type: ignore[import-not-found]

    flow = Flow(LoopState, name="double")
    flow.add_node("double", rtnodes.double)
    flow.add_edge(START, "double")
    flow.add_edge("double", END)
    text = flow.to_yaml()
    assert "uses: 'rtnodes:double'" in text
    with pytest.raises(FlowDefinitionError, match="not allowed"):
        load_flow(text)
    again = load_flow(text, allow_imports=["rtnodes"])
    assert again.nodes["double"].fn is rtnodes.double
    assert again.compile().invoke({"count": 4}).state.count == 8


# -- property: any flow of registered components and when-routers survives a YAML round trip
PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, width=32)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
TYPES = ["str", "int", "float", "bool", "Any", "list[str]", "dict[str, Any]", "Hit | None", "list[Chunk]"]
NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)


@st.composite
def random_flows(draw: st.DrawFn) -> Flow:
    field_name = NAME.filter(lambda k: not k.startswith("model_") and not hasattr(BaseModel, k))
    keys = draw(st.lists(field_name, min_size=1, max_size=4, unique=True))
    fields: dict[str, dict[str, Any]] = {}
    for key in keys:
        fields[key] = {"type": draw(st.sampled_from(TYPES))}
        if fields[key]["type"].startswith("list"):
            fields[key].update(reducer=draw(st.sampled_from(["replace", "append"])), default=[])
    state = load_flow(
        yaml.safe_dump(
            {"state": fields, "nodes": {"x": "flows.set"}, "edges": [{"from": "START", "to": "x"}]}
        )
    ).state_schema
    flow = Flow(state, name=draw(NAME), max_steps=draw(st.none() | st.integers(1, 50)))
    names = draw(st.lists(NAME, min_size=1, max_size=5, unique=True))
    for name in names:
        choices: list[tuple[str, dict[str, Any]]] = [
            ("flows.set", {keys[0]: draw(PLAIN)}),
            ("flows.increment", {"key": draw(st.sampled_from(keys)), "by": draw(st.integers(-3, 3))}),
            ("flows.copy", {"source": keys[0], "target": keys[-1]}),
            ("flows.template", {"template": "{" + keys[0] + "}!", "output_key": keys[-1]}),
        ]
        component, params = draw(st.sampled_from(choices))
        flow.add_node(name, create(component, params), retries=draw(st.integers(0, 2)))
    flow.add_edge(START, names[0])
    endpoints = [*names, END]
    for _ in range(draw(st.integers(0, 4))):
        sources = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True))
        flow.add_edge(sources if len(sources) > 1 else sources[0], draw(st.sampled_from(endpoints)))
    for source in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        ops = st.sampled_from(["==", "!=", "<", ">=", "truthy", "falsy", "contains"])
        cases = tuple(
            (Condition(draw(st.sampled_from(keys)), draw(ops), draw(PLAIN)), draw(st.sampled_from(endpoints)))
            for _ in range(draw(st.integers(1, 3)))
        )
        cases = tuple(
            (Condition(c.key, c.op, None if c.op in ("truthy", "falsy") else c.value), t) for c, t in cases
        )
        router = WhenRouter(cases, default=draw(st.none() | st.sampled_from(endpoints)), source=source)
        flow.add_conditional_edges(source, router, targets=router.targets)
    return flow


@settings(max_examples=30, deadline=None)
@given(random_flows())
def test_random_flows_round_trip(flow: Flow) -> None:
    again = load_flow(flow.to_yaml())
    assert flow_to_dict(again) == flow_to_dict(flow)
    assert again.edges == flow.edges
    assert [(r.source, r.router, r.targets) for r in again.routers] == [
        (r.source, r.router, r.targets) for r in flow.routers
    ]
    assert {n: (s.retries, s.backoff, s.timeout) for n, s in again.nodes.items()} == {
        n: (s.retries, s.backoff, s.timeout) for n, s in flow.nodes.items()
    }
