"""The optimizer's prompt edits: the LLM nodes with a prompt text take turns, each told what it is for."""

from __future__ import annotations

from typing import Any

from ragloom.agents.search.flow_llm import Experience, FlowEditAdvisor, prompt_slots
from ragloom.agents.search.flow_space import apply_edit
from ragloom.core.types import Completion, Message
from ragloom.llm.components import GENERATE_INSTRUCTION, REWRITE_SYSTEM

FLOW: dict[str, Any] = {
    "nodes": {
        "rewrite": {"uses": "llm.rewrite_query"},
        "retrieve": {"uses": "retrieval.hybrid", "with": {"resource": "retriever", "k": 20}},
        "generate": {"uses": "llm.generate", "with": {"instruction": "Answer briefly."}},
        "review": {"uses": "llm.check_support"},
    },
    "edges": [],
}


class FakeLLM:
    """The collaborator: scripted replies; records the prompts it was shown."""

    def __init__(self, replies: list[str]) -> None:
        self.replies, self.prompts = list(replies), list[str]()

    def complete(self, messages: list[Message], **options: Any) -> Completion:
        self.prompts.append(messages[-1].content)
        return Completion(self.replies.pop(0))


def test_prompt_slots_name_each_llm_nodes_prompt_text_and_its_default() -> None:
    slots = {node: (param, text, role) for node, param, text, role in prompt_slots(FLOW)}
    assert slots["rewrite"] == ("system_prompt", REWRITE_SYSTEM, "query_transform")
    assert slots["generate"] == ("instruction", "Answer briefly.", "generator")
    assert slots["review"][0] == "instruction" and slots["review"][2] == "critic"
    assert "retrieve" not in slots
    assert GENERATE_INSTRUCTION  # the generator's default, used when a flow sets none


def test_prompt_edits_take_turns_and_carry_the_experience() -> None:
    llm = FakeLLM(["Write a keyword query.", '"Answer in one short phrase."', "", "Write a keyword query."])
    advisor = FlowEditAdvisor(llm, experience=[Experience("retrieve.k=50", 0.5, 0.6)])
    first, second = advisor.prompt_edit(FLOW), advisor.prompt_edit(FLOW)
    assert first is not None and (first.node, first.name) == ("rewrite", "system_prompt")
    assert second is not None and second.value == "Answer in one short phrase."
    assert "rewrites a question into a short search query" in llm.prompts[0]
    assert "- retrieve.k=50: 0.5000 -> 0.6000 (helped)" in llm.prompts[1]  # the experience is shown
    assert advisor.prompt_edit(FLOW) is None  # an empty reply (review's turn) is no edit
    edited = apply_edit(apply_edit(FLOW, first), second)
    assert edited["nodes"]["generate"]["with"]["instruction"] == "Answer in one short phrase."
    assert advisor.prompt_edit(edited) is None  # rewrite's turn again: its unchanged text is no edit
