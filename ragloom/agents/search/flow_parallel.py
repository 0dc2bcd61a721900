"""Candidate evaluation on an executor (``ragloom search --executor ray``): candidates x questions as items.

Each item is one (candidate flow YAML, question id); a worker compiles each candidate once, runs the one
flow evaluator (:func:`ragloom.eval.flow_eval.evaluate_flow`) on that question alone and sends back its
record. The driver puts every candidate's records back in question order and summarises them with the
evaluator's own :func:`~ragloom.eval.flow_summary.summarize`, so a candidate's metrics are those of one local
``evaluate_flow`` over the whole split: the search follows the same trajectory on any executor.

Run resources (indexes, graph, LLM) do not travel: they hold open stores and models. A worker builds them
once (the executor's ``setup``) from a :class:`DatasetResources`: it opens the index folder the driver
already built when that folder is readable there (same machine or a shared filesystem: nothing is
re-embedded, nothing written), else indexes the dataset itself, as
:func:`ragloom.eval.distributed.evaluate_on` does (its vectors from the on-disk embedding cache when warm).
A local executor shares the driver's resources directly.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import Dataset, indexable_documents
from ragloom.scale.executor import Executor, LocalExecutor, first_error

__all__ = ["DatasetResources", "evaluate_on_executor", "kept_workers"]

#: The resources of one worker: built by ``setup`` once per worker.
ResourceFactory = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class DatasetResources:
    """How a worker builds a search's run resources (picklable: it travels to each worker once).

    ``index_dir``: the index the driver built (``facts["index"]`` of
    :func:`~ragloom.eval.files_index.resources_for_dataset`), opened read-only when the worker can see it;
    otherwise ``dataset`` (with its corpus) at ``dataset_path`` or the user's ``index`` is indexed on the
    worker. ``llm``: the arguments of :func:`~ragloom.eval.flow_resources.make_llm` (None: no LLM)."""

    dataset: Dataset
    dataset_path: str
    index: str | None = None
    index_dir: str | None = None
    graph: bool = False
    llm: tuple[str, str | None, str | None] | None = None

    def __call__(self) -> dict[str, Any]:
        from ragloom.eval.files_index import resources_for_dataset
        from ragloom.eval.flow_resources import index_resources, make_llm

        if self.index_dir is not None and Path(self.index_dir).is_dir():
            resources = index_resources(self.index_dir)[0]
        else:
            source = (self.dataset, self.dataset_path, self.index)
            resources = resources_for_dataset(*source, graph=self.graph)[0]
        llm = make_llm(*self.llm) if self.llm is not None else None
        if llm is not None:
            resources["llm"] = llm
        return resources


@dataclass
class _WorkerState:
    """A worker's resources and the candidates it has compiled (by YAML text)."""

    resources: dict[str, Any]
    flows: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def compiled(self, text: str) -> Any:
        with self.lock:
            if text not in self.flows:
                from ragloom.flows.yaml_io import load_flow

                self.flows[text] = load_flow(text).compile()
            return self.flows[text]


def _state(make: ResourceFactory) -> _WorkerState:
    return _WorkerState(dict(make()))


def _shared(resources: Mapping[str, Any]) -> Mapping[str, Any]:
    return resources


def _one(
    dataset: Dataset, offsets: dict[str, int], state: _WorkerState, item: tuple[str, str]
) -> dict[str, Any]:
    """The evaluator's record of one candidate on one question."""
    from ragloom.eval.flow_eval import evaluate_flow

    text, qid = item
    question = dataset.with_queries([qid])
    report = evaluate_flow(state.compiled(text), question, state.resources, concurrency=1, offsets=offsets)
    return report.records[0]


def _offsets(dataset: Dataset) -> dict[str, int]:
    """What :func:`evaluate_flow` computes per call (where each document's text starts), computed once."""
    if not dataset.corpus:
        return {}
    return {d.id: int(d.metadata["body_offset"]) for d in indexable_documents(dataset, True)}


def evaluate_on_executor(
    flows: Sequence[str],
    dataset: Dataset,
    resources: Mapping[str, Any],
    executor: Executor | None = None,
    worker_resources: ResourceFactory | None = None,
    concurrency: int = 4,
) -> list[dict[str, Any]]:
    """The evaluator's summary of each flow (YAML text) on ``dataset``, every (flow, question) an item of
    ``executor`` (default: ``concurrency`` local threads sharing ``resources``). A remote executor needs
    ``worker_resources`` (e.g. a :class:`DatasetResources`); an item that failed there fails the call."""
    from ragloom.eval.flow_summary import summarize

    runner = executor if executor is not None else LocalExecutor(concurrency)
    if runner.name == "local":
        make: ResourceFactory = functools.partial(_shared, resources)
    elif worker_resources is None:
        raise ConfigError(
            f"evaluating candidates on executor {runner.name!r} needs worker_resources (how a worker builds "
            "the run resources, e.g. DatasetResources(dataset, dataset_path, index_dir=...))"
        )
    else:
        make = worker_resources
    qids = list(dataset.queries)
    items = [(text, qid) for text in flows for qid in qids]
    gold = replace(dataset, corpus={})  # scoring reads the questions' gold only: the corpus need not travel
    fn = functools.partial(_one, gold, _offsets(dataset))
    records = first_error(runner.map(fn, items, setup=functools.partial(_state, make)))
    n = len(qids)
    return [summarize(records[i * n : (i + 1) * n], {}) for i in range(len(flows))]


@contextlib.contextmanager
def kept_workers(executor: Executor | None) -> Iterator[None]:
    """Keep a Ray executor's actors (and the resources they built) alive across the search's many maps,
    then free them: a search is one setup per worker, not one per MCTS step."""
    if executor is None or not hasattr(executor, "keep_workers"):
        yield
        return
    before = executor.keep_workers
    executor.keep_workers = True
    try:
        yield
    finally:
        executor.keep_workers = before
        if not before:
            executor.close()  # type: ignore[attr-defined]
