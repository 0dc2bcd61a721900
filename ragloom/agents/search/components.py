"""Operators of workflow search that no other room registers (YAML ``uses: search.*``).

Retrieval operators take their retrievers from the run resource ``search`` (a
:class:`~ragloom.agents.search.resources.SearchResources`), so every candidate of a search shares one
index and one result cache. LLM operators take the LLM from ``resources["llm"]`` (else the embedded
default), like ``llm.generate``; the LLM client reports its usage to the flow trace.

- ``search.retrieve``: bm25 / dense / hybrid (fusion, bm25 ``weight``), over sub-questions when present;
  ``branch: NAME`` writes into ``branches[NAME]`` (an arm of a parallel retrieval step)
- ``search.fuse``: join the arms (reciprocal rank fusion or round-robin interleave)
- ``search.multihop``: a second hop per top document (question + the document's title or lead sentence)
- ``search.prf``: pseudo-relevance feedback (RM3-style terms from the top documents)
- ``search.rerank``: cached collaborative / MaxSim reranking
- ``search.decompose``, ``search.ensemble`` (self-consistency vote), ``search.review``,
  ``search.format_answer``
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ragloom.agents.search.resources import DEPTH
from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.core.types import Hit, Message
from ragloom.flows import RunContext, node

Node = Callable[..., dict[str, Any]]
RRF_K = 60
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]+")
_CITE = re.compile(r"\s*\[\d+\]")


def _resources(ctx: RunContext, name: str, who: str) -> Any:
    res = ctx.resources.get(name)
    if res is None:
        cli = "; from the command line: ragloom run FLOW --dataset DIR" if name == "search" else ""
        raise ConfigError(
            f"{who}: no run resource {name!r}; pass invoke(..., context={{{name!r}: SearchResources(...)}}) "
            f"(ragloom.agents.search.resources){cli}"
        )
    return res


def rrf(runs: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion by document (Cormack et al., 2009): sum of 1/(60 + rank); first hit per doc."""
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits in runs:
        seen: set[str] = set()
        for rank, h in enumerate(hits):
            if h.doc_id in seen:
                continue
            seen.add(h.doc_id)
            scores[h.doc_id] = scores.get(h.doc_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            first.setdefault(h.doc_id, h)
    ranked = sorted(scores, key=lambda d: (-scores[d], d))[:k]
    return [Hit(first[d].chunk, scores[d], "fused") for d in ranked]


def interleave(runs: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """Round-robin over the runs, skipping documents already taken."""
    out: list[Hit] = []
    seen: set[str] = set()
    for i in range(max((len(r) for r in runs), default=0)):
        for hits in runs:
            if i < len(hits) and hits[i].doc_id not in seen:
                seen.add(hits[i].doc_id)
                out.append(hits[i])
    return out[:k]


def _fusion_options(method: str, fusion: str, weight: float, normalization: str) -> dict[str, Any]:
    if method != "hybrid":
        return {}
    return {"fusion": fusion, "weights": [weight, 1.0 - weight], "normalization": normalization}


@register("search.retrieve")
def retrieve(
    method: str = "hybrid",
    k: int = 5,
    fusion: str = "rrf",
    weight: float = 0.5,
    normalization: str = "minmax",
    branch: str | None = None,
    resource: str = "search",
    input_key: str = "question",
    query_key: str = "query",
    output_key: str = "hits",
) -> Node:
    """Retrieve ``k`` hits for the query (``query`` when set, else the question; sub-questions fused)."""
    if method not in ("bm25", "dense", "hybrid", "graph") or k <= 0:
        raise ConfigError(
            f"search.retrieve: method must be bm25|dense|hybrid|graph and k > 0, got {method!r}, {k}"
        )
    if not 0.0 <= weight <= 1.0:
        raise ConfigError(f"search.retrieve: weight (of BM25 in hybrid) must be in [0, 1], got {weight}")
    options = _fusion_options(method, fusion, weight, normalization)

    @node(takes_context=True)
    def search_retrieve(state: Any, ctx: RunContext) -> dict[str, Any]:
        name = "search.retrieve"
        res = _resources(ctx, resource, name)
        query = str(read_key(state, query_key, name, "") or read_key(state, input_key, name, ""))
        subs = [q for q in read_key(state, "subquestions", name, None) or [] if q.strip()]
        if subs:
            hits = rrf([res.retrieve(q, k, method, **options) for q in [query, *subs]], k)
        else:
            hits = res.retrieve(query, k, method, **options)
        return {"branches": {branch: hits}} if branch else {output_key: hits}

    return search_retrieve


@register("search.fuse")
def fuse(fusion: str = "rrf", k: int = 5, output_key: str = "hits") -> Node:
    """Join parallel retrieval arms (``branches``) into one ranking of ``k`` hits."""
    if fusion not in ("rrf", "interleave"):
        raise ConfigError(f"search.fuse: fusion must be rrf or interleave, got {fusion!r}")
    combine = rrf if fusion == "rrf" else interleave

    def search_fuse(state: Any) -> dict[str, Any]:
        branches = read_key(state, "branches", "search.fuse", None) or {}
        return {output_key: combine([branches[name] for name in sorted(branches)], k)}

    return search_fuse


@register("search.multihop")
def multihop(
    method: str = "hybrid",
    seeds: int = 2,
    keep: int = 2,
    per_hop: int = 10,
    link: str = "mention",
    resource: str = "search",
    input_key: str = "question",
    hits_key: str = "hits",
) -> Node:
    """Second hop for multi-hop questions, without an LLM, from each of the top ``seeds`` documents:

    - ``link: mention``: the documents whose title the seed document mentions (hyperlink-style bridge
      entities, as in HotpotQA), ranked by their rank for the question itself (no new query);
    - ``link: title`` / ``lead``: a new query "question + the seed's title (or lead sentence)",
      ``per_hop`` hits.

    The first ``keep`` first-hop documents stay on top, then up to ``seeds`` second-hop documents,
    then the rest.
    """
    if link not in ("mention", "title", "lead") or seeds < 1 or keep < 0 or per_hop < 1:
        raise ConfigError(
            "search.multihop: link must be mention|title|lead, seeds >= 1, keep >= 0, per_hop >= 1"
        )
    options = _fusion_options(method, "rrf", 0.5, "minmax")

    @node(takes_context=True)
    def search_multihop(state: Any, ctx: RunContext) -> dict[str, Any]:
        res = _resources(ctx, resource, "search.multihop")
        question = str(read_key(state, input_key, "search.multihop", ""))
        hits = list(read_key(state, hits_key, "search.multihop", None) or [])
        seed_docs = list(dict.fromkeys(h.doc_id for h in hits))[:seeds]
        if link == "mention":
            pool = res.retrieve(question, DEPTH, method, **options)
            linked = {d for s in seed_docs for d in res.mentions(s)}
            second = [h for h in pool if h.doc_id in linked]
        else:
            pivot = res.title if link == "title" else res.lead
            second = rrf(
                [res.retrieve(f"{question} {pivot(d)}", per_hop, method, **options) for d in seed_docs],
                per_hop,
            )
        head = _first_docs(hits, keep)
        taken = {h.doc_id for h in head}
        extra = [h for h in _first_docs(second, len(second)) if h.doc_id not in taken][:seeds]
        taken |= {h.doc_id for h in extra}
        rest = [h for h in hits if h.doc_id not in taken]
        return {hits_key: (head + extra + rest)[: max(len(hits), len(head) + len(extra))]}

    return search_multihop


def _first_docs(hits: Sequence[Hit], n: int) -> list[Hit]:
    out: list[Hit] = []
    for h in hits:
        if len(out) >= n:
            break
        if all(h.doc_id != o.doc_id for o in out):
            out.append(h)
    return out


@register("search.prf")
def prf(
    method: str = "bm25",
    docs: int = 3,
    terms: int = 8,
    resource: str = "search",
    input_key: str = "question",
    hits_key: str = "hits",
) -> Node:
    """Pseudo-relevance feedback: add the ``terms`` most frequent new words of the top ``docs`` hits to the
    question, retrieve again and fuse with the first ranking (RM3 in spirit, Abdul-Jaleel et al., 2004).
    """
    if docs < 1 or terms < 1:
        raise ConfigError("search.prf: docs and terms must be >= 1")
    options = _fusion_options(method, "rrf", 0.5, "minmax")

    @node(takes_context=True)
    def search_prf(state: Any, ctx: RunContext) -> dict[str, Any]:
        res = _resources(ctx, resource, "search.prf")
        question = str(read_key(state, input_key, "search.prf", ""))
        hits = list(read_key(state, hits_key, "search.prf", None) or [])
        extra = expansion_terms(question, [h.text for h in hits[:docs]], terms)
        again = res.retrieve(f"{question} {' '.join(extra)}", max(len(hits), 5), method, **options)
        return {hits_key: rrf([hits, again], max(len(hits), 5))}

    return search_prf


def expansion_terms(question: str, texts: Sequence[str], n: int) -> list[str]:
    """The ``n`` most frequent words (>= 4 letters) of ``texts`` not already in ``question``."""
    have = {w.lower() for w in _WORD.findall(question)}
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t) if len(w) >= 4)
    return [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0])) if w not in have][:n]


@register("search.rerank")
def rerank(
    method: str = "collaborative", k: int = 10, resource: str = "search", hits_key: str = "hits"
) -> Node:
    """Rerank the hits (collaborative: HybRank-style; maxsim: late interaction), cached per query."""
    if method not in ("collaborative", "maxsim"):
        raise ConfigError(f"search.rerank: method must be collaborative or maxsim, got {method!r}")

    @node(takes_context=True)
    def search_rerank(state: Any, ctx: RunContext) -> dict[str, Any]:
        res = _resources(ctx, resource, "search.rerank")
        reranker = res._part(f"rerank-{method}", lambda: _make_reranker(method))
        hits = list(read_key(state, hits_key, "search.rerank", None) or [])
        question = str(read_key(state, "question", "search.rerank", ""))
        return {hits_key: res.rerank(method, reranker, question, hits, k)}

    return search_rerank


def _make_reranker(method: str) -> Any:
    from ragloom.retrieval.embedders import default_embedder

    if method == "maxsim":
        from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

        return MaxSimReranker(default_embedder(), 0.0)
    from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker

    return CollaborativeReranker(default_embedder())


# -- LLM operators --------------------------------------------------------------------------------------
def _llm(ctx: RunContext) -> Any:
    from ragloom.llm.components import llm_from_context

    return llm_from_context(ctx)


def _grounded_prompt(state: Any, instruction: str) -> str:
    from ragloom.llm.components import format_context

    items = list(read_key(state, "context", "search", None) or read_key(state, "hits", "search", None) or [])
    question = str(read_key(state, "question", "search", ""))
    if not items:
        return f"{instruction}\nQuestion: {question}"
    return f"Context:\n{format_context(items, 600)}\n\n{instruction}\nQuestion: {question}"


@register("search.decompose")
def decompose(max_questions: int = 3, max_tokens: int = 96) -> Node:
    """Split a multi-hop question into up to ``max_questions`` simpler sub-questions -> ``subquestions``."""
    instruction = (
        f"Break the question into at most {max_questions} simpler questions that together answer it. "
        "Write one question per line and nothing else."
    )

    @node(takes_context=True)
    def search_decompose(state: Any, ctx: RunContext) -> dict[str, Any]:
        question = str(read_key(state, "question", "search.decompose", ""))
        text = (
            _llm(ctx)
            .complete([Message("user", f"{instruction}\nQuestion: {question}")], max_tokens=max_tokens)
            .text
        )
        lines = [re.sub(r"^\s*(\d+[.)]|[-*])\s*", "", ln).strip() for ln in text.splitlines()]
        return {"subquestions": [ln for ln in lines if ln][:max_questions]}

    return search_decompose


@register("search.ensemble")
def ensemble(samples: int = 3, temperature: float = 0.7, max_tokens: int = 96) -> Node:
    """Self-consistency (Wang et al., 2023): sample ``samples`` answers, keep the most frequent one."""
    from ragloom.llm.components import GENERATE_INSTRUCTION

    if samples < 1:
        raise ConfigError(f"search.ensemble: samples must be >= 1, got {samples}")

    @node(takes_context=True)
    def search_ensemble(state: Any, ctx: RunContext) -> dict[str, Any]:
        from ragloom.eval.metrics import normalize_answer

        llm, prompt = _llm(ctx), _grounded_prompt(state, GENERATE_INSTRUCTION)
        answers = [
            llm.complete(
                [Message("user", prompt)], max_tokens=max_tokens, temperature=temperature
            ).text.strip()
            for _ in range(samples)
        ]
        votes = Counter(normalize_answer(_CITE.sub("", a)) for a in answers)
        best = max(votes, key=lambda a: (votes[a], -len(a)))
        return {"answer": next(a for a in answers if normalize_answer(_CITE.sub("", a)) == best)}

    return search_ensemble


@register("search.review")
def review(max_tokens: int = 96) -> Node:
    """Review/revise: the LLM checks the draft answer against the context and writes a corrected one."""

    @node(takes_context=True)
    def search_review(state: Any, ctx: RunContext) -> dict[str, Any]:
        draft = str(read_key(state, "answer", "search.review", ""))
        instruction = (
            f"Draft answer: {draft}\nCheck the draft against the context. If it is right, repeat it; "
            "otherwise write the corrected answer. Reply with the answer only."
        )
        text = _llm(ctx).complete(
            [Message("user", _grounded_prompt(state, instruction))], max_tokens=max_tokens
        )
        return {"answer": text.text.strip() or draft}

    return search_review


@register("search.format_answer")
def format_answer(style: str = "short") -> Node:
    """Format the answer without an LLM: ``short`` (no citations, no trailing clause) or ``sentence``."""
    if style not in ("short", "sentence"):
        raise ConfigError(f"search.format_answer: style must be short or sentence, got {style!r}")

    def search_format_answer(state: Any) -> dict[str, Any]:
        text = _CITE.sub("", str(read_key(state, "answer", "search.format_answer", ""))).strip()
        first = re.split(r"(?<=[.!?])\s+", text, maxsplit=1)[0]
        if style == "short":
            first = re.split(r"[,;]\s|\.$", first, maxsplit=1)[0]
        return {"answer": first.strip()}

    return search_format_answer
