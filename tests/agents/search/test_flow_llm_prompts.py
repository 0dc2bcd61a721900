"""The optimizer's prompt edits: the LLM nodes with a prompt text take turns, each told what it is for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ragloom.agents.search.flow_llm import Experience, FlowEditAdvisor, prompt_slots
from ragloom.agents.search.flow_space import apply_edit
from ragloom.core.types import Completion, Message
from ragloom.llm.components import GENERATE_INSTRUCTION, REWRITE_SYSTEM

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"
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


PROPOSAL = """Here is the flow.
```yaml
nodes:
  retrieve: {uses: retrieval.hybrid, with: {resource: retriever, k: 30}}
  select: {uses: select.corag, with: {budget_tokens: 384}}
  generate: {uses: llm.generate, with: {max_tokens: 80}}
edges:
- {from: START, to: retrieve}
- {from: retrieve, to: select}
- {from: select, to: generate}
- {from: generate, to: END}
```
EDIT: drop the reranker and retrieve 30
"""


def test_a_proposed_flow_is_read_checked_and_keeps_the_parents_state() -> None:
    from ragloom.agents.search import read_seed
    from ragloom.agents.search.flow_llm import read_proposal
    from ragloom.core.errors import ConfigError, FlowDefinitionError

    seed = read_seed(QA)
    new, what = read_proposal(PROPOSAL, seed)
    assert what == "drop the reranker and retrieve 30" and "rerank" not in new["nodes"]
    assert new["state"] == seed["state"] and new["name"] == seed["name"]
    with pytest.raises(ConfigError, match="no ```yaml block"):
        read_proposal("EDIT: nothing", seed)
    with pytest.raises(ConfigError, match="node 'retrieve' of the reply uses no registered component"):
        read_proposal(PROPOSAL.replace("retrieval.hybrid", "os:system"), seed)
    with pytest.raises(FlowDefinitionError, match="unknown node 'nowhere'"):  # the flow's own error
        read_proposal(PROPOSAL.replace("to: select}", "to: nowhere}"), seed)


class Optimizer(FakeLLM):
    """The collaborator as an optimizer: a whole flow when asked for one, edit 1, an unchanged prompt."""

    def complete(self, messages: list[Message], **options: Any) -> Completion:
        text = messages[-1].content
        self.prompts.append(text)
        if "whole modified flow" in text:
            return Completion(PROPOSAL)
        return Completion("1" if "number of the ONE edit" in text else "")


def test_search_evaluates_the_proposed_flow_and_learns_from_it(tmp_path: Path) -> None:
    import json

    from ragloom.agents.search import read_seed, search_flow
    from ragloom.eval.datasets import load_dataset
    from ragloom.eval.flow_resources import dataset_resources

    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = {"d1": "SQLite joins hold at most 64 tables.", "d2": "VACUUM rebuilds the database file."}
    (root / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in docs.items()))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "How many tables in a join?"}))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    data = load_dataset(root)
    resources, _ = dataset_resources(data, root)
    advisor = FlowEditAdvisor(Optimizer([]), propose_flows=True)
    outcome = search_flow(read_seed(QA), data, resources, budget=3, advisor=advisor)
    proposed = [r for r in outcome.records if r.edits == ("llm: drop the reranker and retrieve 30",)]
    assert len(proposed) == 1 and "rerank" not in proposed[0].data["nodes"]
    assert any(e.edit == "llm: drop the reranker and retrieve 30" for e in advisor.experience)
    assert any("Components by role:" in p and "retrieval.multihop" in p for p in advisor.llm.prompts)
