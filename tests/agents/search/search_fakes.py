"""Shared pieces of the workflow-search tests: spaces and a Fake scorer (the search's collaborator)."""

from __future__ import annotations

from collections.abc import Sequence

from ragloom.agents.search import Candidate, Evaluation
from ragloom.agents.search.space import space_from_dict

TINY_SPACE = {
    "seed": [{"op": "retrieve", "with": {"method": "bm25", "k": 5}}],
    "operators": {
        "retrieve": {
            "params": {
                "method": {"choices": ["bm25", "dense", "hybrid"]},
                "k": {"int": [5, 20], "step": 5},
                "fusion": {"choices": ["rrf"]},
                "weight": {"choices": [0.5]},
                "normalization": {"choices": ["minmax"]},
            }
        },
        "multihop": {
            "params": {
                "method": {"choices": ["hybrid"]},
                "link": {"choices": ["mention"]},
                "seeds": {"int": [1, 3]},
                "keep": {"choices": [2]},
                "per_hop": {"choices": [10]},
            }
        },
    },
    "branches": {"allow": False},
}

FULL_SPACE = {
    "seed": [{"op": "retrieve", "with": {"method": "hybrid", "k": 5}}],
    "operators": {
        name: {}
        for name in (
            "rewrite",
            "decompose",
            "retrieve",
            "multihop",
            "prf",
            "rerank",
            "select",
            "generate",
            "ensemble",
            "review",
            "format",
        )
    },
}


def tiny_space():  # type: ignore[no-untyped-def]
    return space_from_dict(TINY_SPACE)


def full_space():  # type: ignore[no-untyped-def]
    return space_from_dict(FULL_SPACE)


def synthetic_score(c: Candidate) -> float:
    """Unique optimum: hybrid, k=10, multihop with 3 seeds (score 1.1)."""
    retrieve = dict(c.steps[0].params)
    score = {"bm25": 0.2, "dense": 0.25, "hybrid": 0.4}[retrieve["method"]] - 0.05 * abs(
        retrieve["k"] - 10
    ) / 5
    hop = [dict(s.params) for s in c.steps if s.op == "multihop"]
    if hop:
        score += 0.4 + 0.1 * hop[0]["seeds"] - 0.1
    return round(score + 0.1, 6)


class FakeScorer:
    """Deterministic scorer collaborator; counts calls and can 'die' after ``fail_after`` evaluations."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def score(self, candidates: Sequence[Candidate]) -> list[Evaluation]:
        out = []
        for c in candidates:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            out.append(
                Evaluation(
                    synthetic_score(c),
                    [synthetic_score(c)],
                    {"retrieval_calls": float(len(c.steps)), "total_tokens": 100.0},
                )
            )
        return out
