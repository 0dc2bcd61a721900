"""Eval, search and batch on a real two-node Ray cluster give what a local run gives: the same per-query
metrics, the same search trajectory for a fixed seed, the same flow results (and per-input errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.agents.search import read_seed, search_flow
from ragloom.agents.search.flow_parallel import DatasetResources
from ragloom.eval.build import build_pipeline
from ragloom.eval.datasets import load_dataset
from ragloom.eval.distributed import evaluate_on
from ragloom.eval.flow_resources import dataset_resources
from ragloom.eval.harness import evaluate
from ragloom.eval.pipelines import pipeline_spec
from ragloom.flows import Flow
from ragloom.scale import LocalExecutor
from ragloom.scale.flows import batch_on
from ragloom.scale.ray_executor import RayExecutor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hotpot(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice of hotpotqa-300 as a BEIR folder: 8 questions, their gold documents and 40 distractors."""
    src, dst = shared_data / "hotpotqa-300", tmp_path_factory.mktemp("hotpot")
    queries = [json.loads(line) for line in (src / "queries.jsonl").read_text().splitlines()[:8]]
    ids = {q["_id"] for q in queries}
    qrels = [ln for ln in (src / "qrels" / "test.tsv").read_text().splitlines() if ln.split("\t")[0] in ids]
    keep = {ln.split("\t")[1] for ln in qrels}
    corpus = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines()]
    docs = [d for i, d in enumerate(corpus) if d["_id"] in keep or i < 40]
    (dst / "qrels").mkdir()
    (dst / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (dst / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (dst / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")
    return dst


def test_eval_on_ray_equals_local(ray_cluster, hotpot: Path) -> None:
    dataset = load_dataset(hotpot)
    spec = pipeline_spec("bm25")
    local = evaluate(build_pipeline(spec), dataset, keep_per_query=True)
    remote = evaluate_on(RayExecutor(ray_cluster.address), spec, dataset)
    assert remote.per_query == local.per_query and remote.metrics == local.metrics
    assert remote.n_queries == 8 and remote.metrics["R@10"] > 0


def test_search_on_ray_follows_the_local_trajectory(ray_cluster, hotpot: Path) -> None:
    """The QA flow as seed, scored on support recall (its retrieval steps only: no LLM), budget 4."""
    dataset = load_dataset(hotpot)
    resources, facts = dataset_resources(dataset, hotpot)  # built once here; the workers open it
    on_workers = DatasetResources(dataset, str(hotpot), index_dir=facts["index"])
    seed = read_seed(ROOT / "examples" / "flows" / "qa.yaml")
    runs = {}
    for name, executor in (("local", LocalExecutor(2)), ("ray", RayExecutor(ray_cluster.address, workers=2))):
        outcome = search_flow(
            seed, dataset, resources, budget=4, seed=3, executor=executor, worker_resources=on_workers
        )
        runs[name] = [(r.data, r.score, r.metrics) for r in outcome.records]
    assert len(runs["ray"]) == 4 and runs["ray"] == runs["local"]
    assert len({json.dumps(data, sort_keys=True) for data, _, _ in runs["ray"]}) == 4
    assert runs["ray"][0][1] > 0  # the seed finds support


def test_batch_on_ray_equals_local_batch_with_per_input_errors(ray_cluster) -> None:
    flow = Flow.from_yaml((ROOT / "examples" / "flows" / "loop_counter.yaml").read_text()).compile()
    inputs = [{"count": 0}, {"count": 2}, {"count": "not a number"}, {"count": 7}]
    local = flow.batch(inputs, max_concurrency=2)  # the engine's own batch
    remote = flow.batch(inputs, executor=RayExecutor(ray_cluster.address))
    threads = batch_on(LocalExecutor(2), flow, inputs)
    for results in (remote, threads):
        assert [r.state.message for r in (results[0], results[1], results[3])] == [
            r.state.message for r in (local[0], local[1], local[3])
        ]
        assert isinstance(results[2], Exception) and type(results[2]) is type(local[2])
    assert [r.state.message for r in (remote[0], remote[3])] == ["counted to 3", "counted to 8"]
