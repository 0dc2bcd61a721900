"""Shared run resources for workflow search: one index per dataset, retrievers shared by every candidate,
and a cache of per-(operator config, query) results, so re-evaluating a flow costs almost nothing.

The flows the search builds name no index; their retrieval nodes ask ``ctx.resources["search"]`` (a
:class:`SearchResources`) for hits. BM25 is built in memory from the chunks (a second for thousands of
documents); dense vectors come from a :class:`ragloom.retrieval.index.Index` kept under the cache dir per
dataset path (so the corpus is embedded once, ever; the embedder also caches vectors on disk) and is only
opened when a candidate first asks for dense or hybrid retrieval. The graph index (entity/passage graph,
:mod:`ragloom.retrieval.graph`) is built the first time a candidate asks for ``graph`` retrieval and saved
beside the dense index, so later searches over the same dataset only open it.

``calls`` counts retriever and reranker invocations as if nothing were cached: a deterministic cost that
does not depend on which candidate happened to warm the cache (a graph run counts 3: its hybrid first stage's
bm25 and dense runs, and the walk). Nothing in the search reads it (candidate cost comes from
:func:`ragloom.agents.search.evaluate.retrieval_calls`); it is there to inspect a run.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk, Document, Hit

__all__ = ["BASE_METHODS", "DEPTH", "SearchResources", "resources_for_dataset"]

#: How many hits each base retriever returns before fusion / truncation (one cached run per query).
DEPTH = 100
#: Retrievers whose runs are cached as they are (hybrid fuses the bm25 and dense runs).
BASE_METHODS = ("bm25", "dense", "graph")
#: What :attr:`SearchResources.calls` adds per :meth:`~SearchResources.run`, cached or not: a graph run is
#: its hybrid first stage (bm25 + dense) plus the walk, as in :func:`.evaluate.retrieval_calls`.
_RUN_CALLS = {"graph": 3}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


class SearchResources:
    """Retrievers over one corpus with cached runs; pass as ``invoke(..., context={"search": this})``."""

    def __init__(
        self,
        documents: Sequence[Document],
        chunker: str = "document",
        chunker_params: dict[str, Any] | None = None,
        index_dir: str | Path | None = None,
        embedder: Any = None,
    ) -> None:
        from ragloom.retrieval.chunkers import make_chunker

        self.documents = {d.id: d for d in documents}
        self.chunker, self.chunker_params = chunker, dict(chunker_params or {})
        splitter = make_chunker(chunker, self.chunker_params)
        self.chunks: list[Chunk] = [c for d in documents for c in splitter.split(d.text, d.id)]
        if not self.chunks:
            raise ConfigError("SearchResources: the corpus gave no chunks; is every document empty?")
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self._embedder = embedder
        self._parts: dict[str, Any] = {}
        self._runs: dict[tuple[str, str], list[Hit]] = {}
        self._reranked: dict[tuple[str, str, tuple[str, ...]], list[Hit]] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def clear_cache(self) -> None:
        """Forget cached results (not the indexes): gives each search run honest, cold-cache wall times."""
        self._runs.clear()
        self._reranked.clear()
        self.calls = 0

    # -- retrievers ---------------------------------------------------------------------------------------
    def _part(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            return self._parts[name]

    def bm25(self) -> Any:
        from ragloom.retrieval.bm25 import BM25Retriever

        return self._part("bm25", lambda: BM25Retriever(self.chunks))

    def dense(self) -> Any:
        return self._part("dense", self._open_dense)

    def _open_dense(self) -> Any:
        from ragloom.retrieval.index import Index

        if self.index_dir is None:
            raise ConfigError("SearchResources: dense retrieval needs index_dir (where the vectors are kept)")
        index = Index.create(
            self.index_dir,
            embedder=self._embedder,
            chunker=self.chunker,
            chunker_params=self.chunker_params,
            vector_store="memory",
        )
        index.update(list(self.documents.values()))
        return index.dense()

    def graph(self) -> Any:
        """The graph retriever (PPR from query entities and the hybrid's top passages), built once."""
        return self._part("graph", self._open_graph)

    def _open_graph(self) -> Any:
        from ragloom.retrieval.chunkers import make_chunker
        from ragloom.retrieval.graph.graph_index import GraphIndex
        from ragloom.retrieval.graph.retriever import GraphRetriever

        chunker = None if self.chunker == "document" else make_chunker(self.chunker, self.chunker_params)
        folder = self.index_dir / "graph" if self.index_dir is not None else None
        if folder is not None and (folder / "settings.json").is_file():
            index = GraphIndex.load(folder, embedder=self._embedder, chunker=chunker)
        else:
            index = GraphIndex(embedder=self._embedder, chunker=chunker)
        documents = list(self.documents.values())
        if index.pending(documents) or len(index.doc_hashes) != len(documents):
            index.update(documents, delete_missing=True)
            if folder is not None:
                index.save(folder)
        return GraphRetriever(index)

    def run(self, method: str, query: str) -> list[Hit]:
        """The top :data:`DEPTH` hits of a base retriever (one of :data:`BASE_METHODS`), cached."""
        if method not in BASE_METHODS:
            raise ConfigError(f"unknown base retriever {method!r}; use bm25, dense or graph")
        self.calls += _RUN_CALLS.get(method, 1)  # hit or miss alike
        return self._run(method, query)

    def _run(self, method: str, query: str) -> list[Hit]:
        """:meth:`run` without counting: a graph run's own first stage must not count again on a miss."""
        key = (method, query)
        cached = self._runs.get(key)
        if cached is None:
            if method == "bm25":
                cached = self.bm25().retrieve(query, DEPTH)
            elif method == "dense":
                cached = self.dense().retrieve(query, DEPTH)
            else:
                retriever = self.graph()
                first = self._hybrid(query, retriever.linker.depth, self._run)
                cached = retriever.rank(retriever.seeds(query, first), DEPTH)
            self._runs[key] = cached
        return cached

    def retrieve(self, query: str, k: int, method: str = "hybrid", **fusion: Any) -> list[Hit]:
        """Top-``k`` hits of a base retriever or ``hybrid`` (``fusion``: fusion, weights, ...)."""
        if method in BASE_METHODS:
            return self.run(method, query)[:k]
        if method != "hybrid":
            raise ConfigError(f"unknown retrieval method {method!r}; choose bm25, dense, hybrid or graph")
        return self._hybrid(query, k, self.run, **fusion)

    def _hybrid(self, query: str, k: int, run: Callable[[str, str], list[Hit]], **fusion: Any) -> list[Hit]:
        from ragloom.retrieval.hybrid import HybridRetriever

        fuser = HybridRetriever([_Nothing(), _Nothing()], depth=DEPTH, **fusion)
        return fuser.fuse_hits([run("bm25", query), run("dense", query)], k)

    def rerank(self, name: str, reranker: Any, query: str, hits: Sequence[Hit], k: int | None) -> list[Hit]:
        """``reranker.rerank`` cached by (reranker config, query, candidate ids)."""
        self.calls += 1
        key = (name, query, tuple(h.id for h in hits))
        cached = self._reranked.get(key)
        if cached is None:
            cached = reranker.rerank(query, list(hits), None)
            self._reranked[key] = cached
        return cached if k is None else cached[:k]

    # -- document text for query expansion ---------------------------------------------------------------
    def title(self, doc_id: str) -> str:
        doc = self.documents.get(doc_id)
        title = str(doc.metadata.get("title", "")) if doc is not None else ""
        return title or doc_id

    def mentions(self, doc_id: str) -> list[str]:
        """Documents whose title (>= 4 characters, with a letter) occurs in ``doc_id``'s text: the corpus's
        implicit hyperlinks (built once, lazily, for the whole corpus)."""
        links = self._part("mentions", self._build_mentions)
        return links.get(doc_id, [])  # type: ignore[no-any-return]

    def _build_mentions(self) -> dict[str, list[str]]:
        by_title: dict[str, list[str]] = {}
        for d in self.documents.values():
            title = str(d.metadata.get("title", "")).strip().lower()
            if len(title) >= 4 and any(ch.isalpha() for ch in title):
                by_title.setdefault(title, []).append(d.id)
        out: dict[str, list[str]] = {}
        for d in self.documents.values():
            text = d.text[int(d.metadata.get("body_offset", 0)) :].lower()
            out[d.id] = [o for t, ids in by_title.items() if t in text for o in ids if o != d.id]
        return out

    def lead(self, doc_id: str, words: int = 20) -> str:
        """The first sentence of a document (at most ``words`` words)."""
        doc = self.documents.get(doc_id)
        if doc is None:
            return ""
        body = doc.text[int(doc.metadata.get("body_offset", 0)) :]
        first = _SENTENCE.split(body.strip(), maxsplit=1)[0]
        return " ".join(first.split()[:words])


class _Nothing:
    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        return []


def index_dir_for(dataset_path: str | Path, chunker: str) -> Path:
    """The cache folder of a dataset's search index (one per dataset location and chunker)."""
    from ragloom.core.paths import cache_dir

    resolved = str(Path(dataset_path).resolve())
    digest = hashlib.sha1(f"{resolved}|{chunker}".encode()).hexdigest()[:12]
    return cache_dir("search-indexes", f"{Path(resolved).name}-{digest}")


def resources_for_dataset(dataset: Any, dataset_path: str | Path, with_title: bool = True) -> SearchResources:
    """Resources over a loaded :class:`ragloom.eval.datasets.Dataset` (long documents split in paragraphs)."""
    from ragloom.eval.build import resolve_chunker
    from ragloom.eval.datasets import indexable_documents

    documents = indexable_documents(dataset, with_title)
    chunker = resolve_chunker(None, documents)
    return SearchResources(
        documents, chunker.uses, chunker.params, index_dir=index_dir_for(dataset_path, chunker.uses)
    )
