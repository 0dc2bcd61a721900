"""Trace: timings, changed keys, usage charged to the right step (via RunContext or the usage contextvar),
summary table, JSONL export, HTML; run context resources."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel

from ragloom.core.types import Usage
from ragloom.core.usage import UsageMeter, report_usage
from ragloom.flows import END, START, Flow, RunContext, node


class S(BaseModel):
    question: str = ""
    answer: str = ""
    notes: str = ""


class FakeLLM:
    """Collaborator of the unit under test: answers with a fixed text and reports its usage."""

    def __init__(self, cost: float) -> None:
        self.cost = cost

    def complete(self, prompt: str) -> str:
        report_usage(
            Usage(prompt_tokens=len(prompt), completion_tokens=2, cost_usd=self.cost, calls=1), "fake"
        )
        return "42"


def qa_flow() -> Flow:
    @node(takes_context=True)
    def generate(state: S, ctx: RunContext) -> dict:
        assert ctx.node == "generate" and ctx.step == 2 and ctx.flow == "qa" and ctx.attempt == 1
        return {"answer": ctx.resources["llm"].complete(state.question)}

    @node(takes_context=True)
    def critique(state: S, ctx: RunContext) -> dict:
        ctx.report_usage(Usage(prompt_tokens=5, completion_tokens=5, cost_usd=0.5, calls=1), model="judge")
        return {"notes": "fine"}

    flow = Flow(S, name="qa")
    flow.add_node("retrieve", lambda s: None)
    flow.add_node(generate)
    flow.add_node(critique)
    flow.add_edge(START, "retrieve")
    flow.add_edge("retrieve", "generate")
    flow.add_edge("generate", "critique")
    flow.add_edge("critique", END)
    return flow


def test_usage_lands_in_its_step_and_in_outer_meters() -> None:
    meter = UsageMeter()
    with meter.measure():
        result = qa_flow().compile().invoke({"question": "why?"}, context={"llm": FakeLLM(0.25)})
    trace = result.trace
    assert trace.steps == [["retrieve"], ["generate"], ["critique"]]
    assert [r.usage.total_tokens for r in trace] == [0, 6, 10]
    assert [r.usage.cost_usd for r in trace] == [0.0, 0.25, 0.5]
    assert trace.usage.total_tokens == 16 and trace.usage.calls == 2
    assert meter.total.total_tokens == 16  # the run does not swallow usage from surrounding meters
    assert [r.changed for r in trace] == [(), ("answer",), ("notes",)]
    assert all(r.end >= r.start > 1e9 for r in trace)  # wall-clock seconds


def test_usage_of_parallel_and_async_nodes_is_not_mixed_up() -> None:
    def spender(tokens: int):
        async def fn(state: S) -> dict:
            await asyncio.sleep(0)
            report_usage(Usage(prompt_tokens=tokens, calls=1))
            return {}

        return fn

    flow = Flow(S)
    for name, tokens in (("small", 1), ("big", 100)):
        flow.add_node(name, spender(tokens))
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    for result in (flow.compile().invoke({}), asyncio.run(flow.compile().ainvoke({}))):
        assert {r.node: r.usage.prompt_tokens for r in result.trace} == {"small": 1, "big": 100}


def test_summary_jsonl_and_html(tmp_path: Path) -> None:
    result = qa_flow().compile().invoke({"question": "why?"}, context={"llm": FakeLLM(0.25)}, run_id="t1")
    text = result.trace.summary()
    for expected in ("retrieve", "generate", "critique", "total", "0.750000", "tokens", "cost"):
        assert expected in text
    path = tmp_path / "trace.jsonl"
    result.trace.to_jsonl(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["node"] for r in rows] == ["retrieve", "generate", "critique"]
    assert rows[1]["prompt_tokens"] == 4 and rows[1]["cost_usd"] == 0.25 and rows[1]["run_id"] == "t1"
    assert rows[2]["changed"] == ["notes"] and rows[2]["error"] is None
    html = result.trace._repr_html_()
    assert html.startswith("<table>") and "<td>critique</td>" in html


def test_failed_attempts_show_in_summary() -> None:
    attempts = []

    @node(retries=1)
    def flaky(state: S) -> dict:
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("slow upstream")
        return {"answer": "ok"}

    flow = Flow(S)
    flow.add_node(flaky)
    flow.add_edge(START, "flaky")
    flow.add_edge("flaky", END)
    summary = flow.compile().invoke({}).trace.summary()
    assert "error: TimeoutError: slow upstream" in summary
