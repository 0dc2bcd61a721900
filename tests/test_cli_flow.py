"""`ragloom run`, `ragloom flow show` and `ragloom flow validate` on real flow files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "flows"
LOOP = EXAMPLES / "loop_counter.yaml"


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_run_prints_state_json_and_trace_summary(cli: CliRunner, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = cli.invoke(app, ["run", str(LOOP), "--input", '{"count": 1}', "--trace", str(trace)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"count": 3, "message": "counted to 3"}
    assert "total" in result.stderr and "report" in result.stderr  # the summary table
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [r["node"] for r in records] == ["tick", "tick", "report"]


def test_run_with_input_file_and_sqlite_checkpoint(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"topic": "cats"}')
    db = tmp_path / "runs.sqlite"
    args = [
        "run",
        str(EXAMPLES / "fan_out_join.yaml"),
        "-i",
        f"@{tmp_path / 'in.json'}",
        "--checkpoint",
        str(db),
    ]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert sorted(state["notes"]) == ["left branch", "right branch"]
    assert state["summary"].startswith("cats: ")
    with sqlite3.connect(db) as conn:  # the run was checkpointed step by step
        tables = [row[0] for row in conn.execute("select name from sqlite_master where type='table'")]
        assert tables and sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables) >= 2


def test_show_text_and_mermaid_and_validate(cli: CliRunner) -> None:
    text = cli.invoke(app, ["flow", "show", str(LOOP)])
    assert text.exit_code == 0, text.output
    assert 'tick    flows.increment(key="count")' in text.stdout
    assert "tick -> tick  if count < 3" in text.stdout and "tick -> report  else" in text.stdout
    mermaid = cli.invoke(app, ["flow", "show", str(LOOP), "--mermaid"])
    assert mermaid.exit_code == 0, mermaid.output
    assert mermaid.stdout.startswith("flowchart") and "tick" in mermaid.stdout
    ok = cli.invoke(app, ["flow", "validate", str(LOOP)])
    assert ok.exit_code == 0 and "ok:" in ok.stdout and "2 nodes" in ok.stdout


BAD_NODE = """\
name: bad
state:
  count: int
nodes:
  tick: {uses: flows.increment}
edges:
  - {from: START, to: tick}
  - {from: tick, to: tock}
"""


@pytest.mark.parametrize(
    ("yaml_text", "args", "needle"),
    [
        (BAD_NODE, ["flow", "validate"], ":8:22: unknown node 'tock' in edges"),
        (
            BAD_NODE.replace("flows.increment", "flows.nope"),
            ["flow", "show"],
            "unknown component 'flows.nope'",
        ),
        (BAD_NODE.replace("int\n", "!!python/object/apply:os.getcwd []\n"), ["run"], "is not allowed"),
        (BAD_NODE.replace("flows.increment}", "flows.increment"), ["run"], "invalid YAML"),
        (BAD_NODE.replace("tick: {", "tick {"), ["run"], ":5:3: invalid node name 'tick {uses'"),
        (BAD_NODE.replace("flows.increment", "'os:getcwd'"), ["run"], "--allow-import os"),
        (BAD_NODE.replace("tock", "tick"), ["flow", "validate"], ":5:3: flow 'bad': node 'tick' has no path"),
    ],
)
def test_bad_flow_files_exit_2_with_one_clean_line(
    cli: CliRunner, tmp_path: Path, yaml_text: str, args: list[str], needle: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    result = cli.invoke(app, [*args, str(path)])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith(f"error: {path}") and needle in message
    assert "\n" not in message and "Traceback" not in result.output


def test_wrong_input_type_exits_2(cli: CliRunner) -> None:
    result = cli.invoke(app, ["run", str(LOOP), "--input", '{"count": "many"}'])
    assert result.exit_code == 2, result.output
    assert "count" in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli.invoke(app, ["run", str(LOOP), "--input", '{"count": 1'])
    assert result.exit_code == 2 and "--input is not valid JSON" in result.stderr
    result = cli.invoke(app, ["run", str(LOOP), "--input", "[1]"])
    assert result.exit_code == 2 and "must be a JSON object" in result.stderr
    result = cli.invoke(app, ["run", str(LOOP), "--input", '{"cuont": 1}'])  # a typo in a key name
    assert result.exit_code == 2 and "cuont" in result.stderr


def test_missing_file_and_node_failure(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(app, ["run", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "not found" in result.stderr
    failing = tmp_path / "fail.yaml"  # `message` is a str: incrementing it fails at run time
    failing.write_text(LOOP.read_text().replace("{key: count}", "{key: message}"))
    result = cli.invoke(app, ["run", str(failing)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "tick" in result.stderr


def test_interrupt_then_resume_with_an_update(cli: CliRunner, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    first = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--interrupt-before", "report"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"count": 3, "message": ""}
    hint = first.stderr.strip().splitlines()[-1]
    assert "interrupted before node 'report'" in hint
    run_id = hint.split("--resume ")[1].split()[0]
    second = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--resume", run_id, "-i", '{"count": 7}'])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == {"count": 7, "message": "counted to 7"}
    unknown = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--resume", "nope"])
    assert unknown.exit_code == 2 and "no checkpoint for run 'nope'" in unknown.stderr
    no_db = cli.invoke(app, ["run", str(LOOP), "--resume", run_id])
    assert no_db.exit_code == 2 and "need a --checkpoint database" in no_db.stderr


def test_run_a_flow_over_a_datasets_corpus(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ragloom run FLOW --dataset DIR`: the dataset's corpus, indexed into the cache, is the `retriever`."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "tiny"
    (data / "qrels").mkdir(parents=True)
    docs = {
        "d1": "Marley was Scrooge's partner.",
        "d2": "Bob Cratchit is the clerk.",
        "d3": "Fred is the nephew.",
    }
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items())
    )
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "Who is the clerk?"}) + "\n")
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td2\t1\n")
    flow = tmp_path / "best_flow.yaml"
    flow.write_text(
        "name: best_flow\nstate:\n  question: str\n  hits:\n    type: list[Hit]\n    default: []\n"
        "nodes:\n  retrieve:\n    uses: retrieval.hybrid\n    with: {resource: retriever, k: 1}\n"
        "edges:\n- {from: START, to: retrieve}\n- {from: retrieve, to: END}\n"
    )
    args = ["run", str(flow), "-i", '{"question": "Who is the clerk?"}']
    missing = cli.invoke(app, args)
    assert missing.exit_code == 1 and "--dataset" in missing.stderr  # the error names the CLI option
    result = cli.invoke(app, [*args, "--dataset", str(data)])
    assert result.exit_code == 0, result.output
    assert [h["chunk"]["doc_id"] for h in json.loads(result.stdout)["hits"]] == ["d2"]


def test_interrupt_in_a_node_then_resume_with_a_value(cli: CliRunner, tmp_path: Path) -> None:
    db = str(tmp_path / "runs.sqlite")
    approval = str(EXAMPLES / "approval.yaml")
    first = cli.invoke(app, ["run", approval, "--checkpoint", db, "-i", '{"topic": "cats"}'])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["published"] == ""
    assert "asks: \"Publish 'A note about cats'?\"" in first.stderr
    hint = first.stderr.strip().splitlines()[-1]
    assert "paused; answer with:" in hint and hint.endswith("--value JSON")
    run_id = hint.split("--resume ")[1].split()[0]
    bad = cli.invoke(app, ["run", approval, "--checkpoint", db, "--resume", run_id, "--value", "yes"])
    assert bad.exit_code == 2 and "--value is not valid JSON" in bad.stderr
    done = cli.invoke(app, ["run", approval, "--checkpoint", db, "--resume", run_id, "--value", '"approved"'])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["published"] == "A note about cats (approved)"
    after = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--interrupt-after", "tick"])
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == {"count": 1, "message": ""}
    assert "interrupted after node 'tick'" in after.stderr.strip().splitlines()[-1]
