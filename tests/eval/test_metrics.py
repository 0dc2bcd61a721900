"""Metrics against pytrec_eval (what BEIR reports) on a fixture, plus span-hit, own-id and SQuAD EM/F1."""

from __future__ import annotations

import random

import pytest
import pytrec_eval

from ragloom.core.types import Chunk, Hit
from ragloom.eval.datasets import GoldSpan
from ragloom.eval.metrics import (
    doc_scores,
    drop_own_id,
    exact_match,
    mrr,
    ndcg_at_k,
    rank,
    recall_at_k,
    span_hit_at_k,
    token_f1,
)


def _fixture(seed: int = 7) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """Random graded qrels and runs with score ties, unjudged and zero-judged documents."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(40)]
    qrels: dict[str, dict[str, int]] = {}
    runs: dict[str, dict[str, float]] = {}
    for q in range(30):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in judged}
        retrieved = rng.sample(docs, rng.randint(0, 25))
        runs[qid] = {d: float(rng.randint(0, 6)) for d in retrieved}  # coarse scores: many ties
    return qrels, runs


def test_metrics_match_pytrec_eval_on_fixture() -> None:
    qrels, runs = _fixture()
    measures = {"ndcg_cut.1,3,10", "recall.5,10", "recip_rank"}
    expected = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(runs)
    for qid, want in expected.items():
        ranked = rank(runs[qid])
        for k in (1, 3, 10):
            assert ndcg_at_k(ranked, qrels[qid], k) == pytest.approx(want[f"ndcg_cut_{k}"], abs=1e-9), (
                qid,
                k,
            )
        for k in (5, 10):
            assert recall_at_k(ranked, qrels[qid], k) == pytest.approx(want[f"recall_{k}"], abs=1e-9), (
                qid,
                k,
            )
        assert mrr(ranked, qrels[qid]) == pytest.approx(want["recip_rank"], abs=1e-9), qid


def test_metric_edge_cases() -> None:
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # no positive judgement
    assert recall_at_k(["a", "b"], {"b": 1, "c": 1}, 1) == 0.0
    assert recall_at_k(["a", "b"], {"b": 1, "c": 1}, 2) == 0.5  # HippoRAG R@k: share of supporting passages
    assert mrr(["a", "b", "c"], {"c": 2}) == pytest.approx(1 / 3)
    assert mrr(["a", "b", "c"], {"c": 2}, k=2) == 0.0


def _hit(doc: str, start: int, end: int, score: float) -> Hit:
    return Hit(Chunk("x" * (end - start), doc, start, end), score)


def test_doc_scores_take_the_max_over_chunks_and_own_id_is_dropped() -> None:
    hits = [_hit("a", 0, 5, 0.2), _hit("b", 0, 5, 0.5), _hit("a", 5, 9, 0.9), _hit("q1", 0, 3, 1.0)]
    scores = doc_scores(hits)
    assert scores == {"a": 0.9, "b": 0.5, "q1": 1.0}
    assert rank(drop_own_id(scores, "q1")) == ["a", "b"]


def test_span_hit_needs_the_whole_span_inside_one_chunk() -> None:
    gold = [GoldSpan("a", 10, 20)]
    assert span_hit_at_k([_hit("a", 0, 20, 1.0)], gold, 1) == 1.0
    assert span_hit_at_k([_hit("a", 0, 15, 1.0)], gold, 1) == 0.0  # partial overlap is a miss
    assert span_hit_at_k([_hit("b", 0, 50, 1.0)], gold, 1) == 0.0  # right range, wrong document
    ranked = [_hit("a", 30, 60, 1.0), _hit("a", 5, 25, 0.5)]
    assert span_hit_at_k(ranked, gold, 1) == 0.0
    assert span_hit_at_k(ranked, gold, 2) == 1.0
    assert span_hit_at_k(ranked, [GoldSpan("b", 0, 1), *gold], 2) == 1.0  # any of several gold spans


def test_squad_exact_match_and_f1() -> None:
    assert exact_match("The Denver Broncos!", ["Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    assert token_f1("Denver Broncos", ["Denver Broncos", "Broncos"]) == 1.0
    assert token_f1("the Denver team", ["Denver Broncos"]) == pytest.approx(0.5)
    assert token_f1("", ["Denver"]) == 0.0
    assert token_f1("", [""]) == 1.0
