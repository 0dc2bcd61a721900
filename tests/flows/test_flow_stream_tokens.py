"""stream(mode="tokens") with the real embedded LLM (SmolLM2): every ``llm.complete`` made inside any node,
also inside a subflow, reaches the stream piece by piece, named by node and namespace."""

from __future__ import annotations

from typing import Annotated, TypedDict

import pytest

from ragloom.core.types import Message
from ragloom.flows import END, START, Flow, append
from ragloom.llm.local import LocalLLM, default_llm

pytestmark = pytest.mark.slow


class S(TypedDict, total=False):
    answers: Annotated[list[str], append]


@pytest.fixture(scope="module")
def llm() -> LocalLLM:
    return default_llm()


def asker(llm: LocalLLM, question: str):
    def ask(state: S) -> dict:
        text = llm.complete([Message("user", question)], max_tokens=6, temperature=0.0).text
        return {"answers": [text]}

    return ask


def test_tokens_of_any_llm_complete_stream_with_node_and_namespace(llm: LocalLLM) -> None:
    inner = Flow(S, name="inner")
    inner.add_node("deep", asker(llm, "Name a colour."))
    inner.add_edge(START, "deep")
    inner.add_edge("deep", END)
    flow = Flow(S, name="outer")
    flow.add_node("top", asker(llm, "Say hello."))
    flow.add_node("sub", inner.compile())
    flow.add_edge(START, "top")
    flow.add_edge("top", "sub")
    flow.add_edge("sub", END)
    events = list(flow.compile().stream({}, mode=["tokens", "values"]))
    tokens = [e for e in events if e.mode == "tokens"]
    final = [e for e in events if e.mode == "values"][-1].data
    by_source: dict[tuple[str, str], str] = {}
    for e in tokens:
        by_source[(e.node, e.ns)] = by_source.get((e.node, e.ns), "") + e.data["text"]
    assert list(by_source) == [("top", ""), ("deep", "sub@2")]
    assert [by_source[("top", "")], by_source[("deep", "sub@2")]] == final["answers"]
    assert len(tokens) > 2  # piece by piece, not one final string
    # without a stream nothing is emitted and the answers are the same (greedy decoding)
    assert flow.compile().invoke({}).state["answers"] == final["answers"]
