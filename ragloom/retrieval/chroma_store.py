"""The chromadb vector store: embedded (``PersistentClient`` on a folder) or a server (``HttpClient``).

We always hand chroma our own precomputed vectors and create collections with ``embedding_function=None``:
chroma's default embedding function downloads a model on first use, which fails offline. The collection uses
the cosine space, so ``1 - distance`` is the cosine similarity the VectorStore protocol promises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.retrieval.filters import Filter, Where, compile_filter
from ragloom.retrieval.vector_math import as_matrix

__all__ = ["ChromaVectorStore"]

DEFAULT_COLLECTION = "ragloom"
_PAGE = 5000


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _clean_metadata(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chroma takes flat str/int/float/bool values, no empty dicts: drop None, JSON-encode the rest."""
    if not meta:
        return None
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if value is None:
            continue
        out[str(key)] = (
            value if isinstance(value, str | int | float | bool) else json.dumps(value, default=str)
        )
    return out or None


class ChromaVectorStore:
    """VectorStore over one chroma collection (cosine space, our vectors, telemetry off).

    - ``ChromaVectorStore(path)``: embedded, persisted in the folder ``path`` (created when missing).
    - ``ChromaVectorStore.connect(host, port)``: client mode against a running ``chroma run`` server.
    ``collection`` names the collection (3-512 chars of ``[a-zA-Z0-9._-]``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        collection: str = DEFAULT_COLLECTION,
        *,
        client: Any = None,
    ) -> None:
        if (path is None) == (client is None):
            raise ConfigError("ChromaVectorStore needs exactly one of path= (embedded) or client= (server)")
        import chromadb

        self.path = Path(path) if path is not None else None
        if client is None:
            assert self.path is not None
            self.path.mkdir(parents=True, exist_ok=True)
            client = chromadb.PersistentClient(path=str(self.path), settings=_settings())
        self.client = client
        self.collection_name = collection
        try:
            self._collection = client.get_or_create_collection(
                collection, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        except Exception as e:  # chromadb raises its own types (validation, connection) without a common base
            raise ConfigError(f"chroma could not open collection {collection!r}: {e}") from e
        self._max_batch = int(getattr(client, "get_max_batch_size", lambda: _PAGE)())
        self._dim: int | None = None

    @classmethod
    def connect(
        cls, host: str = "127.0.0.1", port: int = 8000, collection: str = DEFAULT_COLLECTION
    ) -> ChromaVectorStore:
        """Client mode: a store on a chroma server (``chroma run --path DIR --port PORT``)."""
        import chromadb

        try:
            client = chromadb.HttpClient(host=host, port=port, settings=_settings())
            client.heartbeat()
        except Exception as e:
            raise ConfigError(
                f"no chroma server answers at http://{host}:{port} ({e}); start one with "
                f"`chroma run --path DIR --port {port}` or check host/port"
            ) from e
        return cls(collection=collection, client=client)

    # -- VectorStore protocol ---------------------------------------------------------------------------
    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadata: Sequence[dict[str, Any]] | None = None
    ) -> None:
        """Upsert by id, in batches chroma accepts."""
        ids = list(ids)
        matrix = as_matrix(vectors, len(ids), "ChromaVectorStore.add")
        metas = list(metadata) if metadata is not None else [None] * len(ids)
        if len(metas) != len(ids):
            raise ConfigError(f"ChromaVectorStore.add: {len(ids)} ids but {len(metas)} metadata entries")
        last = {doc_id: i for i, doc_id in enumerate(ids)}  # chroma rejects duplicate ids in one call
        order = list(last.values())
        for s in range(0, len(order), self._max_batch):
            part = order[s : s + self._max_batch]
            cleaned = [_clean_metadata(metas[i]) for i in part]
            try:
                self._collection.upsert(
                    ids=[ids[i] for i in part],
                    embeddings=matrix[part],
                    metadatas=cleaned if any(m is not None for m in cleaned) else None,  # type: ignore[arg-type]
                )
            except Exception as e:  # chromadb's errors share no base class we can name
                raise ConfigError(
                    f"chroma rejected vectors for collection {self.collection_name!r}: {e}; "
                    "use one embedder (one dimension) per collection"
                ) from e

    def query(
        self,
        vector: np.ndarray,
        k: int,
        *,
        ids: Collection[str] | None = None,
        where: Where | Filter | None = None,
    ) -> list[tuple[str, float]]:
        """Up to ``k`` (id, cosine) pairs, best first; an empty collection gives ``[]``.

        ``ids`` restricts the search to those ids; ``where`` filters on the stored metadata, as a chroma
        ``where`` clause when chroma can express it, else as the set of ids whose metadata matches.
        """
        if k <= 0:
            return []
        n = self._collection.count()
        if n == 0:
            return []
        q = as_matrix(vector, 1, "ChromaVectorStore.query")
        restrict: dict[str, Any] = {}
        compiled = compile_filter(where)
        if compiled is not None and compiled.chroma is None:  # e.g. $glob: chroma cannot, the predicate can
            allowed = self._matching_ids(compiled)
            ids = allowed if ids is None else sorted(set(ids) & set(allowed))
        elif compiled is not None:
            restrict["where"] = compiled.chroma
        if ids is not None:
            ids = list(ids)
            if not ids:
                return []
            restrict["ids"] = ids
            n = min(n, len(ids))
        try:
            res = self._collection.query(
                query_embeddings=q, n_results=min(k, n), include=["distances"], **restrict
            )
        except Exception as e:
            raise IndexError_(f"chroma query on collection {self.collection_name!r} failed: {e}") from e
        found = res["ids"][0]
        distances = (res.get("distances") or [[]])[0]
        pairs = [(i, 1.0 - float(d)) for i, d in zip(found, distances, strict=True)]
        pairs.sort(key=lambda p: -p[1])
        return pairs

    def _matching_ids(self, where: Filter) -> list[str]:
        """Ids whose stored metadata matches ``where`` (paged reads of the metadata)."""
        out: list[str] = []
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            metas = page.get("metadatas") or [None] * len(page["ids"])
            out.extend(i for i, m in zip(page["ids"], metas, strict=True) if where.matches(m or {}))
            if len(page["ids"]) < _PAGE:
                return out
            offset += _PAGE

    def delete(self, ids: Sequence[str]) -> None:
        """Remove ids (unknown ids are ignored)."""
        ids = list(dict.fromkeys(ids))
        for s in range(0, len(ids), self._max_batch):
            self._collection.delete(ids=ids[s : s + self._max_batch])

    def __len__(self) -> int:
        return int(self._collection.count())

    # -- extras -----------------------------------------------------------------------------------------
    def ids(self) -> list[str]:
        """All stored ids (paged reads, so large collections do not load at once)."""
        out: list[str] = []
        offset = 0
        while True:
            page = self._collection.get(include=[], limit=_PAGE, offset=offset)["ids"]
            out.extend(page)
            if len(page) < _PAGE:
                return out
            offset += _PAGE

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors for ``ids`` in that order; an unknown id raises KeyError."""
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        res = self._collection.get(ids=list(ids), include=["embeddings"])
        by_id = dict(zip(res["ids"], res["embeddings"], strict=True))  # type: ignore[arg-type]
        return np.stack([np.asarray(by_id[i], dtype=np.float32) for i in ids])

    def save(self) -> None:
        """Nothing to do: chroma persists every write."""
