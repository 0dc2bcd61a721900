"""Selector components for flows: ``select.topk``, ``select.greedy``, ``select.mmr``, ``select.sage``,
``select.corag``, ``select.sentences``.

Each node reads the question (``query_key``, default ``question``) and the candidate hits (``input_key``,
default ``hits``) and writes the selected context (``output_key``, default ``context``) under the
``budget_tokens`` parameter, counted in the generating LLM's tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Selector, TokenCounter
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.retrieval.select.base import resolve_token_counter
from ragloom.retrieval.select.compress import SentenceWindowCompressor, fill_leftover
from ragloom.retrieval.select.corag import CoragSelector, CoragWeights
from ragloom.retrieval.select.greedy import GreedyDensitySelector
from ragloom.retrieval.select.mmr import MMRSelector
from ragloom.retrieval.select.sage import SageSelector
from ragloom.retrieval.select.sentences import SentenceSelector
from ragloom.retrieval.select.topk import TopKSelector

Node = Callable[[Any], dict[str, Any]]


def selector_node(
    name: str,
    selector: Selector,
    budget_tokens: int,
    query_key: str,
    input_key: str,
    output_key: str,
    fill_sentences: int = 0,
    token_counter: TokenCounter | None = None,
    max_share: float = 0.0,
) -> Node:
    """Wrap ``selector`` as a flow node ``state -> {output_key: selected hits}``. ``fill_sentences`` > 0
    spends the budget the selection leaves over on the most query-relevant windows of that many sentences of
    the documents it left out (:func:`~ragloom.retrieval.select.compress.fill_leftover`), counted with
    ``token_counter`` (default: the generating LLM's tokenizer, as the selectors count). ``max_share`` > 0
    first cuts every candidate longer than that share of the budget to its most query-relevant window of
    sentences within it (:meth:`~ragloom.retrieval.select.compress.SentenceWindowCompressor.cap`): one long
    passage can then no longer crowd the other hops of a multi-hop question out of the budget."""
    if not isinstance(budget_tokens, int) or budget_tokens < 0:
        raise ConfigError(f"{name}: budget_tokens must be an integer >= 0, got {budget_tokens!r}")
    if not isinstance(fill_sentences, int) or fill_sentences < 0:
        raise ConfigError(f"{name}: fill_sentences must be an integer >= 0 (0: off), got {fill_sentences!r}")
    if not isinstance(max_share, int | float) or not 0.0 <= max_share <= 1.0:
        raise ConfigError(f"{name}: max_share must be a number in [0, 1] (0: off), got {max_share!r}")
    compressor = SentenceWindowCompressor(fill_sentences) if fill_sentences else None
    capper = SentenceWindowCompressor() if max_share else None

    def select_node(state: Any) -> dict[str, Any]:
        query = str(read_key(state, query_key, name, param="query_key"))
        hits = list(read_key(state, input_key, name))
        if capper is not None:
            cap = int(max_share * budget_tokens)
            hits = capper.cap(query, hits, cap, resolve_token_counter(token_counter))
        chosen = selector.select(query, hits, budget_tokens)
        if compressor is not None:
            counter = resolve_token_counter(token_counter)
            chosen = fill_leftover(query, hits, chosen, budget_tokens, counter, compressor)
        return {output_key: chosen}

    select_node.__name__ = name.replace(".", "_")
    select_node.selector = selector  # type: ignore[attr-defined]  # for inspection in tests and traces
    return select_node


@register("select.topk", role="selector")
def topk(
    budget_tokens: int = 512,
    k: int | None = None,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
) -> Node:
    """Top-k truncation: the best hits by score until the budget is full."""
    return selector_node("select.topk", TopKSelector(k=k), budget_tokens, query_key, input_key, output_key)


@register("select.greedy", role="selector")
def greedy(
    budget_tokens: int = 512,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
) -> Node:
    """Greedy knapsack by score per token."""
    sel = GreedyDensitySelector()
    return selector_node("select.greedy", sel, budget_tokens, query_key, input_key, output_key)


@register("select.mmr", role="selector", search={"lambda_": [0.5, 0.7, 0.9]})
def mmr(
    budget_tokens: int = 512,
    lambda_: float = 0.7,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
) -> Node:
    """Maximal marginal relevance under the budget (embedding similarity)."""
    sel = MMRSelector(lambda_=lambda_)
    return selector_node("select.mmr", sel, budget_tokens, query_key, input_key, output_key)


@register("select.sage")
def sage(
    budget_tokens: int = 512,
    min_keep: int = 2,
    max_keep: int | None = 20,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
) -> Node:
    """SAGE-style cut at the steepest relevance drop, then the budget."""
    sel = SageSelector(min_keep=min_keep, max_keep=max_keep)
    return selector_node("select.sage", sel, budget_tokens, query_key, input_key, output_key)


@register(
    "select.corag",
    role="selector",
    search={
        "iterations": [8, 16, 32],
        "exploration": [0.05, 0.1, 0.3],
        "fill_sentences": [0, 1],
        "max_share": [0.0, 0.5],
    },
)
def corag(
    budget_tokens: int = 512,
    iterations: int = 16,
    branching: int = 5,
    exploration: float = 0.1,
    seed: int = 0,
    fill_sentences: int = 0,
    max_share: float = 0.0,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
    **weights: float,
) -> Node:
    """CORAG: MCTS over chunk combinations with a set-level utility (weights: CoragWeights fields);
    ``fill_sentences`` > 0 fills the budget left over with sentence windows of left-out documents;
    ``max_share`` > 0 cuts passages longer than that share of the budget to their best sentence window."""
    known = set(CoragWeights.__dataclass_fields__)
    unknown = sorted(set(weights) - known)
    if unknown:
        raise ConfigError(f"select.corag: unknown parameters {unknown}; utility weights are {sorted(known)}")
    sel = CoragSelector(
        weights=CoragWeights(**weights),
        iterations=iterations,
        branching=branching,
        exploration=exploration,
        seed=seed,
    )
    return selector_node(
        "select.corag",
        sel,
        budget_tokens,
        query_key,
        input_key,
        output_key,
        fill_sentences=fill_sentences,
        max_share=max_share,
    )


@register("select.sentences", role="selector", search={"window": [0, 1], "score_weight": [0.0, 0.2, 0.4]})
def sentences(
    budget_tokens: int = 512,
    window: int = 0,
    dense_weight: float = 0.4,
    lexical_weight: float = 0.4,
    score_weight: float = 0.2,
    query_key: str = "question",
    input_key: str = "hits",
    output_key: str = "context",
) -> Node:
    """Sentence-level compression: the question's best sentences of the hits under the budget, best first."""
    sel = SentenceSelector(dense_weight, lexical_weight, score_weight, window)
    return selector_node("select.sentences", sel, budget_tokens, query_key, input_key, output_key)
