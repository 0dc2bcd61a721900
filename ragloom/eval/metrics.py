"""Retrieval and QA metrics as pure functions over ranked ids, relevance judgements and gold spans.

Conventions follow trec_eval / pytrec_eval (what BEIR reports), checked against pytrec_eval in the tests:

- a *run* for one query is ``{doc_id: score}``; ranking is by score descending, ties broken by doc id
  descending (trec_eval's order), see :func:`rank`;
- nDCG@k uses linear gains (the judgement value) and a log2(rank + 1) discount (Järvelin & Kekäläinen, 2002);
  the ideal ranking is built from all positive judgements;
- Recall@k counts judgements > 0; MRR is the reciprocal rank of the first relevant document (0 when none);
- HippoRAG's Recall@2/@5 (Gutiérrez et al., 2024) is Recall@k over a question's supporting passages, i.e.
  the same function, reported under ``R@2``/``R@5`` for multi-hop sets;
- chunk hits become document scores by taking the max over a document's chunks (:func:`doc_scores`);
- BEIR drops a result whose id equals the query's id (:func:`drop_own_id`), which matters on corpora that
  contain the queries (ArguAna, Quora);
- span-hit@k: 1 when one of the top-k chunks' character ranges contains a gold answer span;
- EM and token F1 use SQuAD v1.1's answer normalisation (Rajpurkar et al., 2016), max over gold answers.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from ragloom.core.types import Hit
from ragloom.eval.datasets import GoldSpan

__all__ = [
    "doc_scores",
    "drop_own_id",
    "exact_match",
    "mean",
    "mrr",
    "ndcg_at_k",
    "normalize_answer",
    "rank",
    "recall_at_k",
    "span_hit_at_k",
    "token_f1",
]


def rank(run: Mapping[str, float]) -> list[str]:
    """Doc ids by score descending, ties by id descending (trec_eval's order: results match pytrec_eval)."""
    return [d for d, _ in sorted(run.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def doc_scores(hits: Iterable[Hit]) -> dict[str, float]:
    """Document scores from chunk hits: the max over each document's chunks."""
    scores: dict[str, float] = {}
    for hit in hits:
        if hit.doc_id not in scores or hit.score > scores[hit.doc_id]:
            scores[hit.doc_id] = float(hit.score)
    return scores


def drop_own_id(run: Mapping[str, float], query_id: str) -> dict[str, float]:
    """BEIR's rule: a document with the query's own id is never counted as a result."""
    return {d: s for d, s in run.items() if d != query_id}


def ndcg_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains; 0.0 when the query has no positive judgement."""
    ideal = sorted((r for r in qrels.values() if r > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    dcg = sum(max(qrels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    return dcg / idcg


def recall_at_k(ranked: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """Fraction of the relevant documents (judgement > 0) in the top ``k``; 0.0 when none is relevant."""
    relevant = {d for d, r in qrels.items() if r > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def mrr(ranked: Sequence[str], qrels: Mapping[str, int], k: int | None = None) -> float:
    """Reciprocal rank of the first relevant document in the top ``k`` (all when None); 0.0 when absent."""
    for i, d in enumerate(ranked if k is None else ranked[:k]):
        if qrels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def span_hit_at_k(hits: Sequence[Hit], spans: Sequence[GoldSpan], k: int) -> float:
    """1.0 when one of the top-``k`` chunks (in the order given) contains a gold span entirely, else 0.0."""
    for hit in hits[:k]:
        chunk = hit.chunk
        for span in spans:
            if chunk.doc_id == span.doc_id and chunk.start <= span.start and span.end <= chunk.end:
                return 1.0
    return 0.0


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in answers))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token-level F1, max over gold answers; 0.0 when there is no answer."""
    pred = normalize_answer(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalize_answer(answer).split()
        if not pred or not gold:
            best = max(best, float(pred == gold))
            continue
        common = sum((Counter(pred) & Counter(gold)).values())
        if common:
            precision, recall = common / len(pred), common / len(gold)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values (a metric over zero queries is reported as 0, not NaN)."""
    items = list(values)
    return sum(items) / len(items) if items else 0.0
