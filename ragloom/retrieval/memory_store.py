"""An exact (brute-force) cosine vector store in numpy, saved to one ``.npz`` file.

Exact search over a few hundred thousand 384-d rows is a single matrix-vector product, faster than an ANN
index at this scale and free of approximation; use chromadb for larger or shared collections.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.retrieval.filters import Filter, Where, compile_filter
from ragloom.retrieval.vector_math import as_matrix, matvec, top_k_indices

__all__ = ["InMemoryVectorStore"]


class InMemoryVectorStore:
    """VectorStore over a float32 matrix of L2-normalised rows; ``query`` returns exact cosine similarity.

    ``InMemoryVectorStore(path)`` loads ``path`` when it exists; :meth:`save` writes it (atomically: a temp
    file then a rename, so a killed save leaves the previous file intact). Without a path it lives in memory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._metadata: list[dict[str, Any]] = []
        if self.path is not None and self.path.exists():
            self._read(self.path)

    # -- VectorStore protocol ---------------------------------------------------------------------------
    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """Insert or overwrite rows by id; vectors are L2-normalised on the way in."""
        ids = list(ids)
        matrix = as_matrix(vectors, len(ids), "InMemoryVectorStore.add")
        metas = list(metadata) if metadata is not None else [{} for _ in ids]
        if len(metas) != len(ids):
            raise ConfigError(f"InMemoryVectorStore.add: {len(ids)} ids but {len(metas)} metadata entries")
        if not ids:
            return
        if self._matrix.size and matrix.shape[1] != self._matrix.shape[1]:
            raise ConfigError(
                f"InMemoryVectorStore.add: vectors have dim {matrix.shape[1]} but the store holds dim "
                f"{self._matrix.shape[1]}; use one embedder per store"
            )
        last = {doc_id: i for i, doc_id in enumerate(ids)}  # an id given twice: the last one wins (upsert)
        fresh = [(doc_id, i) for doc_id, i in last.items() if doc_id not in self._row]
        for doc_id, i in last.items():
            if doc_id in self._row:
                self._matrix[self._row[doc_id]] = matrix[i]
                self._metadata[self._row[doc_id]] = dict(metas[i])
        if fresh:
            base = self._matrix if self._matrix.size else np.zeros((0, matrix.shape[1]), dtype=np.float32)
            self._matrix = np.concatenate([base, matrix[[i for _, i in fresh]]])
            for doc_id, i in fresh:
                self._row[doc_id] = len(self._ids)
                self._ids.append(doc_id)
                self._metadata.append(dict(metas[i]))

    def query(
        self,
        vector: np.ndarray,
        k: int,
        *,
        ids: Collection[str] | None = None,
        where: Where | Filter | None = None,
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (id, cosine) pairs, best first; an empty store gives ``[]``.

        ``ids`` restricts the search to those ids, ``where`` to rows whose stored metadata matches the filter
        (:mod:`ragloom.retrieval.filters`); both are applied before the top ``k`` is taken.
        """
        if k <= 0 or not self._ids:
            return []
        q = as_matrix(vector, 1, "InMemoryVectorStore.query")[0]
        if q.shape[0] != self._matrix.shape[1]:
            raise ConfigError(
                f"InMemoryVectorStore.query: query has dim {q.shape[0]}, "
                f"the store holds dim {self._matrix.shape[1]}"
            )
        rows = self._allowed_rows(ids, compile_filter(where))
        if rows is None:
            scores = matvec(self._matrix, q)
            return [(self._ids[i], float(scores[i])) for i in top_k_indices(scores, k)]
        if rows.size == 0:
            return []
        scores = matvec(self._matrix[rows], q)
        return [(self._ids[rows[i]], float(scores[i])) for i in top_k_indices(scores, k)]

    def _allowed_rows(self, ids: Collection[str] | None, where: Filter | None) -> np.ndarray | None:
        """Row numbers allowed by ``ids`` and ``where`` (ascending), or None when nothing restricts."""
        if ids is None and where is None:
            return None
        if ids is not None:
            rows = sorted({self._row[i] for i in ids if i in self._row})
        else:
            rows = list(range(len(self._ids)))
        if where is not None:
            rows = [r for r in rows if where.matches(self._metadata[r])]
        return np.asarray(rows, dtype=np.int64)

    def delete(self, ids: Sequence[str]) -> None:
        """Remove ids (unknown ids are ignored)."""
        drop = {self._row[i] for i in ids if i in self._row}
        if not drop:
            return
        keep = [r for r in range(len(self._ids)) if r not in drop]
        self._matrix = self._matrix[keep]
        self._ids = [self._ids[r] for r in keep]
        self._metadata = [self._metadata[r] for r in keep]
        self._row = {doc_id: r for r, doc_id in enumerate(self._ids)}

    def __len__(self) -> int:
        return len(self._ids)

    # -- extras -----------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """All stored ids, in insertion order."""
        return list(self._ids)

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """The stored (normalised) rows for ``ids``; an unknown id raises KeyError."""
        dim = self._matrix.shape[1] if self._matrix.size else 0
        return self._matrix[[self._row[i] for i in ids]] if ids else np.zeros((0, dim), dtype=np.float32)

    def metadata(self, doc_id: str) -> dict[str, Any]:
        return dict(self._metadata[self._row[doc_id]])

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the store to ``path`` (default: the constructor's path) atomically; returns the path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ConfigError("InMemoryVectorStore.save: no path; pass save(path) or construct with a path")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                matrix=self._matrix,
                ids=np.array(self._ids, dtype=str),
                metadata=np.array(json.dumps(self._metadata)),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        self.path = target
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> InMemoryVectorStore:
        """Open a store written by :meth:`save`; a missing file is an error (the constructor starts empty)."""
        if not Path(path).exists():
            raise IndexError_(f"no vector store file at {path}; build the index first (ragloom index ...)")
        return cls(path)

    def _read(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                matrix = np.asarray(data["matrix"], dtype=np.float32)
                ids = [str(i) for i in data["ids"].tolist()]
                metadata = json.loads(str(data["metadata"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # truncated or not an npz
            raise IndexError_(f"vector store file {path} is unreadable ({e}); rebuild it") from e
        self._matrix = matrix if ids else np.zeros((0, 0), dtype=np.float32)
        self._ids = ids
        self._metadata = metadata
        self._row = {doc_id: r for r, doc_id in enumerate(ids)}
