"""Late-interaction reranking: ColBERT-style MaxSim over the embedder's contextual token vectors.

No ColBERT weights ship on PyPI, so this uses the bi-encoder's own token vectors (``Embedder.embed_tokens``).
Document token vectors are cached in memory (LRU by text hash), because the same candidates recur across
queries and computing them is a full transformer pass.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder
from ragloom.core.types import Hit
from ragloom.retrieval.fusion import normalize_minmax
from ragloom.retrieval.rerankers.scoring import maxsim, order_by_scores
from ragloom.retrieval.vector_math import l2_normalize

__all__ = ["MaxSimReranker"]


class MaxSimReranker:
    """Reranker: score = MaxSim(query tokens, passage tokens) + ``first_stage_weight`` * min-max(first-stage).

    ``cache_size`` bounds the number of passages whose token vectors stay in memory.
    """

    source = "maxsim"

    def __init__(self, embedder: Embedder, first_stage_weight: float = 0.0, cache_size: int = 4096) -> None:
        if cache_size < 0:
            raise ConfigError(f"MaxSimReranker cache_size must be >= 0, got {cache_size}")
        self.embedder = embedder
        self.first_stage_weight = float(first_stage_weight)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # parallel flow runs (search, serve) share one reranker
        self.computed = 0  # passages run through the model (cache misses)

    def token_vectors(self, text: str) -> np.ndarray:
        """Normalised token vectors of ``text`` (cached)."""
        key = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            vectors = self._cache.get(key)
            if vectors is not None:
                self._cache.move_to_end(key)
                return vectors
        vectors = l2_normalize(self.embedder.embed_tokens(text)[0])
        self._remember([(key, vectors)], self.cache_size)
        return vectors

    def _remember(self, items: Sequence[tuple[str, np.ndarray]], keep: int) -> None:
        """Count freshly computed vectors and cache them, keeping the ``keep`` most recent."""
        with self._lock:
            self.computed += len(items)
            for key, vectors in items:
                self._cache[key] = vectors
            while len(self._cache) > keep:
                self._cache.popitem(last=False)

    def _batch_token_vectors(self, texts: Sequence[str]) -> list[np.ndarray] | None:
        """Token vectors of many passages in one batched forward pass (truncated at the model's window).

        One padded batch costs about as much as two single passes, which is what makes reranking 20
        candidates per query affordable on a CPU. Needs a sentence-transformers model (``embedder.model``);
        returns None for other embedders, which then go one text at a time through ``embed_tokens``.
        """
        model = getattr(self.embedder, "model", None)
        if model is None or not hasattr(model, "encode"):
            return None
        outputs = model.encode(
            list(texts),
            output_value="token_embeddings",
            batch_size=32,
            show_progress_bar=False,
            convert_to_numpy=False,
        )
        # drop [CLS] and [SEP] so the vectors match embed_tokens' content tokens
        return [l2_normalize(np.asarray(o[1:-1].float().cpu().numpy(), dtype=np.float32)) for o in outputs]

    def _fill_cache(self, texts: Sequence[str]) -> None:
        keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).hexdigest() for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        if len(missing) < 2:
            return
        batch = self._batch_token_vectors(list(missing.values()))
        if batch is None:
            return
        self._remember(list(zip(missing, batch, strict=True)), max(self.cache_size, len(texts)))

    def rerank(self, query: str, hits: Sequence[Hit], k: int | None = None) -> list[Hit]:
        """The best ``k`` of ``hits`` by MaxSim (all when None), best first."""
        if not hits:
            return []
        q = l2_normalize(self.embedder.embed_tokens(query)[0])
        self._fill_cache([h.text for h in hits])
        scores = np.array([maxsim(q, self.token_vectors(h.text)) for h in hits], dtype=np.float64)
        if self.first_stage_weight:
            scores = scores + self.first_stage_weight * normalize_minmax(np.array([h.score for h in hits]))
        return [hits[i].with_score(scores[i], self.source) for i in order_by_scores(scores.tolist(), k)]
