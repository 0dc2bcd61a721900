"""Tool-call approval: a ReAct agent run as a flow node pauses before a tool call (``interrupt``); the human
approves, edits the arguments or rejects with a message, and the run goes on from there."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from agent_fakes import CompleteOnlyFakeLLM
from pydantic import BaseModel

from ragloom.agents.react import ReActAgent
from ragloom.core.errors import ConfigError
from ragloom.core.types import Completion, Message, Usage
from ragloom.flows import END, START, Flow, InMemoryCheckpointer
from ragloom.tools import calculator


class ReplayingFakeLLM(CompleteOnlyFakeLLM):
    """A deterministic FakeLLM: the reply depends only on how many observations the transcript holds (like
    greedy decoding), so the agent's node can run again from its start after a resume."""

    model = "fake"

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.seen: list[str] = []  # the observations of each call's transcript, last one first

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        observations = [m.content for m in messages if m.content.startswith("Observation:")]
        self.seen.append(observations[-1] if observations else "")
        return Completion(self.replies[len(observations) - self._examples(messages)], Usage(1, 1, 0.0, 1))

    @staticmethod
    def _examples(messages: Sequence[Message]) -> int:
        """Observations inside the built-in worked examples (before the real question)."""
        question = max(i for i, m in enumerate(messages) if m.content.startswith("Question: What is"))
        return sum(1 for m in messages[:question] if m.content.startswith("Observation:"))


ACTION = 'Thought: compute it.\nAction: calculator\nAction Input: {"expression": "6 * 7"}'
FINAL = "Thought: done\nFinal Answer: the tool said so"


class QA(BaseModel):
    question: str = ""
    answer: str = ""
    trace: dict = {}


def agent_flow(llm: ReplayingFakeLLM) -> Any:
    agent = ReActAgent(llm, [calculator], approve=["calculator"], prefill=False)
    flow = Flow(QA, name="agent")
    flow.add_node("agent", agent.as_node(trace_key="trace"))
    flow.add_edge(START, "agent")
    flow.add_edge("agent", END)
    return flow.compile(checkpointer=InMemoryCheckpointer())


@pytest.mark.parametrize(
    ("answer", "observation", "arguments"),
    [
        ("approve", "42", {"expression": "6 * 7"}),
        ({"action": "edit", "arguments": {"expression": "6 * 8"}}, "48", {"expression": "6 * 8"}),
        ({"action": "reject", "message": "not now"}, "Rejected: not now", {"expression": "6 * 7"}),
    ],
)
def test_tool_call_approval(answer: Any, observation: str, arguments: dict) -> None:
    llm = ReplayingFakeLLM([ACTION, FINAL])
    compiled = agent_flow(llm)
    paused = compiled.invoke({"question": "What is 6 times 7?"})
    assert paused.status == "interrupted"
    (pending,) = paused.interrupts
    assert pending.value == {"tool": "calculator", "arguments": {"expression": "6 * 7"}}
    done = compiled.resume(paused.run_id, value=answer)
    assert done.status == "done" and done.state.answer == "the tool said so"
    (action,) = done.state.trace["steps"][0]["actions"]
    assert action["observation"] == observation and action["arguments"] == arguments
    assert llm.seen[-1] == f"Observation: {observation}"  # the model saw the outcome
    assert done.trace.steps == [["agent"]]


def test_approval_outside_a_flow_and_bad_answers_are_clear_errors() -> None:
    agent = ReActAgent(ReplayingFakeLLM([ACTION, FINAL]), [calculator], approve=True, prefill=False)
    with pytest.raises(ConfigError, match="run the agent as a flow node"):
        agent.run("What is 6 times 7?")
    compiled = agent_flow(ReplayingFakeLLM([ACTION, FINAL]))
    paused = compiled.invoke({"question": "What is 6 times 7?"})
    with pytest.raises(Exception, match="cannot read the answer"):
        compiled.resume(paused.run_id, value={"action": "maybe"})
