"""CORAG: cost-constrained context selection by Monte Carlo tree search over chunk *combinations*.

CORAG (Wang et al., 2024, "CORAG: A Cost-Constrained Retrieval Optimization System for RAG",
arXiv:2411.00744) observes that the value of a context is not the sum of its chunks' values: a chunk that
repeats another, or drifts off-topic, *lowers* the usefulness of the whole, so the best context under a token
budget is a set-level (non-monotone) optimisation. This module scores a set of chunks as a whole and searches
the space of sets with the shared MCTS core (:mod:`ragloom.core.mcts`).

Utility of a set S (all per-chunk quantities precomputed once per query, so a set is scored in microseconds):

    U(S) = sum_{i in S} (p_i - tau)                         relevance prior above a threshold (off-topic < 0)
         + alpha * coverage(S)                               idf-weighted share of query terms S covers
         - beta  * sum_{i<j in S} max(0, cos(e_i, e_j) - delta) / (1 - delta)   redundancy
         + gamma * cos(q, sum_{i in S} e_i)                  embedding relevance of the set's centroid
         + eta   * #{j in S named by another member's text}  multi-hop links (chunks with titles)

``p_i`` mixes the retriever's normalised score and the query-chunk cosine. An LLM judge can replace U as the
reward (:mod:`ragloom.retrieval.select.judge`); U still orders the expansions. The budget is counted with a
TokenCounter (default: the generating LLM's tokenizer) and no node of the search tree is ever over budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError, RagloomError
from ragloom.core.mcts import MCTSConfig, search
from ragloom.core.protocols import Embedder, TokenCounter
from ragloom.core.types import Hit
from ragloom.retrieval.select.base import (
    check_budget,
    minmax,
    resolve_embedder,
    resolve_token_counter,
    take_indices,
)

__all__ = [
    "ChunkSet",
    "ChunkSetProblem",
    "CoragSelector",
    "CoragWeights",
    "SetStats",
    "query_terms",
    "title_links",
]

#: Reward of a batch of candidate sets (an LLM judge); default: the utility U above.
SetReward = Callable[[str, Sequence[Sequence[Hit]]], Sequence[float]]

_WORD = re.compile(r"\w+")
_MAX_CACHED = 100_000
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
# Stems of words and of chunks, shared by all CORAG selectors of the process (candidates recur across calls).
_STEMS: dict[str, str] = {}
_HIT_STEMS: dict[str, frozenset[str]] = {}
_STOPWORD_TEXT = """
a an and are as at be been but by did do does for from had has have he her his how i if in into is it its of
on or she so than that the their them then there these they this to was were what when where which who
whom whose why will with would you your both either other same also about after before during between
name named one ones many much more most any some
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class CoragWeights:
    """Settings of the utility U (module docstring). Defaults: tuned on the dev half of hotpotqa-300 by
    benchmarks/selection.py (the test half is never used for tuning)."""

    score_weight: float = 0.3  # p_i = w * retriever score + (1 - w) * query cosine (both min-max normalised)
    threshold: float = 0.35  # tau
    coverage: float = 3.0  # alpha
    redundancy: float = 1.5  # beta (an exact duplicate costs beta)
    redundancy_floor: float = 0.75  # delta
    centroid: float = 0.0  # gamma
    bridge: float = 0.6  # eta: per member named (by title) in another member's text, a multi-hop link


@dataclass(frozen=True, slots=True)
class SetStats:
    """Running sums of a set that make U(S + j) an O(|S|) update: sum of (p - tau), of query cosines, of the
    Gram matrix block, the redundancy sum, which query terms are covered, and the title links."""

    prior: float = 0.0
    cosine: float = 0.0
    gram: float = 0.0
    redundancy: float = 0.0
    covered: np.ndarray | None = None
    linked: np.ndarray | None = None  # per candidate: named by some member
    bridged: float = 0.0  # members named by another member


@dataclass(frozen=True, slots=True, eq=False)
class ChunkSet:
    """A search state: sorted member indices, their summed token cost, the set's utility U and its sums."""

    members: tuple[int, ...]
    cost: int
    utility: float
    stats: SetStats = SetStats()


def _excess(similarity: np.ndarray, floor: float) -> np.ndarray:
    """How far similarities exceed ``floor``, scaled so an exact duplicate (cosine 1) counts 1."""
    return np.maximum(similarity - floor, 0.0) / max(1.0 - floor, 1e-6)


def _stemmer() -> Callable[[str], str]:
    import Stemmer  # PyStemmer, a core dependency (also used by bm25s)

    stem = Stemmer.Stemmer("english")
    return stem.stemWord  # type: ignore[no-any-return]


def query_terms(text: str, stem: Callable[[str], str]) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (no stopwords or 1-letter words), unique, in order."""
    words = (w.lower() for w in _WORD.findall(text))
    return list(dict.fromkeys(stem(w) for w in words if len(w) > 1 and w not in _STOPWORDS))


@dataclass
class ChunkSetProblem:
    """The chunk-combination space for one query (a :class:`ragloom.core.mcts.Problem`).

    Arrays are per candidate: ``prior`` p, ``costs`` in tokens, ``cosine`` to the query, ``gram`` (pairwise
    cosine), ``terms`` (which query terms each chunk contains) and ``term_weights``. Actions add one chunk
    that fits the budget, best marginal utility first; a set already generated elsewhere in the tree is not
    offered again (the space is a lattice, the tree would otherwise hold each set once per insertion order).
    """

    prior: np.ndarray
    costs: np.ndarray
    cosine: np.ndarray
    gram: np.ndarray
    terms: np.ndarray
    term_weights: np.ndarray
    budget: int
    weights: CoragWeights
    links: np.ndarray | None = None  # links[i, j]: chunk i's text names chunk j's title (diagonal False)
    max_size: int = 12
    seen: set[tuple[int, ...]] = field(default_factory=set)
    diag: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.diag = np.diag(self.gram).copy()
        if self.links is None:
            self.links = np.zeros(self.gram.shape, dtype=bool)

    def root(self) -> ChunkSet:
        self.seen.add(())
        covered = np.zeros(self.terms.shape[1], dtype=bool)
        return ChunkSet((), 0, 0.0, SetStats(covered=covered, linked=np.zeros(len(self.prior), dtype=bool)))

    def _combine(
        self, prior: Any, coverage: Any, redundancy: Any, cosine: Any, gram: Any, bridged: Any
    ) -> Any:
        """U from a set's sums (scalars, or arrays for many candidate sets at once)."""
        w = self.weights
        centroid = cosine / np.sqrt(np.maximum(gram, 1e-12))
        return (
            prior
            + w.coverage * coverage
            - w.redundancy * redundancy
            + w.centroid * centroid
            + w.bridge * bridged
        )

    def _coverage(self, covered: np.ndarray) -> Any:
        total = float(self.term_weights.sum())
        return covered @ self.term_weights / total if total > 0 else np.zeros(covered.shape[:-1])

    def utility(self, members: Sequence[int]) -> float:
        """U of ``members`` from scratch (the incremental updates of :meth:`apply`/:meth:`gains` agree)."""
        if not members:
            return 0.0
        m = np.asarray(members)
        w = self.weights
        sub = self.gram[np.ix_(m, m)]
        redundancy = _excess(sub[np.triu_indices(len(m), 1)], w.redundancy_floor).sum()
        prior = (self.prior[m] - w.threshold).sum()
        coverage = self._coverage(self.terms[m].any(axis=0))
        assert self.links is not None
        bridged = self.links[np.ix_(m, m)].any(axis=0).sum()
        return float(self._combine(prior, coverage, redundancy, self.cosine[m].sum(), sub.sum(), bridged))

    def gains(self, state: ChunkSet) -> np.ndarray:
        """U(S + j) for every candidate j at once (vectorised; -inf for members and misfits)."""
        w, st, links = self.weights, state.stats, self.links
        assert st.covered is not None and st.linked is not None and links is not None
        members = list(state.members)
        rows = self.gram[members]  # (k, n)
        unlinked = [x for x in members if not st.linked[x]]
        out = self._combine(
            st.prior + self.prior - w.threshold,
            self._coverage(self.terms | st.covered),
            st.redundancy + _excess(rows, w.redundancy_floor).sum(axis=0),
            st.cosine + self.cosine,
            st.gram + 2.0 * rows.sum(axis=0) + self.diag,
            st.bridged + links[:, unlinked].sum(axis=1) + st.linked,
        )
        blocked = self.costs + state.cost > self.budget
        blocked[list(state.members)] = True
        return np.where(blocked, -np.inf, out)

    def actions(self, state: ChunkSet) -> list[int]:
        if len(state.members) >= self.max_size:
            return []
        values = self.gains(state)
        order = np.argsort(-values, kind="stable")
        fresh = []
        for j in order.tolist():
            if not np.isfinite(values[j]):
                break
            if tuple(sorted((*state.members, j))) not in self.seen:
                fresh.append(j)
        return fresh

    def apply(self, state: ChunkSet, action: int) -> ChunkSet:
        members = tuple(sorted((*state.members, action)))
        self.seen.add(members)
        st, w, j = state.stats, self.weights, action
        assert st.covered is not None and st.linked is not None and self.links is not None
        row = self.gram[j, list(state.members)]
        linked = st.linked | self.links[j]
        covered = st.covered | self.terms[j]
        stats = SetStats(
            prior=st.prior + float(self.prior[j]) - w.threshold,
            cosine=st.cosine + float(self.cosine[j]),
            gram=st.gram + 2.0 * float(row.sum()) + float(self.diag[j]),
            redundancy=st.redundancy + float(_excess(row, w.redundancy_floor).sum()),
            covered=covered,
            linked=linked,
            bridged=float(linked[list(members)].sum()),
        )
        coverage = self._coverage(covered)
        utility = float(
            self._combine(stats.prior, coverage, stats.redundancy, stats.cosine, stats.gram, stats.bridged)
        )
        return ChunkSet(members, state.cost + int(self.costs[j]), utility, stats)

    def cost(self, state: ChunkSet) -> float:
        return float(state.cost)

    def is_terminal(self, state: ChunkSet) -> bool:
        return False


def title_links(hits: Sequence[Hit]) -> np.ndarray:
    """``links[i, j]``: hit i's text names hit j's title (``metadata["title"]``, a trailing "(...)" dropped,
    4+ characters). Multi-hop questions chain such links: the bridge passage is named by the first hop."""
    titles = []
    for hit in hits:
        title = hit.chunk.metadata.get("title", "")
        title = _PAREN.sub("", title).strip().lower() if isinstance(title, str) else ""
        titles.append(title if len(title) >= 4 else "")
    texts = [h.text.lower() for h in hits]
    links = np.zeros((len(hits), len(hits)), dtype=bool)
    for j, title in enumerate(titles):
        if title:
            links[:, j] = [title in text for text in texts]
            links[j, j] = False
    return links


def _utility_reward(states: Sequence[ChunkSet]) -> list[float]:
    return [s.utility for s in states]


class CoragSelector:
    """Select the chunk set with the best set-level utility under the token budget, by MCTS.

    ``iterations``/``branching``/``exploration``/``cost_penalty``/``backprop``/``seed`` configure the search
    (:class:`ragloom.core.mcts.MCTSConfig`); ``weights`` the utility. ``judge`` (optional) replaces U as the
    reward with a batched scorer of whole contexts, e.g. :class:`~ragloom.retrieval.select.judge.LLMJudge`.
    Per-chunk token counts and embeddings are computed once per call (and cached across calls).
    """

    def __init__(
        self,
        weights: CoragWeights | None = None,
        iterations: int = 16,
        branching: int = 5,
        exploration: float = 0.1,
        cost_penalty: float = 0.0,
        backprop: str = "all",
        seed: int = 0,
        max_size: int = 12,
        embedder: Embedder | None = None,
        token_counter: TokenCounter | None = None,
        judge: SetReward | None = None,
    ) -> None:
        if max_size < 1:
            raise ConfigError(f"CoragSelector: max_size must be >= 1, got {max_size}")
        self.weights = weights or CoragWeights()
        self.config = MCTSConfig(
            iterations=iterations,
            exploration=exploration,
            cost_penalty=cost_penalty,
            branching=branching,
            backprop=backprop,  # type: ignore[arg-type]  # validated by MCTSConfig
            seed=seed,
        )
        self.max_size = max_size
        self.judge = judge
        self._embedder = embedder
        self._counter = token_counter
        self._cached = None if token_counter is None else resolve_token_counter(token_counter)
        self._stem: Callable[[str], str] | None = None

    def select(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> list[Hit]:
        check_budget("CoragSelector", budget_tokens)
        if not hits or budget_tokens == 0:
            return []
        problem = self.prepare(query, hits, budget_tokens)
        evaluate = _utility_reward if self.judge is None else self._judge_reward(query, hits)
        config = replace(self.config, budget=float(budget_tokens))
        result = search(problem, problem.root(), evaluate, config)
        if result.best is None:
            return []
        members = result.best.state.members
        if sum(int(problem.costs[i]) for i in members) > budget_tokens:  # the search never allows it
            raise RagloomError(f"CoragSelector: internal error, a set over {budget_tokens} tokens was chosen")
        return take_indices(hits, members)

    def prepare(self, query: str, hits: Sequence[Hit], budget_tokens: int) -> ChunkSetProblem:
        """The per-query arrays: token costs, prior, cosines, Gram matrix and query-term incidence."""
        if self._cached is None:
            self._cached = resolve_token_counter(self._counter)
        embedder = self._embedder = resolve_embedder(self._embedder)
        costs = np.array(self._cached.counts(hits), dtype=np.int64)
        both = embedder.embed([*(h.text for h in hits), query]).astype(np.float64)
        vectors, q = both[:-1], both[-1]
        cosine = vectors @ q
        w = self.weights
        prior = w.score_weight * minmax(np.array([h.score for h in hits])) + (1 - w.score_weight) * minmax(
            cosine
        )
        terms, term_weights = self._term_incidence(query, hits)
        return ChunkSetProblem(
            prior=prior,
            costs=costs,
            cosine=cosine,
            gram=vectors @ vectors.T,
            terms=terms,
            term_weights=term_weights,
            budget=budget_tokens,
            weights=w,
            max_size=self.max_size,
            links=title_links(hits) if w.bridge else None,
        )

    def _term_incidence(self, query: str, hits: Sequence[Hit]) -> tuple[np.ndarray, np.ndarray]:
        """Which query terms each hit (with its title, when the chunk has one) contains; idf over the hits."""
        terms = query_terms(query, self._stem_word)
        incidence = np.zeros((len(hits), len(terms)), dtype=bool)
        for i, hit in enumerate(hits):
            stems = self._text_stems(hit)
            incidence[i] = [t in stems for t in terms]
        df = incidence.sum(axis=0)
        idf = np.where(df > 0, np.log((len(hits) + 1) / (df + 0.5)), 0.0)
        return incidence, np.maximum(idf, 0.0)

    def _stem_word(self, word: str) -> str:
        stem = _STEMS.get(word)
        if stem is None:
            if self._stem is None:
                self._stem = _stemmer()
            stem = _STEMS[word] = self._stem(word)
        return stem

    def _text_stems(self, hit: Hit) -> frozenset[str]:
        """The stems of a hit's words (and its title's), cached by text: candidates recur across calls."""
        title = hit.chunk.metadata.get("title", "")
        text = f"{title} {hit.text}" if isinstance(title, str) and title else hit.text
        found = _HIT_STEMS.get(text)
        if found is None:
            found = frozenset(self._stem_word(w) for w in set(_WORD.findall(text.lower())))
            if len(_HIT_STEMS) >= _MAX_CACHED:
                _HIT_STEMS.clear()
            _HIT_STEMS[text] = found
        return found

    def _judge_reward(self, query: str, hits: Sequence[Hit]) -> Callable[[Sequence[ChunkSet]], list[float]]:
        judge = self.judge
        assert judge is not None

        def evaluate(states: Sequence[ChunkSet]) -> list[float]:
            scored = [s for s in states if s.members]
            answers = iter(judge(query, [[hits[i] for i in s.members] for s in scored]) if scored else [])
            return [float(next(answers)) if s.members else 0.0 for s in states]

        return evaluate
