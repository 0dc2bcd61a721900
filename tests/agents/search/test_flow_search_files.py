"""`ragloom search` on a document set (files/, answers, no qrels): the files are indexed through the ingestion
layer once, answer@512 is the default objective, and the outputs include a report a person reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ragloom.agents.search import read_seed, search_flow
from ragloom.agents.search.flow_search import default_objective, evaluate_candidates, flow_yaml
from ragloom.agents.search.flow_space import retrieval_only
from ragloom.cli import app
from ragloom.core import registry
from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import load_dataset
from ragloom.eval.files_index import files_index_dir, resources_for_dataset

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"
PAGES = {
    "limits.md": "# Limits\n\nSQLite does not support joins containing more than 64 tables.\n\n"
    "## Length\n\nThe maximum length of a string or BLOB is one billion bytes by default.\n",
    "wal.html": "<html><head><title>WAL</title></head><body><h1>Write-ahead log</h1><p>By default SQLite "
    "checkpoints the write-ahead log when it reaches 1000 pages.</p><h2>Readers</h2><p>Readers do not block "
    "writers and writers do not block readers.</p></body></html>",
    "vacuum.md": "# Vacuum\n\nThe VACUUM command rebuilds the database file, repacking it into less space.\n",
}
QUESTIONS = [
    ("q1", "How many tables can a join contain at most?", "64 tables"),
    ("q2", "When does SQLite checkpoint the write-ahead log?", "1000 pages"),
    ("q3", "What does VACUUM do to the database file?", "rebuilds the database file"),
]


@pytest.fixture
def docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "docs"
    (root / "files").mkdir(parents=True)
    for name, text in PAGES.items():
        (root / "files" / name).write_text(text, encoding="utf-8")
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q, "text": t}) for q, t, _ in QUESTIONS))
    answers = [json.dumps({"_id": q, "answers": [a]}) for q, _, a in QUESTIONS]
    (root / "answers.jsonl").write_text("\n".join(answers))
    return root


def test_a_document_set_is_indexed_once_and_answer_at_512_is_its_objective(docs: Path) -> None:
    data = load_dataset(docs, corpus_optional=True)
    assert default_objective(data) == "answer@512"  # answers, no qrels
    resources, facts = resources_for_dataset(data, docs)
    assert facts["index"] == str(files_index_dir(docs / "files")) and facts["index_chunks"] >= 3
    again, _ = resources_for_dataset(data, docs)
    assert len(again["index"]) == facts["index_chunks"]  # the cached index, not a second copy
    seed = read_seed(QA)
    [(score, _cost, metrics)] = evaluate_candidates([seed], data, resources, "answer@512")
    assert score == metrics["answer@512"] == 1.0  # three short pages: every answer fits in 512 tokens
    with pytest.raises(ConfigError, match=r"objective 'recall@5' is not a metric.*answer@512"):
        evaluate_candidates([seed], data, resources, "recall@5")
    outcome = search_flow(seed, data, resources, budget=3, seed=2)
    assert outcome.best is outcome.records[0]  # nothing beats 1.0: ties keep the seed, not a cheaper edit


def test_cli_search_on_files_writes_a_report_and_a_flow_that_runs(docs: Path, tmp_path: Path) -> None:
    cli = CliRunner()
    out = tmp_path / "search-out"
    args = ["search", "--dataset", str(docs), "--budget", "3", "--dev-fraction", "1.0", "--out", str(out)]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "seed answer@512 on dev: 1.0000" in result.output
    assert read_seed(out / "seed_flow.yaml") == read_seed(QA)  # the default seed is the QA flow
    report = (out / "report.md").read_text()
    assert "## Pareto front" in report and "- objective: answer@512" in report
    assert (out / "tree.html").read_text().count("<circle") == 3  # one node per evaluated candidate
    assert (out / "tree.png").stat().st_size > 0  # matplotlib is in the test extra
    best = out / "best_flow.yaml"
    uses = {s["uses"] for s in yaml.safe_load(best.read_text())["nodes"].values()}
    assert uses <= set(registry.names())
    bare = tmp_path / "bare.yaml"  # its retrieval part (test_flow_search.py runs a whole one with the LLM)
    bare.write_text(flow_yaml(retrieval_only(read_seed(best))))
    question = json.dumps({"question": QUESTIONS[0][1]})
    ran = cli.invoke(app, ["run", str(bare), "--dataset", str(docs), "--input", question])
    assert ran.exit_code == 0, ran.output
    assert "64 tables" in json.dumps(json.loads(ran.stdout)["context"])
    evaluated = cli.invoke(app, ["eval", str(bare), "--dataset", str(docs), "--out", str(tmp_path / "ev")])
    assert evaluated.exit_code == 0, evaluated.output  # `ragloom eval` reads a document set's files too
    assert json.loads((tmp_path / "ev" / "summary.json").read_text())["metrics"]["answer@512"] == 1.0


def test_cli_search_refuses_an_answer_objective_without_an_llm(docs: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["search", "--dataset", str(docs), "--objective", "F1", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "--objective F1 (it scores answers) needs an LLM: --llm local" in result.output
    missing = CliRunner().invoke(app, ["search", "--dataset", str(docs), "--seed", str(tmp_path / "no.yaml")])
    assert missing.exit_code == 2 and "no.yaml" in missing.output


def test_an_objective_is_checked_against_what_the_gold_data_allows(docs: Path) -> None:
    from ragloom.agents.search.flow_search import check_objective

    data = load_dataset(docs, corpus_optional=True)
    for fine in ("answer@512", "F1", "EM", "answer-in-context", "citation-correct"):
        check_objective(fine, data)  # citation-correct exists even before any candidate cites anything
    with pytest.raises(ConfigError, match=r"'context-support-R' is not a metric.*answer@512"):
        check_objective("context-support-R", data)  # no qrels
