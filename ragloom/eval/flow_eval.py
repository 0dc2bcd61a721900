"""The one evaluator: run a flow once per question of a dataset, score what the data allows, record it all.

``evaluate_flow(flow, dataset, resources=...)`` compiles the flow (a YAML path, a :class:`~ragloom.flows.Flow`
or a :class:`~ragloom.flows.CompiledFlow`), invokes it per question on a bounded thread pool (LLM clients and
the embedded model release the GIL or hold their own lock), turns each final state into a
:class:`~ragloom.eval.flow_metrics.QuestionCase` through :class:`StateKeys`, scores it with the metric
functions given, and appends one record per question to ``OUT/records.jsonl``. A rerun with the same ``OUT``
skips the questions already recorded (resumable after a kill). A question whose flow raises is recorded as
failed (with the error) and scores as an empty output: failures are counted and listed, never dropped.

``ragloom eval FLOW.yaml --dataset DIR`` and ``ragloom eval DIR --pipeline NAME`` both end here (a retrieval
pipeline is a flow with one retrieve step, :func:`pipeline_flow`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from ragloom.core.errors import ConfigError
from ragloom.core.state_access import read_key
from ragloom.eval.datasets import Dataset, GoldSpan, indexable_documents
from ragloom.eval.flow_metrics import DEFAULT_METRICS, Metric, QuestionCase, scores_of
from ragloom.eval.flow_records import (
    HITS_KEPT,
    RecordWriter,
    context_passages,
    passage_dicts,
    read_records,
    trace_summary,
)
from ragloom.eval.flow_summary import FlowEvalReport, summarize

__all__ = ["FlowEvalReport", "StateKeys", "evaluate_flow", "pipeline_flow", "score_state"]

RECORDS = "records.jsonl"
RUN_META = "run.json"


@dataclass(frozen=True)
class StateKeys:
    """Which state keys the evaluator reads (the flow state contract): the question it writes in, the answer,
    the retrieved ``hits``, the ``context`` the LLM saw (absent: the hits are the context) and ``citations``
    (ids of context passages, as ``llm.generate`` writes them)."""

    question: str = "question"
    answer: str = "answer"
    hits: str = "hits"
    context: str = "context"
    citations: str = "citations"


@dataclass
class _Gold:
    dataset: Dataset
    offsets: dict[str, int] = field(default_factory=dict)

    def spans(self, qid: str) -> list[GoldSpan]:
        """Gold spans shifted onto the indexed text (a title may be prepended, see indexable_documents)."""
        off = self.offsets
        return [
            GoldSpan(s.doc_id, s.start + off.get(s.doc_id, 0), s.end + off.get(s.doc_id, 0))
            for s in self.dataset.spans.get(qid, ())
        ]


def _get(state: Any, key: str) -> Any:
    return None if state is None else read_key(state, key, "evaluator", None)


def score_state(
    qid: str,
    state: Any,
    gold: Dataset,
    metrics: Sequence[Metric] = DEFAULT_METRICS,
    keys: StateKeys = StateKeys(),
    offsets: Mapping[str, int] | None = None,
) -> tuple[QuestionCase, dict[str, float]]:
    """The case a final ``state`` makes for question ``qid`` and its scores (``state`` None: a failed run)."""
    hits = list(_get(state, keys.hits) or [])
    raw_context = _get(state, keys.context)
    answer = _get(state, keys.answer)
    case = QuestionCase(
        qid=qid,
        question=gold.queries.get(qid, ""),
        answer=None if answer is None else str(answer),
        hits=hits,
        context=context_passages(hits if raw_context is None else list(raw_context)),
        citations=[str(c) for c in (_get(state, keys.citations) or [])],
        answers=gold.answers.get(qid, []),
        qrels=gold.qrels.get(qid, {}),
        spans=_Gold(gold, dict(offsets or {})).spans(qid),
    )
    return case, scores_of(case, metrics)


def _compile(flow: Any, allow_imports: Iterable[str]) -> Any:
    from ragloom.flows import CompiledFlow, Flow

    if isinstance(flow, CompiledFlow):
        return flow
    if isinstance(flow, Flow):
        return flow.compile()
    if isinstance(flow, str | Path):
        from ragloom.flows.yaml_io import compile_file

        if not Path(flow).is_file():
            raise ConfigError(f"flow file {str(flow)!r} not found; pass the path of a .yaml flow")
        return compile_file(flow, tuple(allow_imports))
    raise ConfigError(f"evaluate_flow: expected a flow file, Flow or CompiledFlow, got {type(flow).__name__}")


def _fingerprint(compiled: Any, dataset: Dataset) -> dict[str, Any]:
    """What must match for a rerun to reuse recorded questions: the flow's YAML and the dataset's name."""
    try:
        text = compiled.builder.to_yaml()
    except Exception:  # a flow with Python callables has no YAML form; its name is the best we have
        text = compiled.builder.name
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    return {"flow": compiled.builder.name, "flow_sha1": digest, "dataset": dataset.name}


def _check_resume(out: Path, meta: dict[str, Any], resume: bool) -> dict[str, dict[str, Any]]:
    records_path, meta_path = out / RECORDS, out / RUN_META
    if not resume:
        records_path.unlink(missing_ok=True)
    elif meta_path.is_file() and records_path.is_file():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in meta} != meta:
            raise ConfigError(
                f"{out}: holds records of another evaluation ({old.get('flow')!r} on {old.get('dataset')!r}, "
                f"flow sha1 {old.get('flow_sha1')}); pass another output folder or --no-resume to start over"
            )
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return {q: r for q, r in read_records(records_path).items() if r.get("status") == "ok"}


def _invoke(compiled: Any, question: str, keys: StateKeys, resources: Mapping[str, Any]) -> tuple[Any, Any]:
    result = compiled.invoke({keys.question: question}, context=resources)
    return result.state, result.trace


def _record(
    qid: str,
    outcome: tuple[Any, Any] | BaseException,
    gold: Dataset,
    metrics: Sequence[Metric],
    keys: StateKeys,
    offsets: Mapping[str, int],
    seconds: float,
) -> dict[str, Any]:
    state, trace = (None, None) if isinstance(outcome, BaseException) else outcome
    case, scores = score_state(qid, state, gold, metrics, keys, offsets)
    return {
        "id": qid,
        "question": case.question,
        "status": "failed" if isinstance(outcome, BaseException) else "ok",
        "error": f"{type(outcome).__name__}: {outcome}" if isinstance(outcome, BaseException) else None,
        "answer": case.answer,
        "gold_answers": list(case.answers),
        "gold_docs": sorted(d for d, r in case.qrels.items() if r > 0),
        "hits": [{"id": h.id, "doc_id": h.doc_id, "score": float(h.score)} for h in case.hits[:HITS_KEPT]],
        "context": passage_dicts(case.context),
        "citations": list(case.citations),
        "scores": scores,
        "trace": trace_summary(trace) if trace is not None else {"nodes": {}, "ms": 1000.0 * seconds},
        "seconds": seconds,
    }


def evaluate_flow(
    flow: Any,
    dataset: Dataset,
    resources: Mapping[str, Any] | None = None,
    *,
    out_dir: str | Path | None = None,
    resume: bool = True,
    concurrency: int = 4,
    metrics: Sequence[Metric] = DEFAULT_METRICS,
    keys: StateKeys = StateKeys(),
    offsets: Mapping[str, int] | None = None,
    progress: bool = False,
    allow_imports: Iterable[str] = (),
    extra: Mapping[str, Any] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> FlowEvalReport:
    """Run ``flow`` on every question of ``dataset`` (already split/limited) and score it.

    ``resources`` become the run context (``retriever``, ``llm``, ...). ``out_dir``: where records.jsonl,
    summary.json and report.html go (None: nothing is written, nothing resumed). ``offsets``: where each
    document's BEIR text starts in the indexed text (default: after the title, as indexed by the dataset
    resources). ``extra`` is merged into the summary (index facts, cache notes).
    """
    if concurrency < 1:
        raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
    compiled = _compile(flow, allow_imports)
    if offsets is None and dataset.corpus:
        offsets = {d.id: int(d.metadata["body_offset"]) for d in indexable_documents(dataset, True)}
    out = Path(out_dir) if out_dir is not None else None
    meta = _fingerprint(compiled, dataset)
    done = _check_resume(out, meta, resume) if out is not None else {}
    todo = [(q, t) for q, t in dataset.queries.items() if q not in done]
    fresh = _run_all(
        compiled,
        todo,
        dataset,
        dict(resources or {}),
        metrics,
        keys,
        dict(offsets or {}),
        concurrency,
        progress,
        out,
        on_record,
    )
    records = [done.get(q) or fresh[q] for q in dataset.queries if q in done or q in fresh]
    summary = summarize(records, {**meta, "n_resumed": len(done), **dict(extra or {})})
    report = FlowEvalReport(summary, records, out)
    if out is not None:
        report.write(out)
    return report


def _run_all(
    compiled: Any,
    todo: list[tuple[str, str]],
    gold: Dataset,
    resources: dict[str, Any],
    metrics: Sequence[Metric],
    keys: StateKeys,
    offsets: dict[str, int],
    concurrency: int,
    progress: bool,
    out: Path | None,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> dict[str, dict[str, Any]]:
    writer = RecordWriter(out / RECORDS) if out is not None else None
    bar = _bar(len(todo), compiled.builder.name) if progress and todo else None
    fresh: dict[str, dict[str, Any]] = {}

    def one(question: str) -> tuple[tuple[Any, Any] | BaseException, float]:
        started = time.perf_counter()
        try:
            return _invoke(compiled, question, keys, resources), time.perf_counter() - started
        except Exception as e:  # recorded as a failed question, with its error; never dropped
            return e, time.perf_counter() - started

    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ragloom-eval") as pool:
            futures: dict[Future[Any], str] = {pool.submit(one, text): qid for qid, text in todo}
            for future in as_completed(futures):
                qid = futures[future]
                outcome, seconds = future.result()
                record = _record(qid, outcome, gold, metrics, keys, offsets, seconds)
                fresh[qid] = record
                if writer is not None:
                    writer.write(record)
                if on_record is not None:
                    on_record(record)
                if bar is not None:
                    bar.update(1)
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    return fresh


def _bar(total: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"questions ({name})", unit="q")


class _PipelineState(TypedDict):
    question: str
    hits: list[Any]


def pipeline_flow(name: str, top_k: int, resource: str = "retriever") -> Any:
    """A retrieval pipeline as a flow: one ``retrieve`` node asking the run resource ``resource`` (anything
    with ``retrieve(query, k)``) for ``top_k`` hits, written to ``hits``."""
    from ragloom.flows import END, START, Flow, RunContext, node

    @node(takes_context=True)
    def retrieve(state: Any, ctx: RunContext) -> dict[str, Any]:
        retriever = ctx.resources.get(resource)
        if retriever is None:
            raise ConfigError(f"pipeline flow {name!r}: no run resource {resource!r} (the pipeline)")
        return {"hits": retriever.retrieve(state["question"], top_k)}

    flow = Flow(_PipelineState, name=name)
    flow.add_node("retrieve", retrieve)
    flow.add_edge(START, "retrieve")
    flow.add_edge("retrieve", END)
    return flow.compile()
