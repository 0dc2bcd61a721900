"""The one evaluator: a real flow (real index, MiniLM, the embedded LLM) per question, resumable, with
failures counted, a summary, JSONL records and an escaped HTML report; pipelines run through it too."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, TypedDict

import pytest
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_eval import evaluate_flow
from ragloom.eval.flow_resources import dataset_resources
from ragloom.flows import END, START, Flow

FLOW = """
name: tiny-qa
max_steps: 10
state:
  question: str
  hits: {type: "list[Hit]", default: []}
  context: {type: "list[Hit]", default: []}
  answer: {type: str, default: ''}
  citations: {type: "list[str]", default: []}
nodes:
  retrieve: {uses: retrieval.hybrid, with: {resource: retriever, k: 4}}
  select: {uses: select.topk, with: {budget_tokens: 120, k: 2}}
  generate: {uses: llm.generate, with: {max_tokens: 16}}
edges:
- {from: START, to: retrieve}
- {from: retrieve, to: select}
- {from: select, to: generate}
- {from: generate, to: END}
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_qa.yaml"
    path.write_text(FLOW)
    return path


def test_a_qa_flow_is_scored_on_answers_context_support_and_cost_per_node(
    tiny: Path, flow_file: Path, tmp_path: Path
) -> None:
    dataset = load_dataset(tiny).limit(2)
    resources, facts = dataset_resources(dataset, tiny)
    assert facts["index_chunks"] == 6  # and the output says whether the embedding cache served the build:
    assert "cold" in facts["index_cache"] or "warm" in facts["index_cache"]  # (a shared test cache may)
    out = tmp_path / "out"
    report = evaluate_flow(flow_file, dataset, resources, out_dir=out, concurrency=2)
    m = report.metrics
    assert {"EM", "F1", "answer-in-context", "support-R@2", "nDCG@10", "context-support-R"} <= set(m)
    assert m["support-R@2"] == 1.0 and m["answer-in-context"] == 1.0  # BM25 + MiniLM find these easily
    assert report.summary["n_ok"] == 2 and report.summary["n_failed"] == 0
    nodes = report.summary["nodes"]
    assert list(nodes) == ["retrieve", "select", "generate"]
    assert nodes["generate"]["tokens_mean"] > 0 and nodes["retrieve"]["tokens_mean"] == 0
    assert nodes["generate"]["ms_p95"] >= nodes["generate"]["ms_p50"] > 0
    lines = (out / "records.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == ["q1", "q2"]
    record = json.loads(lines[0])
    assert record["context"] and record["answer"] and record["trace"]["nodes"]["generate"]["tokens"] > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == pytest.approx(m) and summary["dataset"] == "tiny"
    _, facts_again = dataset_resources(dataset, tiny)
    assert facts_again["index_chunks_embedded"] == 0 and "warm" in facts_again["index_cache"]


class S(TypedDict):
    question: str
    hits: list[Any]
    answer: str


def _counting_flow(calls: list[str], fail_on: str = "") -> Any:
    """A one-node flow retrieving from the resource and answering with the best passage's first word."""

    def answer(state: S, ctx: Any) -> dict[str, Any]:
        calls.append(state["question"])
        if fail_on and fail_on in state["question"]:
            raise RuntimeError("the answer node broke")
        hits = ctx.resources["retriever"].retrieve(state["question"], 3)
        return {"hits": hits, "answer": hits[0].text.split()[0] if hits else ""}

    flow = Flow(S, name="counting")
    flow.add_node("answer", answer, takes_context=True)
    flow.add_edge(START, "answer")
    flow.add_edge("answer", END)
    return flow


def test_a_killed_run_resumes_skipping_recorded_questions_and_a_torn_line(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    resources, _ = dataset_resources(dataset, tiny)
    out, calls = tmp_path / "out", []
    evaluate_flow(_counting_flow(calls), dataset, resources, out_dir=out, concurrency=1)
    assert len(calls) == 4
    lines = (out / "records.jsonl").read_text().splitlines()
    (out / "records.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # killed mid-write
    calls.clear()
    report = evaluate_flow(_counting_flow(calls), dataset, resources, out_dir=out, concurrency=2)
    assert len(calls) == 2 and report.summary["n_resumed"] == 2 and report.summary["n_questions"] == 4
    assert [r["id"] for r in report.records] == ["q1", "q2", "q3", "q4"]
    with pytest.raises(ConfigError, match="records of another evaluation"):
        other = _counting_flow(calls)
        other.name = "another"
        evaluate_flow(other, dataset, resources, out_dir=out)


def test_failures_are_counted_listed_and_scored_as_empty_output(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    resources, _ = dataset_resources(dataset, tiny)
    report = evaluate_flow(_counting_flow([], fail_on="VACUUM"), dataset, resources, out_dir=tmp_path / "o")
    assert report.summary["n_failed"] == 1 and report.summary["n_ok"] == 3
    assert report.failures == [
        {
            "id": "q4",
            "question": dataset.queries["q4"],
            "error": "NodeExecutionError: " + report.failures[0]["error"][20:],
        }
    ]
    assert "the answer node broke" in report.failures[0]["error"]
    failed = next(r for r in report.records if r["id"] == "q4")
    assert (
        failed["status"] == "failed"
        and failed["scores"]["F1"] == 0.0
        and failed["scores"]["support-R@2"] == 0
    )
    assert report.metrics["support-R@2"] <= 0.75  # the failure counts in the mean
    page = (tmp_path / "o" / "report.html").read_text()
    assert "Failures (1)" in page and "the answer node broke" in page


def test_the_html_report_escapes_everything_from_the_run(tiny: Path, tmp_path: Path) -> None:
    loaded = load_dataset(tiny)
    dataset = replace(loaded, queries={**loaded.queries, "q1": "<b>a passage with script markup?</b>"})
    resources, _ = dataset_resources(dataset, tiny)
    report = evaluate_flow(_counting_flow([]), dataset, resources, out_dir=tmp_path / "o")
    page = (tmp_path / "o" / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page  # d4's markup, retrieved for q1
    assert "<b>a passage" not in page and "&lt;b&gt;a passage" in page
    assert page.count('class="q"') == len(report.records) and "Per node" in page


def test_cli_evaluates_a_flow_on_the_dataset_and_on_a_prebuilt_index(tiny: Path, tmp_path: Path) -> None:
    flow = tmp_path / "retrieve_only.yaml"
    flow.write_text(FLOW.split("  generate:")[0] + EDGES)
    out = tmp_path / "run"
    args = ["eval", str(flow), "--dataset", str(tiny), "--llm", "none", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "support-R@2" in result.output and "retrieve" in result.output
    assert (out / "report.html").is_file()
    built = CliRunner().invoke(app, ["index", str(tiny / "corpus.jsonl"), "--store", str(tmp_path / "idx")])
    assert built.exit_code == 0, built.output
    args = [*args[:6], "--index", str(tmp_path / "idx"), "--out", str(tmp_path / "run2"), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run2" / "summary.json").read_text())
    assert summary["index"] == str(tmp_path / "idx") and summary["metrics"]["support-R@5"] == 1.0


EDGES = """edges:
- {from: START, to: retrieve}
- {from: retrieve, to: select}
- {from: select, to: END}
"""


def test_the_graph_pipeline_is_evaluated_through_the_same_evaluator(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "graph.json"
    args = ["eval", str(tiny), "--pipeline", "graph", "--json", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["pipeline"] == "graph" and data["n_queries"] == 4
    assert data["metrics"]["R@5"] >= 0.75 and set(data["per_query"]) == {"q1", "q2", "q3", "q4"}
    assert data["config"]["query_latency"].startswith("cold")
    assert "cold" in data["config"]["embedding_cache"] or "warm" in data["config"]["embedding_cache"]
