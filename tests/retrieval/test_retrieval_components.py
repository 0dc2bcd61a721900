"""Retrieval components as flow nodes (Python and YAML); the `ragloom index` and `ragloom query` commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.core.errors import ConfigError
from ragloom.core.registry import create, names
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.bm25 import BM25Retriever
from ragloom.retrieval.index import Index

pytestmark = pytest.mark.slow

FLOW = """\
name: rag-retrieve
state:
  question: str
  hits: {{type: "list[Hit]", default: []}}
nodes:
  retrieve: {{uses: retrieval.hybrid, with: {{index: "{index}", k: 3, fusion: dbsf, weights: [0.3, 0.7]}}}}
  rerank: {{uses: retrieval.rerank.maxsim, with: {{k: 2}}}}
edges:
  - {{from: START, to: retrieve}}
  - {{from: retrieve, to: rerank}}
  - {{from: rerank, to: END}}
"""


@pytest.fixture
def index_path(tiny_docs, embedder, tmp_path):
    Index.build(tmp_path / "idx", tiny_docs, embedder=embedder, vector_store="memory")
    return tmp_path / "idx"


def test_registered_names():
    expected = {
        "retrieval.bm25",
        "retrieval.dense",
        "retrieval.hybrid",
        "retrieval.index",
        "retrieval.rerank.maxsim",
        "retrieval.rerank.collaborative",
        "retrieval.rerank.llm",
        "retrieval.rerank.cross_encoder",
    }
    assert expected <= set(names())


@pytest.mark.parametrize("name", ["retrieval.bm25", "retrieval.dense", "retrieval.hybrid"])
def test_retriever_nodes_on_dict_state(name, index_path):
    node = create(name, {"index": str(index_path), "k": 2, "output_key": "found"})
    update = node({"question": "Who created the Python programming language?"})
    assert list(update) == ["found"]
    assert len(update["found"]) <= 2 and update["found"][0].doc_id == "python"


def test_index_node_and_parameter_errors(index_path):
    node = create("retrieval.index", {"path": str(index_path), "mode": "bm25", "k": 1})
    assert node({"question": "Mount Everest height"})["hits"][0].doc_id == "everest"
    with pytest.raises(ConfigError, match="mode"):
        create("retrieval.index", {"path": str(index_path), "mode": "sparse"})
    with pytest.raises(ConfigError, match="exactly one of"):
        create("retrieval.bm25", {})
    with pytest.raises(ConfigError, match="fusion"):
        create("retrieval.hybrid", {"index": str(index_path), "fusion": "max"})


def test_yaml_flow_retrieves_and_reranks(index_path):
    from ragloom.flows import Flow

    flow = Flow.from_yaml(FLOW.format(index=index_path))
    result = flow.compile().invoke({"question": "What is the capital of France?"})
    hits = result.state.hits
    assert len(hits) == 2 and all(isinstance(h, Hit) for h in hits)
    assert hits[0].doc_id == "paris" and hits[0].source == "maxsim"
    assert "uses: retrieval.hybrid" in flow.to_yaml()


def test_resource_retriever_and_llm_reranker_in_a_flow():
    from pydantic import BaseModel
    from test_rerankers import FakeLLM

    from ragloom.flows import END, START, Flow

    class QA(BaseModel):
        question: str
        hits: list[Hit] = []

    chunks = [
        Chunk(t, d, 0, len(t)) for d, t in {"p": "Paris is in France", "b": "Berlin is in Germany"}.items()
    ]
    flow = Flow(QA, name="qa")
    flow.add_node("retrieve", create("retrieval.bm25", {"resource": "retriever", "k": 2}))
    flow.add_node("judge", create("retrieval.rerank.llm", {"k": 1}))
    flow.add_edge(START, "retrieve")
    flow.add_edge("retrieve", "judge")
    flow.add_edge("judge", END)
    context = {"retriever": BM25Retriever(chunks), "llm": FakeLLM()}
    result = flow.compile().invoke({"question": "Is Berlin or Paris in France?"}, context=context)
    assert [h.doc_id for h in result.state.hits] == ["p"]


def test_cli_index_and_query(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.txt").write_text("Green tea contains caffeine and is made from leaves.", encoding="utf-8")
    (docs / "rock.md").write_text("Granite is an igneous rock.", encoding="utf-8")
    store = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(docs), "--store", str(store), "--vector-store", "memory"])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    result = runner.invoke(app, ["index", str(docs), "--store", str(store), "--vector-store", "memory"])
    assert "0 added, 0 changed, 0 deleted, 2 unchanged" in result.output
    for mode in ("bm25", "dense", "hybrid"):
        result = runner.invoke(
            app, ["query", str(store), "which rock is igneous", "-k", "1", "--mode", mode, "--json"]
        )
        assert result.exit_code == 0, result.output
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("{")]
        assert json.loads(line)["doc_id"] == "rock.md"
    result = runner.invoke(app, ["query", str(store), "which rock is igneous", "-k", "0"])
    assert result.exit_code == 2 and "'-k'" in result.output and "no hits" not in result.output
    result = runner.invoke(app, ["query", str(tmp_path / "nothing"), "q"])
    assert result.exit_code == 2 and "no index at" in result.output


def test_lazy_resources_are_built_once_under_concurrent_first_use() -> None:
    """Index-backed nodes open their index on first use; concurrent first requests (``ragloom serve`` runs
    flows in a thread pool) used to open it once per thread, each loading chunks, BM25 and a store client."""
    import threading
    import time

    from ragloom.retrieval.components import _lazy

    built: list[object] = []

    def make() -> object:
        time.sleep(0.02)  # opening an index reads files: other threads get the GIL meanwhile
        built.append(object())
        return built[-1]

    get = _lazy(make)
    start = threading.Barrier(6)
    got: list[object] = []

    def work() -> None:
        start.wait()
        got.append(get())

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(g is built[0] for g in got)
