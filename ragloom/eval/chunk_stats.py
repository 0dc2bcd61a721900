"""What a system actually indexed: chunk sizes against the embedder's window, and chunks that are markup.

Two failure modes a user of a document pipeline never sees but pays for: a chunk longer than the embedder's
window is silently truncated (the vector describes only its head), and a chunk of raw HTML/SVG markup is
noise that still competes for the top ranks. Both are measured on any system's chunk texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ragloom.core.protocols import TokenCounter

__all__ = ["MINILM_WINDOW", "chunk_stats", "is_markup", "markup_share", "minilm_token_counter"]

#: all-MiniLM-L6-v2's ``max_seq_length``, special tokens included ([CLS] ... [SEP]).
MINILM_WINDOW = 256
_SPECIAL_TOKENS = 2
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>")
#: A chunk whose non-space characters are at least this share tag markup is a markup chunk.
MARKUP_THRESHOLD = 0.3


def markup_share(text: str) -> float:
    """Share of the non-space characters of ``text`` that lie inside HTML/XML tags (``<svg>``, ``</p>``)."""
    total = sum(1 for ch in text if not ch.isspace())
    if total == 0:
        return 0.0
    tagged = sum(sum(1 for ch in m.group(0) if not ch.isspace()) for m in _TAG.finditer(text))
    return tagged / total


def is_markup(text: str, threshold: float = MARKUP_THRESHOLD) -> bool:
    """True when the chunk is mostly tags (see :data:`MARKUP_THRESHOLD`): markup, not prose or a table."""
    return markup_share(text) >= threshold


def minilm_token_counter() -> TokenCounter:
    """A token counter in all-MiniLM-L6-v2's own tokenizer (the bundled model's ``tokenizer.json``)."""
    from tokenizers import Tokenizer

    from ragloom.llm.tokens import HFTokenCounter
    from ragloom.retrieval.embedders import default_model_path

    tokenizer = Tokenizer.from_file(str(Path(default_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()
    return HFTokenCounter(tokenizer, name="all-MiniLM-L6-v2")


def chunk_stats(texts: Sequence[str], counter: TokenCounter, window: int = MINILM_WINDOW) -> dict[str, float]:
    """Chunks, mean/max embedder tokens, the share over ``window`` (truncated when embedded), markup chunks.

    ``counter`` counts the embedder's tokens without special tokens; a chunk is over the window when its
    tokens plus [CLS] and [SEP] exceed ``window``.
    """
    counts = [counter.count_tokens(t) for t in texts]
    n = len(counts)
    markup = sum(1 for t in texts if is_markup(t))
    over = sum(1 for c in counts if c + _SPECIAL_TOKENS > window)
    return {
        "chunks": float(n),
        "tokens_mean": sum(counts) / n if n else 0.0,
        "tokens_max": float(max(counts, default=0)),
        "over_window_share": over / n if n else 0.0,
        "markup_chunks": float(markup),
        "markup_share": markup / n if n else 0.0,
    }
