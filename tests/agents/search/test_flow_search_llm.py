"""The LLM-operator path of flow search, end to end: the embedded SmolLM2 answers in the candidates' generate
step (objective F1) and, as the optimizer, picks edits and rewrites the generate instruction; the same through
a real OpenAI-compatible HTTP server (``ragloom.serve``) started by the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ragloom.agents.search.flow_llm import FlowEditAdvisor
from ragloom.agents.search.flow_search import read_seed, search_flow
from ragloom.core.registry import create
from ragloom.core.types import Hit
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_resources import dataset_resources
from ragloom.flows import END, START, Flow

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"


@pytest.fixture(scope="module")
def llm() -> Any:
    from ragloom.llm.local import default_llm

    return default_llm()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = [
        ("d1", "Limits", "SQLite does not support joins containing more than 64 tables."),
        ("d2", "Vacuum", "The VACUUM command rebuilds the database file, repacking it into minimal space."),
        ("d3", "Rtree", "An R*Tree index is a special index designed for doing range queries."),
    ]
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs)
    )
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "How many tables can a join contain?"})
    )
    (root / "answers.jsonl").write_text(json.dumps({"_id": "q1", "answers": ["64"]}))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return root


def _search(tiny: Path, answer_llm: Any, advisor: FlowEditAdvisor) -> Any:
    seed = read_seed(QA)
    seed["nodes"]["generate"]["with"] = {"max_tokens": 16}
    dataset = load_dataset(tiny)
    resources, _ = dataset_resources(dataset, tiny)
    return search_flow(
        seed,
        dataset,
        {**resources, "llm": answer_llm},
        objective="F1",
        budget=2,
        advisor=advisor,
        exclude=("retrieval.rerank.maxsim",),
    )


@pytest.mark.timeout(900)
def test_llm_proposed_edits_with_the_embedded_model(tiny: Path, llm: Any) -> None:
    advisor = FlowEditAdvisor(llm, max_tokens=24)
    outcome = _search(tiny, llm, advisor)
    assert len(outcome.records) == 2 and all(r.score >= 0.0 for r in outcome.records)
    assert len(advisor.replies) >= 2  # it was asked for an edit order and a prompt edit
    assert len(advisor.experience) == 1  # each evaluated child's delta against its parent is remembered
    assert all(e.edit for e in advisor.experience)


class QAState(BaseModel):
    question: str
    context: list[Hit] = []
    answer: str = ""
    citations: list[str] = []


@pytest.mark.timeout(900)
def test_llm_proposed_edits_through_an_openai_compatible_server(tiny: Path, llm: Any) -> None:
    from ragloom.llm.openai_compat import OpenAICompatibleLLM
    from ragloom.serve import serving

    flow = Flow(QAState, name="local-llm")
    flow.add_node("generate", create("llm.generate", {"max_tokens": 24}))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    with serving(flow.compile(), context={"llm": llm}) as server:
        client = OpenAICompatibleLLM("local-llm", server.url + "/v1", max_retries=0, timeout=120)
        advisor = FlowEditAdvisor(client, max_tokens=24, propose_flows=True, flow_tokens=64)
        outcome = _search(tiny, client, advisor)
    assert len(outcome.records) == 2 and outcome.best.score >= outcome.records[0].score
    assert advisor.replies and all(isinstance(r, str) for r in advisor.replies)
    # it was asked for a whole flow too: a small model's reply is refused with a reason, or evaluated
    proposed = [r for r in outcome.records if r.edits and r.edits[0].startswith("llm: ")]
    assert advisor.rejected or proposed
    assert len(advisor.experience) == 1
