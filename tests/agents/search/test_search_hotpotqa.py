"""A small real search: a slice of hotpotqa-300 written as a BEIR folder, BM25-only operators, run through
the ``ragloom search`` command; then the found flow is loaded from YAML and run with real resources."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ragloom.agents.search import SearchResources, SearchState
from ragloom.cli import app
from ragloom.flows import Flow

SPACE = """
seed:
  - {op: retrieve, with: {method: bm25, k: 5}}
operators:
  retrieve: {params: {method: {choices: [bm25]}, k: {int: [5, 10], step: 5}}}
  multihop: {params: {method: {choices: [bm25]}, link: {choices: [mention]}, seeds: {int: [1, 3]}}}
  prf: {params: {method: {choices: [bm25]}}}
"""


def _slice(src: Path, dst: Path, n_queries: int = 16, n_distractors: int = 120) -> None:
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()[:n_queries]]
    ids = {q["_id"] for q in queries}
    qrels = [ln for ln in (src / "qrels" / "test.tsv").read_text().splitlines() if ln.split("\t")[0] in ids]
    keep = {ln.split("\t")[1] for ln in qrels}
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    docs = [d for i, d in enumerate(corpus) if d["_id"] in keep or i < n_distractors]
    (dst / "qrels").mkdir(parents=True)
    (dst / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (dst / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (dst / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")


def test_search_command_on_a_hotpotqa_slice(shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "hotpot-slice"
    _slice(shared_data / "hotpotqa-300", data)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "out"
    args = [
        "search",
        "--space",
        str(space),
        "--dataset",
        str(data),
        "--metric",
        "recall@5",
        "--budget",
        "6",
        "--out",
        str(out),
        "--dev-fraction",
        "1.0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "projection: 6 evaluations" in result.output
    for name in ("best_flow.yaml", "pareto.json", "report.md", "tree.html", "state.json"):
        assert (out / name).is_file(), name
    records = json.loads((out / "records.json").read_text())["records"]
    assert len(records) == 6 and max(r["score"] for r in records) >= records[0]["score"] > 0.3
    evaluations = json.loads((out / "state.json").read_text())["evaluations"].values()
    for ev in evaluations:  # per-query scores (for the final rule's confidence bound) average to the score
        assert len(ev["per_query"]) == 16
        assert abs(sum(ev["per_query"]) / 16 - ev["score"]) < 1e-9
    again = CliRunner().invoke(app, args)  # resumes from state.json: nothing is evaluated again
    assert again.exit_code == 0 and json.loads((out / "records.json").read_text())["records"] == records

    from ragloom.eval.datasets import indexable_documents, load_dataset

    flow = Flow.from_yaml((out / "best_flow.yaml").read_text()).compile()
    resources = SearchResources(indexable_documents(load_dataset(data), True))
    state = flow.invoke(
        {"question": "Which magazine was started first?"}, context={"search": resources}
    ).state
    assert isinstance(state, SearchState) or hasattr(state, "hits")
    assert 0 < len(state.hits) <= 10


def test_resuming_on_another_dev_split_is_refused(shared_data: Path, tmp_path: Path) -> None:
    """The dev split depends on ``dev_fraction``: evaluations on other queries must not be replayed."""
    import pytest

    from ragloom.agents.search import search_flows
    from ragloom.core.errors import ConfigError

    data = tmp_path / "hotpot-slice"
    _slice(shared_data / "hotpotqa-300", data, n_queries=6, n_distractors=20)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    out = tmp_path / "out"
    search_flows(space, data, budget=1, out=out, dev_fraction=0.5, log=None)
    with pytest.raises(ConfigError, match="search state of a different search"):
        search_flows(space, data, budget=1, out=out, dev_fraction=0.34, log=None)
    assert (
        search_flows(space, data, budget=1, out=out, dev_fraction=0.5, log=None).outcome.scorer_evaluations
        == 0
    )


def test_an_empty_dev_split_is_refused_before_searching(shared_data: Path, tmp_path: Path) -> None:
    """With no dev query every candidate would score 0 and the search would return an arbitrary flow."""
    import pytest

    from ragloom.agents.search import search_flows
    from ragloom.core.errors import ConfigError

    data = tmp_path / "hotpot-slice"
    _slice(shared_data / "hotpotqa-300", data, n_queries=4, n_distractors=10)
    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    with pytest.raises(ConfigError, match=r"hotpot-slice: the 'dev' split has none of the 4 queries"):
        search_flows(space, data, budget=2, out=tmp_path / "out", dev_fraction=0.0, log=None)
    assert not (tmp_path / "out").exists()
