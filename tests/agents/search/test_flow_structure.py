"""Structural edits of workflow search: graph retrieval in the space (as a swap and as a parallel arm joined
by fusion), bounded loops, expansion priors; each edit gives a valid flow file that runs on a real index
(real BM25 + MiniLM + chromadb-free memory store, real spaCy graph) with a FakeLLM collaborator for the
LLM steps."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragloom.agents.search.flow_priors import order_edits
from ragloom.agents.search.flow_search import evaluate_candidates, flow_yaml, read_seed, search_flow
from ragloom.agents.search.flow_space import FlowEdit, apply_edit, canonical, flow_edits, unavailable
from ragloom.cli import app
from ragloom.core import registry
from ragloom.core.types import Completion, Usage
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_resources import dataset_resources
from ragloom.flows.yaml_io import load_flow

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"
PASSAGES = {
    "Lester Smith": "Lester Smith is an American game designer best known for Dragon Dice. He was born in "
    "Kentucky.",
    "Dragon Dice": "Dragon Dice is a collectible dice game published by TSR in 1995. It was designed by "
    "Lester Smith.",
    "TSR": "TSR was an American game publishing company founded by Gary Gygax in Lake Geneva, Wisconsin.",
    "Gary Gygax": "Gary Gygax was an American game designer and author who co-created Dungeons & Dragons.",
    "Lake Geneva": "Lake Geneva is a city in Walworth County, Wisconsin, on the shore of Geneva Lake.",
    "Kentucky": "Kentucky is a state in the Southeastern region of the United States, east of Missouri.",
    "Green tea": "Green tea is a type of tea made from Camellia sinensis leaves that have not been oxidized.",
    "Mount Everest": "Mount Everest is the highest mountain above sea level, on the border of Nepal "
    "and China.",
}
QUESTIONS = [
    ("q1", "Who founded the company that published Dragon Dice?", ["Dragon Dice", "TSR"], "Gary Gygax"),
    ("q2", "In which state was the designer of Dragon Dice born?", ["Lester Smith", "Kentucky"], "Kentucky"),
]


class FakeLLM:
    """Collaborator: rewrites queries with extra words, answers 'Gary Gygax [1]' and judges every answer
    unsupported, so both loops take their loop edge once; counts its calls by kind."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def complete(self, messages: Any, **options: Any) -> Completion:
        text = messages[-1].content
        kind = (
            "check" if "supported by the context" in text else "rewrite" if len(messages) == 2 else "answer"
        )
        self.calls[kind] = self.calls.get(kind, 0) + 1
        reply = {"check": "no", "rewrite": "TSR publisher founder"}.get(kind, "Gary Gygax [1].")
        return Completion(reply, Usage(prompt_tokens=10, completion_tokens=3, calls=1))


@pytest.fixture(scope="module")
def graph_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("graphqa") / "graphqa"
    (root / "qrels").mkdir(parents=True)
    corpus = [json.dumps({"_id": t, "title": t, "text": x}) for t, x in PASSAGES.items()]
    (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": q, "text": t}) for q, t, *_ in QUESTIONS)
    )
    (root / "answers.jsonl").write_text(
        "\n".join(json.dumps({"_id": q, "answers": [a]}) for q, *_, a in QUESTIONS)
    )
    rows = "".join(f"{q}\t{d}\t1\n" for q, _, docs, _ in QUESTIONS for d in docs)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


@pytest.fixture(scope="module")
def with_graph(
    graph_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Resources over the dataset with its graph index built (the search resource), and the build facts;
    in the session's test cache (the autouse cache fixture is per test, this one is per module)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAGLOOM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ragloom-cache"))
        return dataset_resources(load_dataset(graph_data), graph_data, graph=True)


def _compiles(data: dict[str, Any]) -> None:
    load_flow(flow_yaml(data)).compile()


def test_graph_retrieve_is_a_retriever_that_swaps_in_reading_the_graph_resource() -> None:
    entry = registry.get("graph.retrieve")
    assert entry.role == "retriever" and entry.defaults == {"resource": "graph"}
    assert {"k", "passages", "passage_share", "damping"} <= set(entry.search)
    seed = read_seed(QA)
    assert "retrieve: uses graph.retrieve" in {e.describe() for e in flow_edits(seed)}
    graph = apply_edit(seed, FlowEdit("swap", "retrieve", "graph.retrieve"))
    assert graph["nodes"]["retrieve"] == {"uses": "graph.retrieve", "with": {"k": 20, "resource": "graph"}}
    back = apply_edit(graph, FlowEdit("swap", "retrieve", "retrieval.hybrid"))
    assert back["nodes"]["retrieve"]["with"] == {"k": 20, "resource": "retriever"}
    assert "retrieve.passages=3" in {e.describe() for e in flow_edits(graph)}
    # without a graph resource the search leaves graph retrieval out, and says so once
    assert unavailable(["retriever", "index"]) == ["graph.retrieve"]
    assert unavailable(["retriever", "index", "graph"]) == []


def test_arm_adds_a_parallel_retriever_joined_by_fusion_and_unarm_gives_the_seed_back() -> None:
    seed = read_seed(QA)
    arm = apply_edit(seed, FlowEdit("arm", "retrieve", "graph.retrieve"))
    assert arm["nodes"]["graph"]["with"] == {"resource": "graph", "k": 20, "output_key": "hits_graph"}
    fuse = arm["nodes"]["fuse"]
    assert fuse["uses"] == "retrieval.fuse" and fuse["with"]["inputs"] == ["hits", "hits_graph"]
    assert {"from": "START", "to": ["retrieve", "graph"]} in arm["edges"]
    assert {"from": ["retrieve", "graph"], "to": "fuse"} in arm["edges"]
    assert {"from": "fuse", "to": "rerank"} in arm["edges"] and "hits_graph" in arm["state"]
    _compiles(arm)
    assert "yaml" not in flow_yaml(arm) and "&id" not in flow_yaml(arm)  # no YAML anchors in the file
    edits = {e.describe() for e in flow_edits(arm)}
    assert not any(d.startswith("arm ") for d in edits)  # one join per flow
    assert {"fuse.k=30", "unarm graph from fuse", "unarm retrieve from fuse"} <= edits
    assert canonical(apply_edit(arm, FlowEdit("unarm", "fuse", "graph"))) == canonical(seed)
    kept = apply_edit(arm, FlowEdit("unarm", "fuse", "retrieve"))
    assert kept["nodes"]["graph"] == {"uses": "graph.retrieve", "with": {"resource": "graph", "k": 20}}
    assert "hits_graph" not in kept["state"] and {"from": "START", "to": "graph"} in kept["edges"]
    _compiles(kept)


def test_loop_edits_are_bounded_valid_and_only_proposed_with_an_llm() -> None:
    seed = read_seed(QA)
    loops = [e for e in flow_edits(seed) if e.kind == "loop"]
    assert {e.name for e in loops} == {"retry", "review"}
    assert not [e for e in flow_edits(seed, llm=False) if e.kind == "loop" or e.node == "generate"]
    assert {e.node for e in flow_edits(seed)} >= {"generate"}  # an LLM evaluation tunes the generator too
    for edit in loops:
        looped = apply_edit(seed, edit)
        _compiles(looped)
        (when,) = [e for e in looped["edges"] if "when" in e]
        assert when["when"][0]["if"]["op"] == ">="  # the round counter is checked first: bounded
        assert looped["max_steps"] > seed["max_steps"]
        assert not [e for e in flow_edits(looped) if e.kind == "loop"]  # one loop per flow


def test_graph_search_resource_is_built_once_and_graph_flows_score(
    graph_data: Path, with_graph: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    resources, facts = with_graph
    assert facts["graph_cache"].startswith("built") and facts["graph_seconds"] > 0
    again = dataset_resources(load_dataset(graph_data), graph_data, graph=True)[1]
    assert again["graph_cache"].startswith("warm")
    seed = read_seed(QA)
    swap = apply_edit(seed, FlowEdit("swap", "retrieve", "graph.retrieve"))
    arm = apply_edit(seed, FlowEdit("arm", "retrieve", "graph.retrieve"))
    tuned = apply_edit(swap, FlowEdit("param", "retrieve", "damping", 0.7))
    dataset = load_dataset(graph_data)
    scored = evaluate_candidates([seed, swap, arm, tuned], dataset, resources, "context-support-R", 2)
    for score, _cost, metrics in scored:
        assert 0.0 <= score <= 1.0 and "error" not in metrics
    logged: list[str] = []
    bare = {k: v for k, v in resources.items() if k != "graph"}
    search_flow(seed, dataset, bare, budget=2, method="random", seed=0, log=logged.append)
    assert any("graph.retrieve" in line and "left out" in line for line in logged)


def test_a_flow_with_a_graph_arm_runs_with_ragloom_run_index(
    with_graph: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    _resources, facts = with_graph
    arm = apply_edit(read_seed(QA), FlowEdit("arm", "retrieve", "graph.retrieve"))
    flow = tmp_path / "best_flow.yaml"
    flow.write_text(flow_yaml(arm), encoding="utf-8")
    question = json.dumps({"question": QUESTIONS[0][1]})
    cli = CliRunner()
    # the answer needs an LLM: ask for the context only (run to before `generate`)
    stop = ["--checkpoint", str(tmp_path / "runs.sqlite"), "--interrupt-before", "generate"]
    run = cli.invoke(app, ["run", str(flow), "--index", facts["index"], "--input", question, *stop])
    assert run.exit_code == 0, run.output
    assert "TSR" in run.output and "hits_graph" in run.output


def test_loops_run_their_loop_edge_once_with_a_fake_llm(
    with_graph: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    resources, _facts = with_graph
    seed = read_seed(QA)
    retry = apply_edit(seed, FlowEdit("loop", "select", "retry", (1, 1.01)))  # coverage is always "low"
    both = apply_edit(retry, FlowEdit("remove", "rerank"))
    review = apply_edit(seed, FlowEdit("loop", "generate", "review", (1, 0.0)))
    fake = FakeLLM()
    context = {**resources, "llm": fake}
    done = load_flow(flow_yaml(both)).compile().invoke({"question": QUESTIONS[0][1]}, context=context)
    state = done.state
    assert state.retrieval_rounds == 1 and "TSR publisher founder" in state.query
    assert fake.calls["rewrite"] == 1 and fake.calls["answer"] == 1
    fake.calls.clear()
    done = load_flow(flow_yaml(review)).compile().invoke({"question": QUESTIONS[0][1]}, context=context)
    assert done.state.review_rounds == 1 and done.state.supported is False
    assert fake.calls == {"answer": 2, "check": 2}  # generate, review, regenerate, review, then stop


def test_expansion_order_leads_with_structure_then_learns_from_measured_gains() -> None:
    edits = flow_edits(read_seed(QA), llm=False)
    ordered = order_edits(edits, random.Random(0))
    kinds = ["fine" if e.kind == "param" else "coarse" for e in ordered]
    # two coarse edits, then one parameter tweak, ...: coarse first, but a small budget still tunes
    assert kinds[:6] == ["coarse", "coarse", "fine", "coarse", "coarse", "fine"]
    assert sorted(map(str, ordered)) == sorted(map(str, edits))  # a permutation
    good, bad = ordered[-1], ordered[0]
    learned = order_edits(edits, random.Random(0), {good.describe(): 0.05, bad.describe(): -0.05})
    assert learned[0] == good and learned[-1] == bad


def test_fuse_joins_hit_lists_with_rrf_and_refuses_bad_settings() -> None:
    from ragloom.core.errors import ConfigError
    from ragloom.core.types import Chunk, Hit

    def hits(*ids: str) -> list[Hit]:
        return [Hit(Chunk(i, i, 0, len(i)), 1.0 / (n + 1), "test") for n, i in enumerate(ids)]

    fuse = registry.create("retrieval.fuse", {"inputs": ["a", "b"], "k": 3})
    fused = fuse({"a": hits("x", "y", "z"), "b": hits("y", "w")})["hits"]
    assert [h.id for h in fused][:1] == ["y#0-1"] and len(fused) == 3  # in both lists: first
    with pytest.raises(ConfigError, match="2 weights for 3 inputs"):
        registry.create("retrieval.fuse", {"inputs": ["a", "b", "c"], "weights": [1.0, 2.0]})
    with pytest.raises(ConfigError, match="unknown fusion"):
        registry.create("retrieval.fuse", {"inputs": ["a", "b"], "method": "nope"})


def test_interleave_places_one_fine_edit_in_every_third_slot_then_the_rest() -> None:
    from ragloom.agents.search.flow_priors import interleave

    coarse = [FlowEdit("swap", f"c{i}", "x") for i in range(3)]
    fine = [FlowEdit("param", f"f{i}", "p", i) for i in range(4)]
    out = interleave(coarse, fine, 3)
    assert [e.node for e in out] == ["c0", "c1", "f0", "c2", "f1", "f2", "f3"]
    assert interleave(coarse, [], 3) == coarse and interleave([], fine, 3) == fine


def test_parameter_edits_never_repeat_the_value_in_effect() -> None:
    """A value equal to the factory default of a parameter the node leaves out is the same flow: spending an
    evaluation on it would be a no-op, so it is not offered."""
    edits = {e.describe() for e in flow_edits(read_seed(QA), llm=False) if e.kind == "param"}
    assert "select.iterations=16" not in edits and "select.fill_sentences=0" not in edits
    assert "select.max_share=0.0" not in edits
    assert {"select.iterations=8", "select.iterations=32", "select.max_share=0.5"} <= edits
