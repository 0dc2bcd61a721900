"""Answer and location metrics for QA over files: answer@B, answer@k, source@k and page@k.

They score a ranked list of chunks, each a :class:`~ragloom.core.types.Hit` whose chunk metadata carries the
ingestion layer's location keys (``source``: the file, ``page``/``page_end``: the physical 1-based PDF page
range, absent for formats without pages). Peers' chunks are converted to the same shape, so every system is
scored by the same functions on its own chunks.

- **answer@B** (budget-normalised): the normalised gold answer appears in the context assembled from the
  ranked chunks, pasted in order and cut at ``B`` tokens of the budget tokenizer (the one the context
  selectors count in). A system with big chunks cannot buy recall: it pays for every token it pastes.
- **answer@k**: the gold answer appears in the top ``k`` chunks, whatever their length.
- **source@k**: one of the top ``k`` chunks comes from the gold file.
- **page@k**: one of the top ``k`` chunks comes from the gold file and, when the gold has a page (PDFs), its
  page range ``page..page_end`` contains the gold page.

Normalisation follows docs-a's DATASET.md: typographic quotes and non-breaking spaces become ASCII, whitespace
runs collapse to one space, lower case. Only ``answers[0]`` is matched: it is the canonical answer that occurs
verbatim in the source; later variants are for grading generated answers and need not occur in the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from ragloom.core.protocols import TokenCounter
from ragloom.core.types import Hit

__all__ = [
    "answer_at_budget",
    "answer_at_budgets",
    "answer_at_k",
    "budget_context",
    "hit_page_range",
    "hit_source",
    "normalize_text",
    "page_at_k",
    "source_at_k",
]

_TYPOGRAPHIC = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00a0": " ",
        "\u202f": " ",
        "\u2007": " ",
    }
)
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Typographic quotes and non-breaking spaces to ASCII, whitespace runs to one space, lower case."""
    return _SPACES.sub(" ", text.translate(_TYPOGRAPHIC)).strip().lower()


def hit_source(hit: Hit) -> str:
    """The file a hit comes from: metadata ``source`` (else the document id), as a POSIX file name."""
    source = hit.chunk.metadata.get("source") or hit.chunk.doc_id
    return PurePosixPath(str(source).replace("\\", "/")).name


def hit_page_range(hit: Hit) -> tuple[int, int] | None:
    """The hit's physical page range ``(page, page_end)``, or None when the chunk has no page."""
    meta: dict[str, Any] = hit.chunk.metadata
    page = meta.get("page")
    if page is None:
        return None
    end = meta.get("page_end")
    return int(page), int(end if end is not None else page)


def _prefix_within(text: str, budget: int, counter: TokenCounter) -> str:
    """The longest character prefix of ``text`` that costs at most ``budget`` tokens (binary search)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if counter.count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def budget_context(
    texts: Sequence[str], budget: int, counter: TokenCounter, costs: Sequence[int] | None = None
) -> list[str]:
    """The ranked ``texts`` pasted in order until ``budget`` tokens, the last one cut to what still fits.

    Each text costs its own token count (the selectors' per-passage cost; ``costs``: those counts, when the
    caller cuts the same texts at several budgets); a text that does not fit whole is truncated at the budget
    rather than skipped, as a prompt filled to its limit would be.
    """
    kept: list[str] = []
    used = 0
    for i, text in enumerate(texts):
        if used >= budget:
            break
        cost = costs[i] if costs is not None else counter.count_tokens(text)
        if used + cost <= budget:
            kept.append(text)
            used += cost
            continue
        head = _prefix_within(text, budget - used, counter)
        if head:
            kept.append(head)
        break
    return kept


def _contains(texts: Sequence[str], answer: str) -> float:
    gold = normalize_text(answer)
    if not gold:
        return 0.0
    return float(gold in normalize_text(" ".join(texts)))


def answer_at_budget(
    hits: Sequence[Hit], answers: Sequence[str], budget: int, counter: TokenCounter
) -> float:
    """1.0 when ``answers[0]`` (normalised) appears in the first ``budget`` tokens of the ranked context."""
    if not answers:
        return 0.0
    return _contains(budget_context([h.text for h in hits], budget, counter), answers[0])


def answer_at_budgets(
    texts: Sequence[str], answers: Sequence[str], budgets: Sequence[int], counter: TokenCounter
) -> list[float]:
    """answer@B (:func:`answer_at_budget`) for every B in ``budgets`` over the same ranked ``texts``, each
    text's tokens counted once."""
    if not answers:
        return [0.0] * len(budgets)
    costs = [counter.count_tokens(t) for t in texts]
    return [_contains(budget_context(texts, b, counter, costs), answers[0]) for b in budgets]


def answer_at_k(hits: Sequence[Hit], answers: Sequence[str], k: int) -> float:
    """1.0 when ``answers[0]`` (normalised) appears in the top ``k`` chunks."""
    if not answers:
        return 0.0
    return _contains([h.text for h in hits[:k]], answers[0])


def source_at_k(hits: Sequence[Hit], source: str, k: int) -> float:
    """1.0 when one of the top ``k`` chunks comes from the file ``source`` (compared by file name)."""
    gold = PurePosixPath(source).name
    return float(any(hit_source(h) == gold for h in hits[:k]))


def page_at_k(hits: Sequence[Hit], source: str, page: int | None, k: int) -> float:
    """1.0 when a top-``k`` chunk is from ``source`` and (if ``page`` is given) its page range holds it.

    A chunk of the right PDF without a page never counts: an unplaced chunk cannot be cited by page.
    """
    gold = PurePosixPath(source).name
    for hit in hits[:k]:
        if hit_source(hit) != gold:
            continue
        if page is None:
            return 1.0
        pages = hit_page_range(hit)
        if pages is not None and pages[0] <= page <= pages[1]:
            return 1.0
    return 0.0
