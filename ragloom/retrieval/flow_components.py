"""Flow components that join and check retrieval: ``retrieval.fuse`` (the join of parallel retriever arms)
and ``retrieval.coverage`` (how much of the question the context covers, for "retrieve again" loops).

``retrieval.fuse`` reads several hit lists (``inputs``: state keys, one per arm) and writes one, fused by
the library's one fusion kernel (:func:`ragloom.retrieval.fusion.fuse`, RRF by default), exactly as
:class:`~ragloom.retrieval.hybrid.HybridRetriever` fuses BM25 and dense. Workflow search adds it as the join
of a parallel arm (role ``fusion``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.core.types import Chunk, Hit

__all__ = ["context_coverage", "coverage_node", "fuse_node"]

Node = Callable[[Any], dict[str, Any]]
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {"the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "was", "were", "be", "it", "that", "this"}
    | {"which", "who", "what", "when", "where", "how", "did", "does", "do", "for", "on", "at", "by", "with"}
    | {"from", "as", "his", "her", "their", "its", "than"}
)


@register(
    "retrieval.fuse",
    role="fusion",
    search={"k": [10, 20, 30, 50], "weights": [[1.0, 1.0], [2.0, 1.0], [1.0, 2.0]]},
)
def fuse_node(
    inputs: Sequence[str] = ("hits",),
    output_key: str = "hits",
    k: int = 20,
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    normalization: str = "minmax",
) -> Node:
    """Join parallel retriever arms: fuse the hit lists in state keys ``inputs`` into ``k`` hits."""
    from ragloom.retrieval.hybrid import HybridRetriever

    keys = [inputs] if isinstance(inputs, str) else list(inputs)
    if not keys or not all(isinstance(key, str) and key for key in keys):
        raise ConfigError(f"retrieval.fuse: inputs must list state keys of hit lists, got {inputs!r}")
    if k <= 0:
        raise ConfigError(f"retrieval.fuse: k must be > 0, got {k}")
    if weights is not None and len(weights) != len(keys):
        raise ConfigError(
            f"retrieval.fuse: {len(weights)} weights for {len(keys)} inputs {keys}; give one weight per input"
        )
    fuser = HybridRetriever(
        [_NoArm()] * len(keys), fusion=method, weights=weights, normalization=normalization
    )  # validates method and normalization when the flow is built

    def fuse(state: Any) -> dict[str, Any]:
        runs = [list(read_key(state, key, "retrieval.fuse", param="inputs") or []) for key in keys]
        return {output_key: fuser.fuse_hits(runs, k)}

    return fuse


class _NoArm:
    def retrieve(self, query: str, k: int = 10, where: Any = None) -> list[Hit]:
        return []


def context_coverage(question: str, texts: Sequence[str]) -> float:
    """The share of the question's content words (stop words left out) found in ``texts``; 1.0 for a
    question without content words. A cheap, LLM-free "did we retrieve what the question asks about"."""
    wanted = {w for w in _WORD.findall(question.lower()) if w not in _STOP and len(w) > 1}
    if not wanted:
        return 1.0
    found = set(_WORD.findall(" ".join(texts).lower()))
    return len(wanted & found) / len(wanted)


@register("retrieval.coverage")
def coverage_node(
    question_key: str = "question", context_key: str = "context", output_key: str = "coverage"
) -> Node:
    """Write the share of the question's content words the context covers (0..1) -> ``coverage``."""

    def coverage(state: Any) -> dict[str, Any]:
        question = str(read_key(state, question_key, "retrieval.coverage", ""))
        items = list(read_key(state, context_key, "retrieval.coverage", None) or [])
        texts = [_text(item) for item in items]
        return {output_key: context_coverage(question, texts)}

    return coverage


def _text(item: Any) -> str:
    if isinstance(item, Hit | Chunk):
        return item.text
    if isinstance(item, dict):
        return str(item.get("text", ""))
    return str(item)
