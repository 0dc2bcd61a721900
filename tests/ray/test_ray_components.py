"""A component the user registered only in the driver (their own module, which no worker can import) runs on
Ray workers: the executor sends the driver's own registry entries, and a search that proposes the component
follows the local trajectory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import tiny_beir
from user_components import NAME, driver_only_module

from ragloom.agents.search import read_seed, search_flow
from ragloom.agents.search.flow_parallel import DatasetResources
from ragloom.core import registry
from ragloom.eval.datasets import load_dataset
from ragloom.eval.flow_resources import dataset_resources
from ragloom.scale import LocalExecutor
from ragloom.scale.ray_executor import RayExecutor

QA = Path(__file__).resolve().parents[2] / "examples" / "flows" / "qa.yaml"


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[ModuleType]:
    """The user's ``mycomps.py`` imported here only, under a fresh name no worker can import or know."""
    with driver_only_module(tmp_path) as module:
        yield module


def test_a_driver_only_component_is_proposed_and_scored_on_ray_like_locally(
    ray_cluster, tmp_path: Path, user_module: ModuleType
) -> None:
    tiny = tiny_beir.write_beir(
        tmp_path / "tiny", [d for d in tiny_beir.DOCS if d[0] != "d4"], tiny_beir.QUESTIONS[:3]
    )
    dataset = load_dataset(tiny)
    resources, facts = dataset_resources(dataset, tiny)
    on_workers = DatasetResources(dataset, str(tiny), index_dir=facts["index"])
    # only the user's component and parameter edits in the space: a small search that proposes it early
    others = [e.name for e in registry.searchable() if e.name != NAME]
    runs = {}
    for name, executor in (("local", LocalExecutor(2)), ("ray", RayExecutor(ray_cluster.address, workers=2))):
        outcome = search_flow(
            read_seed(QA), dataset, resources, budget=5, seed=0, exclude=others, executor=executor,
            worker_resources=on_workers,
        )  # fmt: skip
        runs[name] = [(r.data, r.score, r.edits, r.metrics) for r in outcome.records]
    assert runs["ray"] == runs["local"]
    proposed = [(edits, score) for data, score, edits, _ in runs["ray"] if "mycomps" in str(data)]
    assert (("rerank: uses mycomps.rerank.reverse",), 1.0) in proposed  # swapped in, evaluated on the workers
    assert (("insert mycomps.rerank.reverse after retrieve",), 0.0) in proposed  # its ranking upside down
