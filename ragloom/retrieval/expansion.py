"""Second-pass retrieval steps for flows, without an LLM: a hyperlink-style second hop
(``retrieval.multihop``) and pseudo-relevance feedback (``retrieval.prf``). Both read the retrieved
``hits`` and write ``hits`` again (the same key, the same length), so workflow search treats them like
rerankers: it swaps them for one, inserts them after the retriever and tunes their declared ranges.

They were the workflow search's private ``search.multihop`` / ``search.prf`` operators; they now run over the
ordinary run resources of any flow (``retriever``: the index's hybrid retriever, ``index``: the index), and
fuse with the library's one fusion kernel (:func:`ragloom.retrieval.fusion.fuse`, reciprocal rank fusion).

- **multihop** (HotpotQA-style bridge entities): the documents whose title the top ``seeds`` documents
  mention, ranked by their own rank for the question (no new query), are brought up after the first ``keep``
  documents. Titles come from the indexed chunks' ``title`` metadata (BEIR corpora with titles, documents with
  a title); an index without titles leaves the hits unchanged.
- **prf** (RM3 in spirit, Abdul-Jaleel et al., 2004): the ``terms`` most frequent new words of the top
  ``docs`` hits are added to the question, retrieved again, and fused with the first ranking.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.core.types import Chunk, Hit
from ragloom.flows import RunContext, node

__all__ = ["bring_up", "expansion_terms", "mention_links", "multihop_node", "prf_node", "rrf_hits"]

Node = Callable[..., dict[str, Any]]
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]+")
#: How deep the second hop looks for the linked documents in the question's own ranking.
POOL = 100
_LINKS: weakref.WeakKeyDictionary[Any, dict[str, list[str]]] = weakref.WeakKeyDictionary()


def mention_links(chunks: Sequence[Chunk], min_title: int = 4) -> dict[str, list[str]]:
    """``{doc_id: [doc ids whose title occurs in doc_id's text]}`` over ``chunks`` (a title has at least
    ``min_title`` characters and a letter; matching is case-insensitive; a document never links to itself)."""
    titles: dict[str, list[str]] = {}
    texts: dict[str, list[str]] = {}
    for c in chunks:
        texts.setdefault(c.doc_id, []).append(c.text.lower())
        title = str(c.metadata.get("title") or "").strip().lower()
        if (
            len(title) >= min_title
            and any(ch.isalpha() for ch in title)
            and c.doc_id not in titles.get(title, [])
        ):
            titles.setdefault(title, []).append(c.doc_id)
    links: dict[str, list[str]] = {}
    for doc, parts in texts.items():
        text = " ".join(parts)
        links[doc] = [
            other for title, ids in titles.items() if title in text for other in ids if other != doc
        ]
    return links


def _first_docs(hits: Sequence[Hit], n: int) -> list[Hit]:
    """The first hit of each of the first ``n`` distinct documents."""
    out: list[Hit] = []
    for h in hits:
        if len(out) >= n:
            break
        if all(h.doc_id != o.doc_id for o in out):
            out.append(h)
    return out


def bring_up(hits: Sequence[Hit], second: Sequence[Hit], keep: int, extra: int) -> list[Hit]:
    """``hits`` with the best chunks of up to ``extra`` documents of ``second`` placed after the best chunks
    of the first ``keep`` documents; every other hit follows in its own order, and the list keeps its length
    (at least ``keep + extra`` when it was shorter)."""
    head = _first_docs(hits, keep)
    heads = {h.doc_id for h in head}
    added = [h for h in _first_docs(second, len(second)) if h.doc_id not in heads][:extra]
    placed = {h.id for h in head + added}
    rest = [h for h in hits if h.id not in placed]
    return (head + added + rest)[: max(len(hits), len(head) + len(added))]


def expansion_terms(question: str, texts: Sequence[str], n: int) -> list[str]:
    """The ``n`` most frequent words (>= 4 letters) of ``texts`` not in ``question`` (ties: by word)."""
    have = {w.lower() for w in _WORD.findall(question)}
    counts = Counter(w.lower() for t in texts for w in _WORD.findall(t) if len(w) >= 4)
    return [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0])) if w not in have][:n]


def rrf_hits(runs: Sequence[Sequence[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion of hit lists by chunk id (the library's one RRF kernel), top ``k``."""
    from ragloom.retrieval.fusion import reciprocal_rank_fusion

    chunks = {h.id: h.chunk for hits in runs for h in hits}
    fused = reciprocal_rank_fusion([[(h.id, h.score) for h in hits] for hits in runs])
    return [Hit(chunks[i], s, "fused") for i, s in fused[:k]]


def _resource(ctx: RunContext, name: str, who: str) -> Any:
    found = ctx.resources.get(name)
    if found is None:
        raise ConfigError(
            f"{who}: no run resource {name!r}; pass invoke(..., context={{{name!r}: ...}}) or, from the "
            "command line, --index DIR or --dataset DIR"
        )
    return found


def _links_of(index: Any) -> dict[str, list[str]]:
    """The index's mention links, computed once per index object."""
    links = _LINKS.get(index)
    if links is None:
        links = _LINKS[index] = mention_links(list(getattr(index, "chunks", [])))
    return links


@register("retrieval.multihop", role="reranker", search={"seeds": [1, 2, 3], "keep": [1, 2, 3]})
def multihop_node(
    seeds: int = 2,
    keep: int = 2,
    resource: str = "retriever",
    index: str = "index",
    input_key: str = "question",
    hits_key: str = "hits",
) -> Node:
    """Second hop by mention links: documents the top ``seeds`` documents name by title move up after the
    first ``keep`` documents (ranked by their own rank for the question)."""
    if seeds < 1 or keep < 0:
        raise ConfigError(f"retrieval.multihop: seeds must be >= 1 and keep >= 0, got {seeds}, {keep}")

    @node(takes_context=True)
    def multihop(state: Any, ctx: RunContext) -> dict[str, Any]:
        hits = list(read_key(state, hits_key, "retrieval.multihop", None) or [])
        links = _links_of(_resource(ctx, index, "retrieval.multihop"))
        linked = {d for h in _first_docs(hits, seeds) for d in links.get(h.doc_id, [])}
        if not linked:
            return {hits_key: hits}
        question = str(read_key(state, input_key, "retrieval.multihop", ""))
        pool = _resource(ctx, resource, "retrieval.multihop").retrieve(question, POOL)
        return {hits_key: bring_up(hits, [h for h in pool if h.doc_id in linked], keep, seeds)}

    return multihop


@register("retrieval.prf", role="reranker", search={"docs": [2, 3, 5], "terms": [4, 8, 16]})
def prf_node(
    docs: int = 3,
    terms: int = 8,
    resource: str = "retriever",
    input_key: str = "question",
    hits_key: str = "hits",
) -> Node:
    """Pseudo-relevance feedback: the question plus the top hits' frequent new words, retrieved again and
    fused with the first ranking (reciprocal rank fusion)."""
    if docs < 1 or terms < 1:
        raise ConfigError(f"retrieval.prf: docs and terms must be >= 1, got {docs}, {terms}")

    @node(takes_context=True)
    def prf(state: Any, ctx: RunContext) -> dict[str, Any]:
        hits = list(read_key(state, hits_key, "retrieval.prf", None) or [])
        question = str(read_key(state, input_key, "retrieval.prf", ""))
        extra = expansion_terms(question, [h.text for h in hits[:docs]], terms)
        if not hits or not extra:
            return {hits_key: hits}
        again = _resource(ctx, resource, "retrieval.prf").retrieve(f"{question} {' '.join(extra)}", len(hits))
        return {hits_key: rrf_hits([hits, again], len(hits))}

    return prf
