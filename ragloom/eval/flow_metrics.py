"""Metrics of one flow run on one question: pure functions over a :class:`QuestionCase`.

A metric is any ``Callable[[QuestionCase], dict[str, float]]``; it returns only the scores the question's gold
data allows (no answers.jsonl: no EM/F1; no qrels: no support recall), so a mean over questions is a mean over
the questions a metric applies to. :data:`DEFAULT_METRICS` is what ``ragloom eval FLOW.yaml`` reports;
other rooms add their own metric functions to the tuple they pass to the evaluator.

What the metrics read (the flow state contract, see :class:`ragloom.eval.flow_eval.StateKeys`):

- ``answer``: the final answer text (EM and token F1, SQuAD normalisation);
- ``hits``: the retrieved hits (support recall@k / nDCG@10 over documents, span-hit@k);
- ``context``: what the LLM saw (answer-in-context, answer@512 and answer-early@512, context support recall,
  context span-hit);
  a flow without ``context`` is scored on its ``hits``;
- ``citations``: ids of the context passages the answer cites (citation correctness).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from ragloom.core.types import Hit
from ragloom.eval.datasets import GoldSpan
from ragloom.eval.metrics import (
    doc_scores,
    drop_own_id,
    exact_match,
    mrr,
    ndcg_at_k,
    normalize_answer,
    rank,
    recall_at_k,
    span_hit_at_k,
    token_f1,
)

__all__ = [
    "DEFAULT_METRICS",
    "RETRIEVAL_METRICS",
    "ContextPassage",
    "Metric",
    "QuestionCase",
    "answer_at_512",
    "answer_in_context",
    "answer_scores",
    "canonical_doc_id",
    "citation_scores",
    "context_support",
    "retrieval_scores",
    "span_scores",
    "support_scores",
]

SUPPORT_KS = (2, 5, 10)
#: answer@B's budget: the documents benchmark's headline budget (``ragloom eval`` on files reports it too).
ANSWER_BUDGET = 512
#: The budgets answer-early@512 averages answer@B over (the last one is answer@512 itself).
EARLY_BUDGETS = (128, 256, 384, ANSWER_BUDGET)
SPAN_KS = (1, 5, 10)
RECALL_KS = (2, 5, 10, 100)


@dataclass(frozen=True)
class ContextPassage:
    """One passage the LLM saw: its id, document id, text, span in the document, and its location label
    (``R-intro.pdf p. 42, § 5.1 Arrays``): a citation names a passage by either (``llm.generate`` cites ids,
    or locations with ``cite: location``). ``share``: the part of the retrieved passage it keeps (1.0; less
    for a fragment a compressing selector cut, see :func:`support_scores`)."""

    id: str
    doc_id: str
    text: str
    start: int = -1
    end: int = -1
    label: str = ""
    share: float = 1.0


@dataclass(frozen=True)
class QuestionCase:
    """A question's gold data and what the flow produced for it (``answer`` None: the flow wrote none)."""

    qid: str
    question: str
    answer: str | None = None
    hits: Sequence[Hit] = ()
    context: Sequence[ContextPassage] = ()
    citations: Sequence[str] = ()
    answers: Sequence[str] = ()
    qrels: dict[str, int] = field(default_factory=dict)
    spans: Sequence[GoldSpan] = ()


Metric = Callable[[QuestionCase], dict[str, float]]


def canonical_doc_id(doc_id: str, gold: set[str] | dict[str, int]) -> str:
    """``doc_id`` as the gold data names it: itself, or its file name when the gold names files (an index
    built from a folder keeps paths, BEIR qrels of document sets such as docs-a name ``limits.html``)."""
    if doc_id in gold:
        return doc_id
    name = PurePath(doc_id).name
    return name if name in gold else doc_id


def answer_scores(case: QuestionCase) -> dict[str, float]:
    """EM and token F1 of the answer against every gold answer (max), when answers.jsonl has the question."""
    if not case.answers:
        return {}
    answer = case.answer or ""
    return {"EM": exact_match(answer, case.answers), "F1": token_f1(answer, case.answers)}


def answer_in_context(case: QuestionCase) -> dict[str, float]:
    """1.0 when a normalised gold answer occurs in the normalised text of the context the LLM saw."""
    if not case.answers:
        return {}
    text = f" {normalize_answer(' '.join(p.text for p in case.context))} "
    golds = [normalize_answer(a) for a in case.answers]
    return {"answer-in-context": float(any(g and f" {g} " in text for g in golds))}


def answer_at_512(case: QuestionCase) -> dict[str, float]:
    """answer@512: the canonical gold answer (``answers[0]``) occurs in the context the LLM saw, pasted in
    order and cut at 512 tokens of the budget tokenizer (the one the selectors count in).

    The same function as the files harness's answer@B (:func:`ragloom.eval.answers.answer_at_budget`), applied
    to the flow's final context, so a flow that pastes more text cannot buy recall: it is cut like any other.

    Also ``answer-early@512``: the mean of answer@B over B = 128, 256, 384, 512, a finer measure of the same
    thing (1.0: the answer is in the first 128 tokens; 0.25: only in the last 128 of the 512). On a small
    question set answer@512 ties between many flows; this separates them by how early the answer comes,
    which is what a reader, or an LLM reading a long prompt, profits from.
    """
    if not case.answers:
        return {}
    from ragloom.eval.answers import answer_at_budgets
    from ragloom.retrieval.select.base import resolve_token_counter

    texts = [p.text for p in case.context]
    found = answer_at_budgets(texts, case.answers, EARLY_BUDGETS, resolve_token_counter(None))
    return {f"answer@{ANSWER_BUDGET}": found[-1], f"answer-early@{ANSWER_BUDGET}": sum(found) / len(found)}


def _ranked_docs(doc_ids: Sequence[str], qid: str, qrels: dict[str, int]) -> list[str]:
    docs = [canonical_doc_id(d, qrels) for d in dict.fromkeys(doc_ids)]
    return [d for d in dict.fromkeys(docs) if d != qid]


def support_scores(case: QuestionCase) -> dict[str, float]:
    """Supporting-document recall@k and nDCG@10 of the hits, and recall of the context, from the qrels."""
    if not case.qrels:
        return {}
    ranked = _ranked_docs([h.doc_id for h in case.hits], case.qid, case.qrels)
    out = {f"support-R@{k}": recall_at_k(ranked, case.qrels, k) for k in SUPPORT_KS}
    out["nDCG@10"] = ndcg_at_k(ranked, case.qrels, 10)
    out["context-support-R"] = context_support(case)
    return out


def context_support(case: QuestionCase) -> float:
    """Recall of the relevant documents in the context; a document seen only through fragments (passages
    with ``share`` < 1, e.g. ``select.sentences``' sentence runs) counts for the share of its passages they
    keep, capped at 1: one sentence of a passage need not hold what the document supports the answer with.
    Whole passages count fully, so a flow of whole chunks scores exactly its plain recall."""
    relevant = {d for d, r in case.qrels.items() if r > 0}
    if not relevant:
        return 0.0
    seen: dict[str, float] = {}
    for p in case.context:
        doc = canonical_doc_id(p.doc_id, case.qrels)
        if doc != case.qid:
            seen[doc] = min(1.0, seen.get(doc, 0.0) + max(0.0, min(1.0, p.share)))
    return sum(seen.get(d, 0.0) for d in relevant) / len(relevant)


def _covers(passage: ContextPassage, span: GoldSpan) -> bool:
    return passage.doc_id == span.doc_id and passage.start <= span.start and span.end <= passage.end


def span_scores(case: QuestionCase) -> dict[str, float]:
    """span-hit@k of the hits and whether a context passage contains a gold span (spans.jsonl)."""
    if not case.spans:
        return {}
    out = {f"span-hit@{k}": span_hit_at_k(case.hits, case.spans, k) for k in SPAN_KS}
    out["context-span-hit"] = float(any(_covers(p, s) for p in case.context for s in case.spans))
    return out


def citation_scores(case: QuestionCase) -> dict[str, float]:
    """Share of cited passages that hold a gold answer or come from a gold document (0 cited: no score).

    A citation naming no passage of the context counts as wrong: the answer points at nothing the LLM saw.
    """
    if not case.citations or not (case.answers or case.qrels):
        return {}
    by_id = {p.label: p for p in case.context if p.label}
    by_id.update({p.id: p for p in case.context})  # an id wins over a location shared by several passages
    golds = [g for g in (normalize_answer(a) for a in case.answers) if g]
    relevant = {d for d, r in case.qrels.items() if r > 0}
    correct = 0
    for cited in case.citations:
        passage = by_id.get(str(cited))
        if passage is None:
            continue
        text = f" {normalize_answer(passage.text)} "
        in_gold_doc = canonical_doc_id(passage.doc_id, relevant) in relevant
        correct += in_gold_doc or any(f" {g} " in text for g in golds)
    return {"citation-correct": correct / len(case.citations)}


def retrieval_scores(case: QuestionCase) -> dict[str, float]:
    """The retrieval pipelines' metrics (``ragloom eval --pipeline``): nDCG@10, MRR@10, R@k over documents
    ranked by their best chunk score, span-hit@k over chunks."""
    out: dict[str, float] = {}
    if case.qrels:
        ranked = rank(drop_own_id(doc_scores(case.hits), case.qid))
        out["nDCG@10"] = ndcg_at_k(ranked, case.qrels, 10)
        out["MRR@10"] = mrr(ranked, case.qrels, 10)
        for k in RECALL_KS:
            out[f"R@{k}"] = recall_at_k(ranked, case.qrels, k)
    if case.spans:
        for k in SPAN_KS:
            out[f"span-hit@{k}"] = span_hit_at_k(case.hits, case.spans, k)
    return out


def scores_of(case: QuestionCase, metrics: Sequence[Metric]) -> dict[str, float]:
    """Every metric's scores for one question (a later metric overrides an earlier one's same name)."""
    out: dict[str, float] = {}
    for metric in metrics:
        out.update(metric(case))
    return out


DEFAULT_METRICS: tuple[Metric, ...] = (
    answer_scores,
    answer_in_context,
    answer_at_512,
    support_scores,
    span_scores,
    citation_scores,
)
RETRIEVAL_METRICS: tuple[Metric, ...] = (retrieval_scores,)
