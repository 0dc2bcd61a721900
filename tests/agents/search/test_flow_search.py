"""Workflow search over real flows: the space comes from the registry, candidates are scored by the one flow
evaluator, and the best flow is an ordinary flow file that ``ragloom run --index`` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tiny_beir
import yaml
from typer.testing import CliRunner

from ragloom.agents.search.flow_parallel import DatasetResources
from ragloom.agents.search.flow_search import evaluate_candidates, flow_yaml, read_seed, search_flow
from ragloom.agents.search.flow_space import FlowEdit, apply_edit, flow_edits, retrieval_only
from ragloom.cli import app
from ragloom.core import registry
from ragloom.core.errors import ConfigError, RegistryError
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_eval import evaluate_flow
from ragloom.eval.flow_resources import dataset_resources
from ragloom.flows.yaml_io import load_flow
from ragloom.scale import LocalExecutor

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"
# the tiny BEIR folder without the markup document and the fourth question: a smaller search
DOCS = [d for d in tiny_beir.DOCS if d[0] != "d4"]
QUESTIONS = tiny_beir.QUESTIONS[:3]


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_beir.write_beir(tmp_path / "tiny", DOCS, QUESTIONS)


def reverse_rerank(k: int = 3) -> Any:
    """Put the retriever's ranking upside down (a searchable reranker the search code has never seen)."""

    def rerank(state: dict[str, Any]) -> dict[str, Any]:
        return {"hits": list(reversed(state["hits"]))[:k]}

    return rerank


def test_register_keeps_old_calls_and_records_role_and_ranges() -> None:
    assert registry.get("retrieval.bm25").role is None  # an old call: no role, not searchable
    corag = registry.get("select.corag")
    assert corag.role == "selector" and corag.search["iterations"] == (8, 16, 32)
    with pytest.raises(RegistryError, match="search range of 'k' is empty"):
        registry.register("tests.empty_range", role="reranker", search={"k": []})(reverse_rerank)


def test_a_newly_registered_component_is_searchable_without_search_code_changes() -> None:
    seed = read_seed(QA)
    before = {e.describe() for e in flow_edits(seed)}
    assert "rerank: uses tests.rerank.reverse" not in before
    registry.register("tests.rerank.reverse", role="reranker", search={"k": [2, 3]})(reverse_rerank)
    try:
        after = {e.describe() for e in flow_edits(seed)}
        assert "rerank: uses tests.rerank.reverse" in after - before
        swapped = apply_edit(seed, FlowEdit("swap", "rerank", "tests.rerank.reverse"))
        assert swapped["nodes"]["rerank"] == {"uses": "tests.rerank.reverse", "with": {"k": 8}}
        assert "rerank.k=2" in {e.describe() for e in flow_edits(swapped)}  # its declared range
    finally:
        # the component must not leak into later searches in this process: a Ray worker, which never imports
        # this test, would not know it
        registry._ENTRIES.pop("tests.rerank.reverse", None)


def test_edits_swap_params_insert_and_remove_steps_keeping_a_valid_flow() -> None:
    from ragloom.flows.yaml_io import load_flow

    seed = read_seed(QA)
    described = {e.describe() for e in flow_edits(seed)}
    assert {
        "select: uses select.mmr",
        "retrieve.k=50",
        "remove rerank",
        "select.exploration=0.3",
    } <= described
    assert not any("budget_tokens" in d for d in described)  # the seed's token budget is kept
    topk = apply_edit(seed, FlowEdit("swap", "select", "select.topk"))
    assert topk["nodes"]["select"] == {"uses": "select.topk", "with": {"budget_tokens": 384}}
    removed = apply_edit(seed, FlowEdit("remove", "rerank"))
    assert "rerank" not in removed["nodes"] and {"from": "retrieve", "to": "select"} in removed["edges"]
    assert "insert retrieval.rerank.collaborative after retrieve" in {
        e.describe() for e in flow_edits(removed)
    }
    back = apply_edit(removed, FlowEdit("insert", "retrieve", "retrieval.rerank.maxsim"))
    assert {"from": "retrieve", "to": "maxsim"} in back["edges"] and {
        "from": "maxsim",
        "to": "select",
    } in back["edges"]
    for data in (topk, removed, back):
        load_flow(yaml.safe_dump(data, sort_keys=False)).compile()
    bare = retrieval_only(seed)
    assert "generate" not in bare["nodes"] and {"from": "select", "to": "END"} in bare["edges"]


def test_search_from_qa_flow_writes_a_flow_that_ragloom_run_runs(tiny: Path, tmp_path: Path) -> None:
    dataset = load_dataset(tiny)
    resources, facts = dataset_resources(dataset, tiny)
    outcome = search_flow(read_seed(QA), dataset, resources, budget=4, method="mcts", seed=1)
    assert len(outcome.records) == 4 and outcome.records[0].data == read_seed(QA)
    assert outcome.best.score >= outcome.records[0].score
    assert {"context-support-R", "answer-in-context"} <= set(outcome.records[0].metrics)
    ran = search_flow(read_seed(QA), dataset, resources, budget=3, method="random", seed=1)
    assert len(ran.records) == 3

    cli = CliRunner()
    out = tmp_path / "search-out"
    result = cli.invoke(
        app,
        [
            "search",
            "--seed",
            str(QA),
            "--dataset",
            str(tiny),
            "--budget",
            "3",
            "--out",
            str(out),
            "--dev-fraction",
            "1.0",
        ],
    )
    assert result.exit_code == 0, result.output
    best = out / "best_flow.yaml"
    uses = {s["uses"] for s in yaml.safe_load(best.read_text())["nodes"].values()}
    assert uses <= set(registry.names())  # only registered library components
    run = cli.invoke(
        app,
        ["run", str(best), "--index", facts["index"], "--input", json.dumps({"question": QUESTIONS[0][1]})],
    )
    assert run.exit_code == 0, run.output
    assert '"answer"' in run.output


class FakeRemoteExecutor(LocalExecutor):
    """A stand-in for a remote executor (the collaborator): local threads under another name, so the search
    builds its workers' resources from the spec instead of sharing the driver's."""

    name = "fake-remote"


def test_candidates_x_questions_score_as_one_evaluation_on_any_executor(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    resources, facts = dataset_resources(dataset, tiny)
    seed = read_seed(QA)
    flows = [seed, apply_edit(seed, FlowEdit("param", "retrieve", "k", 2))]
    whole = [evaluate_flow(load_flow(flow_yaml(retrieval_only(f))), dataset, resources) for f in flows]
    local = evaluate_candidates(flows, dataset, resources, "context-support-R")
    assert [m for _, _, m in local] == [r.metrics for r in whole]
    on_workers = DatasetResources(dataset, str(tiny), index_dir=facts["index"])
    remote = evaluate_candidates(
        flows,
        dataset,
        resources,
        "context-support-R",
        executor=FakeRemoteExecutor(2),
        worker_resources=on_workers,
    )
    assert [(s, m) for s, _, m in remote] == [(s, m) for s, _, m in local]
    with pytest.raises(ConfigError, match="needs worker_resources"):
        evaluate_candidates(flows, dataset, resources, "context-support-R", executor=FakeRemoteExecutor(2))


def test_search_cli_names_an_unknown_executor_before_indexing(tiny: Path, tmp_path: Path) -> None:
    args = ["search", "--dataset", str(tiny), "--executor", "spark", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0
    assert "--executor 'spark' is unknown; choose one of local, ray" in result.output


def test_the_final_pick_breaks_ties_on_the_finer_measure_then_on_evaluation_order() -> None:
    from ragloom.agents.search.flow_search import FlowRecord, pick_best

    def rec(name: str, score: float, early: float) -> FlowRecord:
        return FlowRecord(
            {"name": name}, score, 0.0, metrics={"answer@512": score, "answer-early@512": early}
        )

    seed, later, earlier, worse = (
        rec("seed", 0.9, 0.7),
        rec("b", 0.9, 0.7),
        rec("c", 0.9, 0.8),
        rec("d", 0.8, 1),
    )
    assert pick_best([seed, later, earlier, worse], "answer@512") is earlier  # the answer comes earlier
    assert pick_best([seed, later, worse], "answer@512") is seed  # a full tie: the first evaluated
    assert pick_best([seed, earlier], "context-support-R") is seed  # no finer measure: the first evaluated
