"""Scoring candidates: run each candidate flow on the dev queries (with repeats), measure score and cost.

:class:`DatasetScorer` compiles a candidate, invokes it per query with the shared resources
(``context={"search": SearchResources, "llm": llm}``) and scores the final context (``context`` after a
select step, else ``hits``) or the answer. Cost comes from the flow traces: LLM tokens, dollars and calls,
wall time per query, plus ``retrieval_calls`` (base retriever/reranker calls a query needs, counted from
the flow, so it does not depend on what the cache already held). Candidates of one batch run concurrently
(asyncio over threads; LLM clients release the GIL while waiting).

Anything with ``score(candidates) -> list[Evaluation]`` is a :class:`Scorer`; tests pass a Fake one.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ragloom.agents.search.build import compile_candidate, final_key
from ragloom.agents.search.space import PARALLEL, Candidate, SearchSpace, Step
from ragloom.core.errors import ConfigError
from ragloom.core.types import Hit

__all__ = ["METRICS", "DatasetScorer", "Evaluation", "Scorer", "metric_of", "retrieval_calls"]

_METRIC = re.compile(r"(recall|ndcg|mrr|span-hit)@(\d+)\Z|(em|f1)\Z")
METRICS = ("recall@K", "ndcg@K", "mrr@K", "span-hit@K", "em", "f1")


@dataclass
class Evaluation:
    """A candidate's dev score (mean over repeats), the per-repeat scores, its cost and failed examples.
    ``per_query``: each query's score (mean over repeats, dataset order), for confidence bounds on the
    score when choosing the final flow (:mod:`.final`)."""

    score: float
    repeats: list[float]
    cost: dict[str, float] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    per_query: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        return cls(**data)


class Scorer(Protocol):
    """Scores a batch of candidates (one Evaluation each, same order)."""

    def score(self, candidates: Sequence[Candidate]) -> list[Evaluation]: ...


def metric_of(name: str) -> tuple[str, int]:
    """Parse ``recall@5`` / ``ndcg@10`` / ``mrr@10`` / ``span-hit@5`` / ``em`` / ``f1``."""
    m = _METRIC.match(name.lower())
    if m is None:
        raise ConfigError(f"unknown metric {name!r}; use one of {', '.join(METRICS)} (K a number)")
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), 0)


def retrieval_calls(candidate: Candidate) -> float:
    """Base retriever and reranker calls one query costs (hybrid = 2; graph = its hybrid seeds + the walk = 3;
    multihop = one retrieval per seed)."""
    total = 0.0
    for step in candidate.steps:
        total += _step_calls(step)
    return total


_METHOD_CALLS = {"hybrid": 2.0, "graph": 3.0}


def _step_calls(step: Step) -> float:
    p = step.kwargs
    per = _METHOD_CALLS.get(str(p.get("method")), 1.0)
    if step.op == PARALLEL:
        return sum(_step_calls(a) for a in step.arms)
    if step.op == "retrieve":
        return per
    if step.op == "multihop":
        return per * float(p.get("seeds", 1))
    if step.op in ("prf", "rerank"):
        return per if step.op == "prf" else 1.0
    return 0.0


def ranked_docs(hits: Sequence[Hit], query_id: str) -> list[str]:
    """Documents in the order the flow put them (first chunk wins), the query's own id dropped (BEIR)."""
    return [d for d in dict.fromkeys(h.doc_id for h in hits) if d != query_id]


class DatasetScorer:
    """Score candidates of ``space`` on a :class:`ragloom.eval.datasets.Dataset` split with ``metric``."""

    def __init__(
        self,
        space: SearchSpace,
        dataset: Any,
        resources: Any,
        metric: str = "recall@5",
        repeats: int = 1,
        llm: Any = None,
        concurrency: int = 4,
        failures: int = 3,
        executor: str = "asyncio",
    ) -> None:
        self.space, self.dataset, self.resources = space, dataset, resources
        self.metric, self.k = metric_of(metric)
        self.metric_name = metric
        self.repeats, self.llm, self.concurrency, self.n_failures = repeats, llm, concurrency, failures
        if executor not in ("asyncio", "ray"):
            raise ConfigError(f"executor must be 'asyncio' or 'ray', got {executor!r}")
        self.executor = executor
        if self.metric in ("em", "f1") and not dataset.answers:
            raise ConfigError(
                f"metric {metric!r} needs answers.jsonl in the dataset; use recall@5 or ndcg@10"
            )
        self.offsets = {d.id: int(d.metadata.get("body_offset", 0)) for d in resources.documents.values()}

    # -- per query ------------------------------------------------------------------------------------------
    def query_score(self, qid: str, state: Any, key: str) -> float:
        from ragloom.eval import metrics as m
        from ragloom.eval.datasets import GoldSpan

        if self.metric in ("em", "f1"):
            fn = m.exact_match if self.metric == "em" else m.token_f1
            return fn(str(state.answer), self.dataset.answers.get(qid, []))
        hits = list(getattr(state, key))
        if self.metric == "span-hit":
            spans = [
                GoldSpan(
                    s.doc_id, s.start + self.offsets.get(s.doc_id, 0), s.end + self.offsets.get(s.doc_id, 0)
                )
                for s in self.dataset.spans.get(qid, ())
            ]
            return m.span_hit_at_k(hits, spans, self.k)
        ranked, qrels = ranked_docs(hits, qid), self.dataset.qrels.get(qid, {})
        if self.metric == "recall":
            return m.recall_at_k(ranked, qrels, self.k)
        return m.ndcg_at_k(ranked, qrels, self.k) if self.metric == "ndcg" else m.mrr(ranked, qrels, self.k)

    # -- per candidate --------------------------------------------------------------------------------------
    def evaluate(self, candidate: Candidate) -> Evaluation:
        started = time.perf_counter()
        try:
            compiled = compile_candidate(candidate, self.space)
        except ConfigError as e:
            return Evaluation(0.0, [], {}, [], 0.0, str(e))
        key = final_key(candidate, self.space)
        context = {"search": self.resources, "llm": self.llm}
        repeats: list[float] = []
        tokens = usd = calls = latency = 0.0
        worst: list[tuple[float, str]] = []
        per_query = dict.fromkeys(self.dataset.queries, 0.0)
        for _ in range(self.repeats):
            total = 0.0
            for qid, question in self.dataset.queries.items():
                result = compiled.invoke({"question": question}, context=context)
                score = self.query_score(qid, result.state, key)
                usage = result.trace.usage
                tokens += usage.prompt_tokens + usage.completion_tokens
                usd, calls = usd + usage.cost_usd, calls + usage.calls
                latency += result.trace.duration
                total += score
                per_query[qid] += score / self.repeats
                worst.append((score, qid))
            repeats.append(total / max(len(self.dataset.queries), 1))
        n = max(len(self.dataset.queries) * self.repeats, 1)
        cost = {
            "tokens": tokens / n,
            "usd": usd / n,
            "llm_calls": calls / n,
            "latency_ms": 1000.0 * latency / n,
            "retrieval_calls": retrieval_calls(candidate),
            "total_tokens": tokens,
            "total_usd": usd,
        }
        failures = [
            {"id": qid, "question": self.dataset.queries[qid], "score": s}
            for s, qid in sorted(worst)[: self.n_failures]
        ]
        seconds = time.perf_counter() - started
        return Evaluation(
            sum(repeats) / len(repeats), repeats, cost, failures, seconds, per_query=list(per_query.values())
        )

    def score(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        """Evaluate a batch concurrently (asyncio over worker threads, at most ``concurrency`` at once)."""
        if self.executor == "ray" and len(candidates) > 1:
            return ray_score(self, candidates)
        if len(candidates) <= 1 or self.concurrency <= 1:
            return [self.evaluate(c) for c in candidates]
        return asyncio.run(self._score_all(candidates))

    async def _score_all(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(c: Candidate) -> Evaluation:
            async with gate:
                return await asyncio.to_thread(self.evaluate, c)

        return list(await asyncio.gather(*(one(c) for c in candidates)))


def ray_score(scorer: DatasetScorer, candidates: Sequence[Candidate]) -> list[Evaluation]:
    """Evaluate candidates as Ray tasks (``pip install ray``); the scorer is shipped to each worker once."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            "executor 'ray' needs Ray: pip install ray (or use the default asyncio executor)"
        ) from e
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, log_to_driver=False)
    ref = ray.put(scorer)
    task: Any = ray.remote(lambda s, c: s.evaluate(c))
    return list(ray.get([task.remote(ref, c) for c in candidates]))
