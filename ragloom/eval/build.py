"""Turn a :class:`PipelineSpec` into a working pipeline over in-memory indexes.

:class:`CorpusIndex` chunks a corpus once and builds each index (BM25, dense, dense with late chunking) on
first use, remembering how long each took; pipelines that share a chunker share it through an
:class:`IndexCache`, so a benchmark comparing six pipelines embeds the corpus once. Late-chunking vectors are
cached on disk per (model, document text, chunk spans, window settings), because ``embed_tokens`` results are
not in the embedder's text cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import LLM, Chunker, Embedder, Reranker, Retriever
from ragloom.core.types import Chunk, Document, Hit
from ragloom.eval.pipelines import ComponentSpec, PipelineSpec

__all__ = ["AUTO_CHUNK_MIN_WORDS", "CorpusIndex", "IndexCache", "RetrievalPipeline", "build_pipeline"]

#: "auto" chunking splits documents into paragraphs (long ones into 200-word windows) when the corpus's mean
#: document is longer than this many words (squad-articles-a: ~5,000; SciFact abstracts: ~200).
AUTO_CHUNK_MIN_WORDS = 400
AUTO_CHUNKER = ComponentSpec("paragraph", {"max_words": 200})


def resolve_chunker(spec: ComponentSpec | None, documents: Sequence[Document]) -> ComponentSpec:
    """The chunker to use: the spec's, or for "auto" paragraphs on long documents and whole documents else."""
    if spec is not None:
        return spec
    words = sum(len(d.text.split()) for d in documents) / max(len(documents), 1)
    return AUTO_CHUNKER if words > AUTO_CHUNK_MIN_WORDS else ComponentSpec("document")


@dataclass
class CorpusIndex:
    """Chunks of one corpus plus lazily built indexes over them; ``timings`` holds seconds per build step."""

    documents: list[Document]
    chunker: ComponentSpec
    embedder: Embedder
    query_embedder: Embedder
    chunks: list[Chunk] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    _parts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ragloom.retrieval.chunkers import index_chunks, make_chunker

        started = time.perf_counter()
        chunker: Chunker = make_chunker(self.chunker.uses, self.chunker.params)
        self.chunks = [c for d in self.documents for c in index_chunks(chunker, d)]  # what an Index stores
        self.timings["chunk"] = time.perf_counter() - started

    def bm25(self, params: dict[str, Any]) -> Retriever:
        from ragloom.retrieval.bm25 import BM25Retriever

        return self._memo(f"bm25{_key(params)}", "bm25", lambda: BM25Retriever(self.chunks, **params))

    def dense(self, params: dict[str, Any], query_embedder: Embedder | None = None) -> Retriever:
        """Dense retrieval over chunk vectors; ``query_embedder`` (default: the index's) embeds queries."""
        from ragloom.retrieval.dense import DenseRetriever

        unknown = set(params) - {"late_chunking"}
        if unknown:
            raise ConfigError(
                f"dense retriever: unknown parameters {sorted(unknown)}; allowed: late_chunking"
            )
        late_setting = params.get("late_chunking", False)
        if late_setting not in (True, False, "auto"):
            raise ConfigError(
                f"dense retriever: late_chunking must be true, false or auto, got {late_setting!r}"
            )
        # "auto": late chunking only where documents are actually cut into several chunks
        late = self.chunker.uses != "document" if late_setting == "auto" else bool(late_setting)
        name = "dense-late" if late else "dense"
        base: DenseRetriever = self._memo(name, name, lambda: self._build_dense(late))
        if query_embedder is None or query_embedder is base.embedder:
            return base
        return DenseRetriever(query_embedder, base.store, base.chunks)  # same vectors, other query side

    def graph(self, params: dict[str, Any], query_embedder: Embedder | None = None) -> Retriever:
        """Graph retrieval (:mod:`ragloom.retrieval.graph`): an entity/passage graph over the same chunks,
        seeded from the query's entities and a first stage (``first_stage``: ``hybrid`` (default, BM25 + dense
        by RRF), ``bm25`` or ``none``), ranked by Personalized PageRank."""
        from ragloom.retrieval.graph.retriever import GraphRetriever
        from ragloom.retrieval.graph.seeds import SeedLinker
        from ragloom.retrieval.hybrid import HybridRetriever

        first_name = params.get("first_stage", "hybrid")
        unknown = set(params) - {"first_stage"}
        if unknown or first_name not in ("hybrid", "bm25", "none"):
            raise ConfigError(
                f"graph retriever: parameters {sorted(params)} invalid; allowed: first_stage "
                "(hybrid, bm25 or none)"
            )
        index = self._memo("graph", "graph", self._build_graph)
        first: Retriever | None = None
        if first_name == "bm25":
            first = self.bm25({})
        elif first_name == "hybrid":
            first = HybridRetriever([self.bm25({}), self.dense({}, query_embedder)])
        return GraphRetriever(index, linker=SeedLinker(index, first_stage=first))

    def _build_graph(self) -> Any:
        from ragloom.retrieval.chunkers import make_chunker
        from ragloom.retrieval.graph.graph_index import GraphIndex

        chunker = (
            None if self.chunker.uses == "document" else make_chunker(self.chunker.uses, self.chunker.params)
        )
        index = GraphIndex(embedder=self.embedder, chunker=chunker)
        index.update(self.documents)
        return index

    def _build_dense(self, late: bool) -> Any:
        from ragloom.retrieval.dense import DenseRetriever
        from ragloom.retrieval.memory_store import InMemoryVectorStore

        vectors = self.late_vectors() if late else self.embedder.embed([c.text for c in self.chunks])
        store = InMemoryVectorStore()
        store.add([c.id for c in self.chunks], vectors)
        return DenseRetriever(self.query_embedder, store, {c.id: c for c in self.chunks})

    def late_vectors(self) -> np.ndarray:
        """Late-chunking vectors of every chunk (document by document, in chunk order), disk-cached."""
        from ragloom.chunking.late import late_chunk_embed_long

        by_doc: dict[str, list[Chunk]] = {}
        for c in self.chunks:
            by_doc.setdefault(c.doc_id, []).append(c)
        rows: dict[str, np.ndarray] = {}
        for doc in self.documents:
            chunks = by_doc.get(doc.id, [])
            if chunks:
                vecs = _cached_late(self.embedder, doc.text, chunks, late_chunk_embed_long)
                rows.update({c.id: v for c, v in zip(chunks, vecs, strict=True)})
        dim = self.embedder.dim
        return np.stack([rows[c.id] for c in self.chunks]) if self.chunks else np.zeros((0, dim), np.float32)

    def _memo(self, key: str, timing: str, build: Any) -> Any:
        if key not in self._parts:
            started = time.perf_counter()
            self._parts[key] = build()
            self.timings[timing] = time.perf_counter() - started
        return self._parts[key]


def _key(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def _cached_late(embedder: Embedder, text: str, chunks: list[Chunk], compute: Any) -> np.ndarray:
    from ragloom.chunking.late import DEFAULT_NAIVE_WEIGHT
    from ragloom.core.paths import cache_dir

    names = ("model_name", "token_window", "token_overlap", "token_prefix")
    settings = [*(getattr(embedder, a, None) for a in names), DEFAULT_NAIVE_WEIGHT]
    spans = [(c.start, c.end) for c in chunks]
    digest = hashlib.sha1(json.dumps([settings, spans]).encode() + text.encode("utf-8", "surrogatepass"))
    path = cache_dir("eval-late-chunks") / f"{digest.hexdigest()}.npy"
    cached = _load_npy(path)
    if cached is not None and cached.shape == (len(chunks), embedder.dim):
        return cached
    vectors = np.asarray(compute(embedder, text, chunks), dtype=np.float32)
    _save_npy_atomically(path, vectors)
    return vectors


def _load_npy(path: Path) -> np.ndarray | None:
    """The cached array, or None when there is none or it cannot be read (a cache entry is never worth
    failing an evaluation: it is recomputed and overwritten)."""
    try:
        return np.load(path, allow_pickle=False)  # (numpy's default too: a pickle would run code)
    except (OSError, ValueError, EOFError):  # missing, truncated, empty, not .npy, pickled
        return None


def _save_npy_atomically(path: Path, array: np.ndarray) -> None:
    """Save through a temp file unique to this writer, then rename: concurrent writers of one entry (processes
    or threads) each replace it whole, and a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class IndexCache:
    """Shares :class:`CorpusIndex` objects between pipelines over the same documents and chunker."""

    def __init__(self) -> None:
        self._indexes: dict[tuple[int, str, int], CorpusIndex] = {}

    def get(
        self,
        documents: Sequence[Document],
        chunker: ComponentSpec,
        embedder: Embedder,
        query_embedder: Embedder,
    ) -> CorpusIndex:
        # the document embedder is part of the key (an index holds its vectors); the cached index holds the
        # embedder, so its id() stays unique while the entry lives
        corpus = hash(tuple((d.id, d.text) for d in documents))
        key = (corpus, f"{chunker.uses}{_key(chunker.params)}", id(embedder))
        if key not in self._indexes:
            self._indexes[key] = CorpusIndex(list(documents), chunker, embedder, query_embedder)
        return self._indexes[key]


class RetrievalPipeline:
    """Chunk → retrievers → fusion → reranker; satisfies :class:`ragloom.eval.harness.EvalPipeline`."""

    def __init__(
        self,
        spec: PipelineSpec,
        embedder: Embedder | None = None,
        query_embedder: Embedder | None = None,
        llm: LLM | None = None,
        cache: IndexCache | None = None,
    ) -> None:
        if spec.reranker is not None and spec.reranker.uses == "llm" and llm is None:
            raise ConfigError(f"pipeline {spec.name!r}: the llm reranker needs an LLM (pass llm=)")
        self.spec = spec
        self.name = spec.name
        self.with_title = True if spec.title is None else spec.title
        self._embedder = embedder
        self._query_embedder = query_embedder
        self._llm = llm
        self._cache = cache or IndexCache()
        self.corpus: CorpusIndex | None = None
        self._first: Retriever | None = None
        self._reranker: Reranker | None = None

    @property
    def config(self) -> dict[str, Any]:
        data = self.spec.to_dict()
        if self.corpus is not None:
            data["chunker"] = {"uses": self.corpus.chunker.uses, "with": dict(self.corpus.chunker.params)}
        if isinstance(self._first, AutoFusionRetriever):
            data["fusion_chosen"] = {"fusion": self._first.fusion, "on": self._first.tuned_on}
        return data

    def index(self, documents: Sequence[Document]) -> None:
        """Chunk and index ``documents`` (indexes shared with other pipelines through the cache)."""
        from ragloom.retrieval.embedders import default_embedder

        embedder = self._embedder or default_embedder()
        chunker = resolve_chunker(self.spec.chunker, documents)
        query_embedder = self._query_embedder or embedder
        self.corpus = self._cache.get(documents, chunker, embedder, query_embedder)
        retrievers = [self._retriever(r, query_embedder) for r in self.spec.retrievers]
        self._first = retrievers[0] if len(retrievers) == 1 else self._hybrid(retrievers)
        self._reranker = (
            None if self.spec.reranker is None else self._make_reranker(self.spec.reranker, embedder)
        )

    def _retriever(self, spec: ComponentSpec, query_embedder: Embedder) -> Retriever:
        assert self.corpus is not None
        if spec.uses == "bm25":
            return self.corpus.bm25(spec.params)
        if spec.uses == "graph":
            return self.corpus.graph(spec.params, query_embedder)
        # always this pipeline's query side: the shared index may have been built by one with another
        return self.corpus.dense(spec.params, query_embedder)

    def _hybrid(self, retrievers: list[Retriever]) -> Retriever:
        from ragloom.retrieval.hybrid import HybridRetriever

        f = self.spec.fusion
        if f.get("method") == "auto":
            return AutoFusionRetriever(retrievers, self.spec.candidates)
        return HybridRetriever(
            retrievers,
            fusion=f.get("method", "rrf"),
            weights=f.get("weights"),
            normalization=f.get("normalization", "minmax"),
            depth=self.spec.candidates,
            rrf_k=int(f.get("rrf_k", 60)),
        )

    def _make_reranker(self, spec: ComponentSpec, embedder: Embedder) -> Reranker:
        from ragloom.retrieval.rerankers.collaborative import CollaborativeReranker
        from ragloom.retrieval.rerankers.cross_encoder import CrossEncoderReranker
        from ragloom.retrieval.rerankers.llm import LLMReranker
        from ragloom.retrieval.rerankers.maxsim import MaxSimReranker

        try:
            if spec.uses == "maxsim":
                return MaxSimReranker(embedder, **spec.params)
            if spec.uses == "collaborative":
                return CollaborativeReranker(embedder, **spec.params)
            if spec.uses == "llm":
                assert self._llm is not None
                return LLMReranker(self._llm, **spec.params)
            return CrossEncoderReranker(**spec.params)
        except TypeError as e:
            raise ConfigError(
                f"pipeline {self.name!r}: reranker {spec.uses!r} rejected {sorted(spec.params)}: {e}"
            ) from e

    def tune(self, dev: Any, offsets: dict[str, int]) -> dict[str, Any] | None:
        """Choose the ``auto`` fusion on ``dev`` (a Dataset) by span-hit@1 when it has gold spans, else
        nDCG@10; returns the chosen fusion (None when this pipeline has no ``auto`` fusion)."""
        from ragloom.eval.fusion_choice import choose_fusion
        from ragloom.eval.harness import score_query

        first = self._first
        if not isinstance(first, AutoFusionRetriever):
            return None
        metric = "span-hit@1" if dev.spans else "nDCG@10"
        depth = first.depth
        runs = {q: [r.retrieve(t, depth) for r in first.retrievers] for q, t in dev.queries.items()}
        first.fusion, first.dev_scores = choose_fusion(
            runs, lambda q, hits: score_query(dev, offsets, q, hits).get(metric, 0.0), k=depth
        )
        first.tuned_on = f"{len(runs)} dev queries, {metric}"
        return first.fusion

    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The top ``k`` hits; with a reranker, its order first, then the remaining first-stage candidates.

        ``where`` filters the first stage, so the reranker only ever sees (and returns) matching chunks.
        """
        if self._first is None:
            raise ConfigError(f"pipeline {self.name!r}: call index(documents) before retrieve()")
        if self._reranker is None:
            return self._first.retrieve(query, k, where)
        depth = self.spec.rerank_depth
        candidates = self._first.retrieve(query, max(k, depth), where)
        reranked = self._reranker.rerank(query, candidates[:depth])
        return append_tail(reranked, candidates[depth:])[:k]


class AutoFusionRetriever:
    """Arms fused by the fusion :meth:`RetrievalPipeline.tune` chose on dev (:mod:`.fusion_choice`);
    :data:`~ragloom.eval.fusion_choice.FALLBACK` until then."""

    def __init__(self, retrievers: list[Retriever], depth: int) -> None:
        from ragloom.eval.fusion_choice import FALLBACK

        self.retrievers, self.depth = retrievers, depth
        self.fusion: dict[str, Any] = dict(FALLBACK)
        self.dev_scores: dict[str, float] = {}
        self.tuned_on = "not tuned (no dev questions): the fallback fusion"

    def retrieve(self, query: str, k: int = 10, where: Mapping[str, Any] | None = None) -> list[Hit]:
        from ragloom.eval.fusion_choice import fuse_runs

        depth = max(self.depth, k)
        return fuse_runs(self.fusion, [r.retrieve(query, depth, where) for r in self.retrievers], k)


def append_tail(head: list[Hit], tail: Sequence[Hit]) -> list[Hit]:
    """``head`` then ``tail`` with tail scores rewritten below the head's, keeping the tail's order."""
    floor = min((h.score for h in head), default=0.0)
    return head + [h.with_score(floor - 1.0 - i) for i, h in enumerate(tail)]


def build_pipeline(
    spec: PipelineSpec,
    embedder: Embedder | None = None,
    query_embedder: Embedder | None = None,
    llm: LLM | None = None,
    cache: IndexCache | None = None,
) -> RetrievalPipeline:
    """A pipeline for ``spec``; ``query_embedder`` (default: ``embedder``) embeds queries, e.g. uncached."""
    return RetrievalPipeline(spec, embedder, query_embedder, llm, cache)
