"""A real, tiny answer search with the REAL embedded LLM (SmolLM2-135M, greedy): retrieve + generate (+
format) scored for token F1 on a slice of hotpotqa-300, then the best flow re-run from its YAML.

The FakeLLM tests (test_search_llm_operators.py) pin the scoring logic; this one checks what only a real
model shows: usage reported by the real decoder reaches the cost objective, the projection counts LLM
calls, and the generate node is grounded on the retrieved passages (its prompt holds them). It asserts
behaviour, not answer quality (SmolLM2-135M rarely gets a hotpotqa answer right).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_search_hotpotqa import _slice

from ragloom.agents.search import SearchResources, search_flows
from ragloom.core.types import Message
from ragloom.flows import Flow

pytestmark = pytest.mark.slow

#: Short generations and clipped passages keep the 3 x 4 real generations to seconds on 2 shared cores.
SPACE = """
seed:
  - {op: retrieve, with: {method: bm25, k: 2}}
  - {op: generate, with: {max_tokens: 12}}
operators:
  retrieve: {params: {method: {choices: [bm25]}, k: {int: [2, 3]}}}
  generate: {params: {max_tokens: {choices: [12]}}, fixed: {max_passage_chars: 300}}
  format: {params: {style: {choices: [short, sentence]}}}
branches: {allow: false}
"""


def _slice_with_answers(src: Path, dst: Path, n_queries: int) -> None:
    """A BEIR slice plus the matching rows of answers.jsonl (em/f1 need answers for every query)."""
    _slice(src, dst, n_queries=n_queries, n_distractors=30)
    ids = {json.loads(line)["_id"] for line in (dst / "queries.jsonl").read_text().splitlines()}
    rows = [ln for ln in (src / "answers.jsonl").read_text().splitlines() if json.loads(ln)["_id"] in ids]
    assert len(rows) == n_queries
    (dst / "answers.jsonl").write_text("\n".join(rows) + "\n")


def test_answer_search_with_the_local_llm(shared_data: Path, tmp_path: Path) -> None:
    from ragloom.eval.datasets import indexable_documents, load_dataset
    from ragloom.llm.local import default_llm

    data, space, out = tmp_path / "hotpot-slice", tmp_path / "space.yaml", tmp_path / "out"
    _slice_with_answers(shared_data / "hotpotqa-300", data, n_queries=4)
    space.write_text(SPACE)
    llm = default_llm()
    lines: list[str] = []
    result = search_flows(
        space, data, metric="f1", budget=3, out=out, dev_fraction=1.0, llm=llm, log=lines.append, parallel=2
    )

    projection = next(line for line in lines if line.startswith("projection:"))
    assert result.projection["llm_calls"][0] > 0 and "LLM calls 0-" not in projection, projection
    outcome = result.outcome
    assert outcome.cost_key == "tokens" and len(outcome.records) == 3
    for record in outcome.records:  # em/f1: no edit drops generate (a flow without one answers nothing)
        ev = record.evaluation
        assert "generate" in record.candidate.ops(), record.candidate.describe()
        assert ev.error is None, ev.error
        assert 0.0 <= ev.score <= 1.0 and len(ev.per_query) == 4
        # measured from the decoder's usage: one generate call per query, tokens averaged over the 4 queries
        assert ev.cost["llm_calls"] == 1.0 and ev.cost["tokens"] > 0, ev.cost
        assert ev.cost["tokens"] == pytest.approx(ev.cost["total_tokens"] / 4)
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["cost_key"] == "tokens" and all(p["cost"] > 0 for p in pareto["front"])

    text = (out / "best_flow.yaml").read_text()
    assert "uses: llm.generate" in text, text
    flow = Flow.from_yaml(text).compile()
    question = load_dataset(data).queries[next(iter(load_dataset(data).queries))]
    resources = SearchResources(indexable_documents(load_dataset(data), True))
    run = flow.invoke({"question": question}, context={"search": resources, "llm": llm})
    assert run.state.answer.strip(), run.state
    assert run.trace.usage.calls == 1 and run.trace.usage.completion_tokens > 0
    # grounded: the prompt holds the retrieved passages, not just the question (~2 x 300 chars more)
    bare = llm.count_tokens(llm.prompt_text([Message("user", f"Question: {question}")]))
    assert run.trace.usage.prompt_tokens > bare + 60, (run.trace.usage, bare)
