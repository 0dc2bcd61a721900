"""Cross-encoder reranking with any sentence-transformers ``CrossEncoder`` folder the user supplies.

No cross-encoder weights ship on PyPI, so ragloom bundles none; the class takes a local path and refuses to
touch a model hub.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.types import Hit
from ragloom.retrieval.rerankers.scoring import order_by_scores

__all__ = ["CrossEncoderReranker"]


class CrossEncoderReranker:
    """Reranker: ``CrossEncoder(model_path).predict([(query, passage), ...])``; loads on first use."""

    source = "cross-encoder"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        batch_size: int = 32,
        device: str = "cpu",
        max_length: int | None = None,
    ) -> None:
        path = Path(model_path)
        if not path.is_dir():
            raise ConfigError(
                f"CrossEncoderReranker: no model folder at {str(path)!r}. Pass the local folder of a "
                "sentence-transformers cross-encoder (e.g. one saved with CrossEncoder.save(path)); "
                "ragloom never downloads models"
            )
        self.model_path = path
        self.batch_size = batch_size
        self.device = device
        self.max_length = max_length
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import CrossEncoder

            try:
                self._model = CrossEncoder(
                    str(self.model_path), device=self.device, max_length=self.max_length
                )
            except (
                Exception
            ) as e:  # transformers raises OSError/ValueError/… for a folder that is not a model
                raise ConfigError(f"could not load a cross-encoder from {str(self.model_path)!r}: {e}") from e
        return self._model

    def rerank(self, query: str, hits: Sequence[Hit], k: int | None = None) -> list[Hit]:
        """The best ``k`` of ``hits`` by cross-encoder score (all when None), best first."""
        if not hits:
            return []
        raw = self.model.predict(
            [(query, h.text) for h in hits], batch_size=self.batch_size, show_progress_bar=False
        )
        scores = [float(s) for s in (raw.reshape(len(hits), -1)[:, -1] if hasattr(raw, "reshape") else raw)]
        return [hits[i].with_score(scores[i], self.source) for i in order_by_scores(scores, k)]
