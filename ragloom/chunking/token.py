"""Fixed-size chunks counted in the embedder's tokenizer tokens, with overlap.

Only the fast tokenizer (``tokenizer.json``) is loaded, not the model, so this chunker is cheap. Chunk
boundaries fall on token boundaries, read from the tokenizer's offset mapping.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ragloom.chunking.base import Span, check_overlap, check_positive, make_chunks
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk


@lru_cache(maxsize=4)
def load_tokenizer(model_path: str | None = None) -> Any:
    """The fast tokenizer of a local model folder (default: the bundled all-MiniLM-L6-v2), untruncated."""
    from tokenizers import Tokenizer

    if model_path is None:
        from ragloom.retrieval.embedders import default_model_path

        model_path = default_model_path()
    path = Path(model_path) / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"TokenChunker: no fast tokenizer at {path}; pass model_path= of a folder with one")
    tok = Tokenizer.from_file(str(path))
    tok.no_truncation()
    tok.no_padding()
    return tok


def token_offsets(text: str, model_path: str | None = None) -> list[Span]:
    """Character spans of the content tokens of ``text`` (no special tokens)."""
    enc = load_tokenizer(model_path).encode(text, add_special_tokens=False)
    return [(s, e) for s, e in enc.offsets if e > s]


class TokenChunker:
    """Chunks of ``size`` tokens, consecutive chunks sharing ``overlap`` tokens."""

    def __init__(self, size: int = 256, overlap: int = 32, model_path: str | None = None) -> None:
        check_positive("TokenChunker", size=size)
        check_overlap("TokenChunker", size, overlap)
        self.size = size
        self.overlap = overlap
        self.model_path = model_path

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        offsets = token_offsets(text, self.model_path)
        spans: list[Span] = []
        step = self.size - self.overlap
        for i in range(0, len(offsets), step):
            j = min(i + self.size, len(offsets))
            spans.append((offsets[i][0], offsets[j - 1][1]))
            if j == len(offsets):
                break
        return make_chunks(text, doc_id, spans, chunker="token")
