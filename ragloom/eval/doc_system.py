"""ragloom's default document pipelines (bm25, dense, hybrid) as a files-harness ``FileSystem``.

Ingestion is what ``ragloom index`` does to a folder of files: the one ingestion layer
(:func:`ragloom.documents.load_folder`), the same chunks (the files default of
:class:`~ragloom.documents.settings.ChunkSettings`, through the index's own chunking function), MiniLM
vectors, BM25 and an exact vector store, all in memory. ``heading_prefix`` puts the document title and the
section path in front of what BM25 and the embedder see (the chunk text itself, and so its span and what the
metrics read, stays unprefixed); it is a setting here so the benchmark can measure it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragloom.core.protocols import Embedder, Retriever
from ragloom.core.types import Chunk, Hit

__all__ = ["RagloomDocumentSystem", "heading_path", "index_text"]


def heading_path(chunk: Chunk) -> str:
    """``title > section`` of a chunk (the title once, even when the section path starts with it)."""
    title = str(chunk.metadata.get("title") or "").strip()
    section = str(chunk.metadata.get("section") or "").strip()
    if title and section and not section.startswith(title):
        return f"{title} > {section}"
    return section or title


def index_text(chunk: Chunk, heading_prefix: bool) -> str:
    """What BM25 and the embedder see for ``chunk``: its text, after its heading path when asked."""
    head = heading_path(chunk) if heading_prefix else ""
    return f"{head}\n{chunk.text}" if head else chunk.text


class _OriginalChunks:
    """A retriever over prefixed copies of chunks that answers with the original (unprefixed) chunks."""

    def __init__(self, inner: Retriever, originals: Mapping[str, Chunk]) -> None:
        self.inner = inner
        self.originals = originals
        self.source = getattr(inner, "source", "")

    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        hits = self.inner.retrieve(query, k, where)
        return [Hit(self.originals[h.id], h.score, h.source) for h in hits]


@dataclass
class RagloomDocumentSystem:
    """ragloom's document pipelines over one folder: ingest once, then ``bm25``, ``dense`` and ``hybrid``.

    ``chunker``: parameters of the files chunker (``structured``; its defaults when empty, which is what
    ``ragloom index`` uses). ``heading_prefix``: BM25 and
    the embedder see the heading path before the text; ``dense_prefix`` overrides it for the embedder alone
    (None: same as ``heading_prefix``). ``fusion``: the hybrid's fusion (default: the library's tuned
    default, :data:`ragloom.eval.pipelines.DEFAULT_HYBRID_FUSION`). ``dense=False`` skips the embedder: only
    ``bm25`` is offered.
    """

    name: str = "ragloom"
    chunker: dict[str, Any] = field(default_factory=dict)
    heading_prefix: bool = False
    dense_prefix: bool | None = None
    fusion: dict[str, Any] | None = None
    embedder: Embedder | None = None
    dense: bool = True
    skipped: list[str] = field(default_factory=list)
    _retrievers: dict[str, Retriever] = field(default_factory=dict)

    def ingest(self, files_dir: Path) -> Sequence[Chunk]:
        """Load every file, chunk along sections and pages, embed, build BM25 and the vector store."""
        from ragloom.documents.folder import load_folder
        from ragloom.documents.settings import FILES_CHUNKER, ChunkSettings
        from ragloom.retrieval.embedders import default_embedder

        embedder = self.embedder or default_embedder()
        warm_up = getattr(embedder, "warm_up", None)
        if self.dense and callable(warm_up):  # the model loads while the files are read and chunked
            warm_up()
        documents, report = load_folder(files_dir)
        self.skipped = [f"{s.source}: {s.reason}" for s in report.skipped]
        chunks = ChunkSettings(FILES_CHUNKER, self.chunker).chunk(documents)
        self._build(chunks)
        return chunks

    def _build(self, chunks: list[Chunk]) -> None:
        from ragloom.eval.fusion_choice import FALLBACK
        from ragloom.eval.pipelines import DEFAULT_HYBRID_FUSION
        from ragloom.retrieval.bm25 import BM25Retriever
        from ragloom.retrieval.dense import DenseRetriever
        from ragloom.retrieval.embedders import default_embedder
        from ragloom.retrieval.hybrid import HybridRetriever
        from ragloom.retrieval.memory_store import InMemoryVectorStore

        seen = [replace(c, text=index_text(c, self.heading_prefix)) for c in chunks]
        originals = {c.id: c for c in chunks}
        bm25: Retriever = _OriginalChunks(BM25Retriever(seen), originals)
        self._retrievers = {"bm25": bm25}
        if not self.dense:
            return
        embedder = self.embedder or default_embedder()
        dense_prefix = self.heading_prefix if self.dense_prefix is None else self.dense_prefix
        store = InMemoryVectorStore()
        store.add([c.id for c in chunks], embedder.embed([index_text(c, dense_prefix) for c in chunks]))
        dense: Retriever = DenseRetriever(embedder, store, originals)
        fusion = dict(self.fusion or DEFAULT_HYBRID_FUSION)
        if fusion.get("method") == "auto":  # chosen on a dev split by the pipelines; a files set has no
            fusion = dict(FALLBACK)  # such tuning here, so the label-free fallback (z-score 0.5/0.5)
        hybrid = HybridRetriever(
            [bm25, dense],
            fusion=fusion.get("method", "rrf"),
            weights=fusion.get("weights"),
            normalization=fusion.get("normalization", "minmax"),
            rrf_k=int(fusion.get("rrf_k", 60)),
        )
        self._retrievers.update({"dense": dense, "hybrid": hybrid})

    def retrievers(self) -> Mapping[str, Retriever]:
        if not self._retrievers:
            from ragloom.core.errors import ConfigError

            raise ConfigError(f"system {self.name!r}: call ingest(files_dir) before retrievers()")
        return dict(self._retrievers)
