"""Reranker conformance (k respected, sorted, empty in → empty out) and order sanity on a tiny real case."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Reranker
from ragloom.core.types import Completion, Hit, Message, Usage
from ragloom.retrieval.rerankers import (
    CollaborativeReranker,
    CrossEncoderReranker,
    LLMReranker,
    MaxSimReranker,
)
from ragloom.retrieval.rerankers.llm import parse_relevance
from ragloom.retrieval.rerankers.scoring import collaborative_scores, lexical_similarity, maxsim

QUERY = "What is the capital of France?"
# a deliberately bad first-stage order: the answer comes last
FIRST_STAGE = [("tax", 4.0), ("berlin", 3.0), ("cats", 2.5), ("everest", 2.0), ("paris", 1.0)]


@pytest.fixture
def candidates(tiny_chunks) -> list[Hit]:
    by_doc = {c.doc_id: c for c in tiny_chunks}
    return [Hit(by_doc[d], s, "first") for d, s in FIRST_STAGE]


class FakeLLM:
    """A stand-in LLM that judges a passage relevant when it mentions Paris; records what it was asked."""

    model = "fake-judge"

    def __init__(self, style: str = "yesno") -> None:
        self.style = style
        self.prompts: list[str] = []

    def _answer(self, messages: Sequence[Message]) -> str:
        prompt = messages[-1].content
        self.prompts.append(prompt)
        passage = prompt.split("Passage:", 1)[1]
        hit = "Paris" in passage
        if self.style == "yesno":
            return "Yes." if hit else "No"
        return "Relevance: 9/10" if hit else "2"

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return Completion(self._answer(messages), Usage(10, 1, 0.0, 1), model=self.model)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        return self.complete(messages, **options)

    def stream(self, messages, **options):
        yield self._answer(messages)

    async def astream(self, messages, **options):
        yield self._answer(messages)


def check_reranker_contract(reranker: Reranker, hits: list[Hit]) -> list[Hit]:
    assert isinstance(reranker, Reranker)
    assert reranker.rerank(QUERY, [], 3) == []
    full = reranker.rerank(QUERY, hits)
    assert sorted(h.id for h in full) == sorted(h.id for h in hits)
    scores = [h.score for h in full]
    assert scores == sorted(scores, reverse=True)
    for k in (0, 1, 3, 10):
        top = reranker.rerank(QUERY, hits, k)
        assert len(top) == min(k, len(hits))
        assert [h.id for h in top] == [h.id for h in full[:k]]
    return full


@pytest.mark.slow
def test_maxsim_puts_the_answer_first(candidates, embedder):
    reranker = MaxSimReranker(embedder)
    ranked = check_reranker_contract(reranker, candidates)
    assert ranked[0].doc_id == "paris"
    assert ranked[0].source == "maxsim"
    computed = reranker.computed
    reranker.rerank(QUERY, candidates)
    assert reranker.computed == computed  # document token vectors come from the cache


@pytest.mark.slow
def test_maxsim_shared_by_threads_with_a_tiny_cache_ranks_as_alone(candidates, embedder):
    """Parallel flow runs share one reranker; a cache smaller than the candidates evicts constantly."""
    from concurrent.futures import ThreadPoolExecutor

    queries = ["What is the capital of France?", "Who wrote the novel?", "When did it happen?"] * 4
    alone = {q: [h.id for h in MaxSimReranker(embedder).rerank(q, candidates)] for q in set(queries)}
    shared = MaxSimReranker(embedder, cache_size=2)
    with ThreadPoolExecutor(6) as pool:
        ranked = list(pool.map(lambda q: [h.id for h in shared.rerank(q, candidates)], queries))
    assert ranked == [alone[q] for q in queries]


def test_collaborative_moves_the_answer_up(candidates, embedder):
    ranked = [h.doc_id for h in check_reranker_contract(CollaborativeReranker(embedder), candidates)]
    assert ranked.index("paris") <= 2  # up from last (the first-stage score still counts)
    assert set(ranked[-2:]) == {"cats", "everest"}  # off-topic candidates sink
    query_only = CollaborativeReranker(embedder, first_weight=0.0, collab_weight=0.0)
    assert query_only.rerank(QUERY, candidates, 1)[0].doc_id == "paris"


def test_llm_reranker_yesno_and_score(candidates):
    for style in ("yesno", "score"):
        llm = FakeLLM(style)
        ranked = check_reranker_contract(LLMReranker(llm, mode=style), candidates)
        assert ranked[0].doc_id == "paris"
        # ties keep the first-stage order
        assert [h.doc_id for h in ranked[1:]] == ["tax", "berlin", "cats", "everest"]
        assert QUERY in llm.prompts[0] and "Passage:" in llm.prompts[0]
    ranked = asyncio.run(LLMReranker(FakeLLM(), concurrency=2).arerank(QUERY, candidates, 2))
    assert [h.doc_id for h in ranked] == ["paris", "tax"]


def test_parse_relevance():
    assert parse_relevance(" Yes, it does.", "yesno") == 1.0
    assert parse_relevance("no", "yesno") == 0.0
    assert parse_relevance("I am not sure", "yesno") == 0.0
    assert parse_relevance("7", "score") == 0.7
    assert parse_relevance("Score: 12", "score") == 1.0
    assert parse_relevance("none", "score") == 0.0
    with pytest.raises(ConfigError, match="yesno"):
        LLMReranker(FakeLLM(), mode="listwise")


@pytest.mark.slow
def test_cross_encoder_from_a_local_folder(candidates, tmp_path):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ragloom.retrieval.embedders import default_model_path

    # a small untrained cross-encoder saved locally: this tests the mechanics, not the model's judgement
    folder = tmp_path / "ce"
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    ranked = check_reranker_contract(CrossEncoderReranker(folder), candidates)
    assert all(h.source == "cross-encoder" for h in ranked)


def test_cross_encoder_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"no model folder .*never downloads"):
        CrossEncoderReranker(tmp_path / "nope")


def test_maxsim_kernel():
    q = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert maxsim(q, np.array([[1.0, 0.0]])) == pytest.approx(0.5)
    assert maxsim(q, np.array([[2.0, 0.0], [0.0, 3.0]])) == pytest.approx(1.0)
    assert maxsim(q, np.zeros((0, 2))) == 0.0


def test_collaborative_kernel_rewards_agreement_with_strong_candidates():
    first = np.array([1.0, 0.9, 0.1, 0.1])
    query = np.zeros(4)
    pair = np.eye(4)
    pair[2, 0] = pair[0, 2] = 0.9  # candidate 2 resembles the strongest candidate, 3 resembles nobody
    scores = collaborative_scores(first, query, pair, anchors=2, weights=(1.0, 0.0, 1.0))
    assert scores[2] > scores[3]
    assert collaborative_scores(np.zeros(0), np.zeros(0), np.zeros((0, 0))).shape == (0,)
    lex = lexical_similarity([["tea", "leaf"], ["tea", "leaf"], ["rock"]])
    assert lex[0, 1] == pytest.approx(1.0) and lex[0, 2] == pytest.approx(0.0)
