"""GraphRetriever conformance, the bridge passage, paths, fusion, the YAML components and the CLI."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import pytest

from ragloom.core.protocols import Retriever
from ragloom.retrieval.bm25 import BM25Retriever
from ragloom.retrieval.graph.paths import PathFilter
from ragloom.retrieval.graph.retriever import GraphRetriever
from ragloom.retrieval.graph.seeds import SeedLinker
from ragloom.retrieval.graph.subgraph import KHopSubgraph
from ragloom.retrieval.hybrid import HybridRetriever

pytestmark = pytest.mark.slow

QUESTION = "Which state was the designer of Dragon Dice born in?"


class GraphState(TypedDict, total=False):
    question: str
    graph_seeds: Any
    subgraph: dict[str, float]
    paths: list[Any]
    path_texts: list[str]
    hits: list[Any]


def chunks_of(index):
    return [r.chunk for r in index.records.values()]


@pytest.mark.parametrize("first_stage", [False, True])
@pytest.mark.parametrize("subgraph", ["ppr", "khop"])
@pytest.mark.parametrize("k", [0, 1, 3, 50])
def test_conformance(built_graph, first_stage: bool, subgraph: str, k: int) -> None:
    first = BM25Retriever(chunks_of(built_graph)) if first_stage else None
    sub = KHopSubgraph(built_graph) if subgraph == "khop" else None
    retriever = GraphRetriever(built_graph, first_stage=first, subgraph=sub)
    assert isinstance(retriever, Retriever)
    for query in (QUESTION, "green tea leaves", "zzzz qqqq", ""):
        hits = retriever.retrieve(query, k)
        assert len(hits) <= k
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len({h.id for h in hits}) == len(hits)
        assert all(h.source == "graph" and h.id in built_graph.records for h in hits)
    assert retriever.retrieve("zzzz qqqq", 5) == []


def test_the_walk_reaches_the_bridge_passage(built_graph) -> None:
    hits = GraphRetriever(built_graph).retrieve(QUESTION, 3)
    assert [h.doc_id for h in hits][:2] == ["Dragon Dice", "Lester Smith"]


def test_passage_seeds_and_fusion_with_bm25(built_graph) -> None:
    bm25 = BM25Retriever(chunks_of(built_graph))
    graph = GraphRetriever(built_graph, linker=SeedLinker(built_graph, first_stage=bm25, passage_share=0.5))
    seeds = graph.seeds("green tea leaves")
    assert any(n.startswith("c:") for n in seeds.nodes) and sum(seeds.nodes.values()) == pytest.approx(1.0)
    fused = HybridRetriever([bm25, graph]).retrieve(QUESTION, 4)
    assert len(fused) == 4 and {"Dragon Dice", "Lester Smith"} <= {h.doc_id for h in fused}
    batch = graph.retrieve_many([QUESTION, "green tea leaves"], 3)
    assert [h.id for h in batch[0]] == [h.id for h in graph.retrieve(QUESTION, 3)]


@pytest.mark.parametrize("method", ["beam", "shortest"])
def test_paths_are_ranked_rendered_and_start_at_seeds(built_graph, method: str) -> None:
    retriever = GraphRetriever(built_graph, path_filter=PathFilter(built_graph, method=method))
    question = "Did Gary Gygax and Dave Arneson create Dungeons & Dragons?"
    seeds = retriever.seeds(question)
    paths = retriever.paths(question, 4, seeds=seeds)
    assert 0 < len(paths) <= 4
    assert [p.reliability for p in paths] == sorted((p.reliability for p in paths), reverse=True)
    for p in paths:
        assert p.nodes[0] in seeds.nodes and len(set(p.nodes)) == len(p.nodes)
        assert "--[" in p.text and p.reliability > 0
    if method == "shortest":
        assert all(p.nodes[-1] in seeds.nodes for p in paths)


def test_yaml_components_chain_the_lego_modules(built_graph, tmp_path) -> None:
    from ragloom.core.registry import create
    from ragloom.flows import END, START, Flow

    built_graph.save(tmp_path / "store" / "graph")
    store = str(tmp_path / "store")
    flow = Flow(GraphState, name="graph-rag")
    flow.add_node("subgraph", create("graph.subgraph.ppr", {"index": store}))
    flow.add_node("filter", create("graph.paths.filter", {"index": store, "method": "beam"}))
    flow.add_node("prune", create("graph.paths.pathrag", {"index": store, "n": 3}))
    flow.add_node("retrieve", create("graph.retrieve", {"index": store, "k": 3}))
    for a, b in [(START, "subgraph"), ("subgraph", "filter"), ("filter", "prune"), ("prune", "retrieve")]:
        flow.add_edge(a, b)
    flow.add_edge("retrieve", END)
    state = flow.compile().invoke({"question": QUESTION}).state
    assert [h.doc_id for h in state["hits"]][:2] == ["Dragon Dice", "Lester Smith"]
    assert len(state["path_texts"]) <= 3 and state["subgraph"]
    # the subgraph module swapped for k-hop, the graph from the run resources
    swapped = Flow(GraphState, name="graph-rag-khop")
    swapped.add_node("subgraph", create("graph.subgraph.khop", {"resource": "g", "hops": 1}))
    swapped.add_node("retrieve", create("graph.retrieve", {"resource": "g", "k": 2}))
    swapped.add_edge(START, "subgraph")
    swapped.add_edge("subgraph", "retrieve")
    swapped.add_edge("retrieve", END)
    result = swapped.compile().invoke({"question": QUESTION}, context={"g": GraphRetriever(built_graph)})
    assert result.state["hits"][0].doc_id == "Dragon Dice"


def test_cli_index_and_query(tmp_path, graph_docs) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": d.id, "title": d.id, "text": d.text}) + "\n" for d in graph_docs)
    )
    store = tmp_path / "store"
    runner = CliRunner()
    result = runner.invoke(app, ["graph", "index", str(corpus), "--store", str(store), "--no-flat"])
    assert result.exit_code == 0, result.output
    assert "12 added" in result.output and (store / "graph" / "graph.json").is_file()
    again = runner.invoke(app, ["graph", "index", str(corpus), "--store", str(store), "--no-flat"])
    assert "0 chunks extracted" in again.output
    result = runner.invoke(app, ["graph", "query", str(store), QUESTION, "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [r["doc_id"] for r in lines if "rank" in r] == ["Dragon Dice", "Lester Smith"]
    zero = runner.invoke(app, ["graph", "query", str(store), QUESTION, "-k", "0"])
    assert zero.exit_code == 2 and "'-k'" in zero.output and "no hits" not in zero.output
    missing = runner.invoke(app, ["graph", "query", str(tmp_path / "nothing"), QUESTION])
    assert missing.exit_code == 2 and "ragloom graph index" in missing.output


def test_yaml_flow_names_the_graph_components(built_graph, tmp_path) -> None:
    from ragloom.flows import Flow

    built_graph.save(tmp_path / "store" / "graph")
    text = f"""
name: graph-rag-yaml
state:
  question: str
  graph_seeds: {{type: Any, default: null}}
  subgraph: {{type: "dict[str, float]", default: {{}}}}
  paths: {{type: "list[Any]", default: []}}
  path_texts: {{type: "list[str]", default: []}}
  hits: {{type: "list[Hit]", default: []}}
nodes:
  subgraph: {{uses: graph.subgraph.ppr, with: {{index: "{tmp_path / "store"}", damping: 0.5}}}}
  filter: {{uses: graph.paths.filter, with: {{index: "{tmp_path / "store"}", method: shortest}}}}
  prune: {{uses: graph.paths.pathrag, with: {{index: "{tmp_path / "store"}", n: 2}}}}
  retrieve: {{uses: graph.retrieve, with: {{index: "{tmp_path / "store"}", k: 2}}}}
edges:
  - {{from: START, to: subgraph}}
  - {{from: subgraph, to: filter}}
  - {{from: filter, to: prune}}
  - {{from: prune, to: retrieve}}
  - {{from: retrieve, to: END}}
"""
    flow = Flow.from_yaml(text)
    state = flow.compile().invoke({"question": QUESTION}).state
    assert [h.doc_id for h in state.hits] == ["Dragon Dice", "Lester Smith"]
    assert len(state.path_texts) <= 2
    assert "uses: graph.subgraph.ppr" in flow.to_yaml()


def test_cli_llm_build_asks_before_spending(tmp_path, graph_docs) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in graph_docs[:3]))
    store = tmp_path / "store"
    args = ["graph", "index", str(corpus), "--store", str(store), "--no-flat", "--llm", "some-model"]
    args += ["--llm-base-url", "http://127.0.0.1:9/v1", "--gleanings", "2"]  # never contacted: we say no
    result = CliRunner().invoke(app, args, input="n\n")
    assert result.exit_code == 2
    assert "3 documents, 3 chunks, up to 9 calls" in result.output and "aborted" in result.output
    assert not (store / "graph").exists()


def test_a_retriever_follows_updates_of_its_index(embedder) -> None:
    """Documents added (or deleted and re-added) after the retriever's first query are found by the next one:
    the seed linker's per-query memo and the walk's transition matrix follow the index."""
    from ragloom.retrieval.graph.graph_index import GraphIndex
    from tests.retrieval.graph.conftest import make_docs

    docs = make_docs()
    index = GraphIndex(embedder=embedder)
    index.update([d for d in docs if d.id != "Mount Everest"])
    retriever = GraphRetriever(index)
    question = "Which countries border Mount Everest?"
    assert retriever.retrieve(question, 3) == []  # no passage about it yet
    index.update(docs)
    assert [h.doc_id for h in retriever.retrieve(question, 1)] == ["Mount Everest"]
    index.delete(["Mount Everest"])
    assert retriever.retrieve(question, 3) == []
    index.update(docs)
    fresh = GraphRetriever(index).retrieve(question, 5)
    assert [(h.id, h.score) for h in retriever.retrieve(question, 5)] == [(h.id, h.score) for h in fresh]
