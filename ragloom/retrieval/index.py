"""An index folder: chunk store, BM25 and vectors, updated incrementally and crash-safely.

Layout of ``DIR``::

    manifest.json      the commit record: settings, current generation, {doc_id: hash, vector keys}
    gen-000007/        the current generation: chunks.jsonl, bm25/, vectors.npz (in-memory store only)
    chroma/            the chroma store (shared by generations; vectors keyed by span id + text hash)

An update (1) plans by document hash, (2) chunks and embeds only new or changed documents, adding their
vectors under fresh keys, (3) writes the next generation to a temp folder and renames it, (4) writes the
manifest (atomic rename) and only then (5) deletes stale vectors and old generations. Killed anywhere, the
folder opens at the old generation (before 4) or the new one (after): vectors of an uncommitted build are
extra keys that retrieval skips and the next update removes. One writer at a time (a lock file); readers
never lock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.chunking.late import DocumentTokens
from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.protocols import Embedder, VectorStore
from ragloom.core.types import Chunk, Document, Hit
from ragloom.documents.settings import chunking_version
from ragloom.retrieval.bm25 import BM25Retriever
from ragloom.retrieval.chunk_store import atomic_write_text, read_chunks, write_chunks
from ragloom.retrieval.chunkers import index_chunks, make_chunker
from ragloom.retrieval.dense import DenseRetriever
from ragloom.retrieval.filters import Filter, Where
from ragloom.retrieval.hybrid import HybridRetriever
from ragloom.retrieval.index_support import (
    MANIFEST,
    check_store_name,
    default_embedder,
    gen_dir,
    parse_http,
    read_manifest,
    store_ids,
    unique_documents,
    writer_lock,
)
from ragloom.retrieval.manifest import (
    DocEntry,
    Manifest,
    UpdatePlan,
    document_hash,
    plan_update,
    rechunk_plan,
    vector_key,
)
from ragloom.retrieval.memory_store import InMemoryVectorStore
from ragloom.retrieval.parallel_embed import batch_vectors, parallel_vectors
from ragloom.retrieval.precision import embedder_identity
from ragloom.retrieval.sources import documents_and_chunker
from ragloom.scale.executor import Executor

__all__ = ["MODES", "Index", "UpdateReport"]

MODES = ("bm25", "dense", "hybrid")
_EMBED_BATCH = 256
StageCallback = Callable[[str, dict[str, Any]], None]
Source = Iterable[Document] | str | os.PathLike[str]


@dataclass(frozen=True)
class UpdateReport:
    """What an update did (document counts by fate, chunks now indexed, chunks embedded, wall time), and how
    many of the changed documents were only re-chunked because the chunking code changed."""

    added: int
    changed: int
    deleted: int
    unchanged: int
    chunks: int
    embedded: int
    seconds: float
    rechunked: int = 0


class Index:
    """A retrieval index in a folder. Build with :meth:`create` + :meth:`update` (or :meth:`build`), read with
    :meth:`open`, then ask :meth:`retriever` (``bm25``, ``dense`` or ``hybrid``) or call :meth:`retrieve`.

    ``vector_store``: ``"chroma"`` (embedded, in ``DIR/chroma``), ``"memory"`` (numpy, saved per generation)
    or ``"http://HOST:PORT"`` (a chroma server). ``late_chunking``: embed chunks in document context.
    ``embedder`` defaults to the shared all-MiniLM-L6-v2 and must match the one the index was built with.
    """

    def __init__(self, path: Path, manifest: Manifest, embedder: Embedder | None) -> None:
        self.path = path
        self.manifest = manifest
        self._embedder = embedder
        self._store: VectorStore | None = None
        self.chunks: list[Chunk] = []
        self._bm25: BM25Retriever | None = None
        self._dense: DenseRetriever | None = None
        self._by_key: dict[str, Chunk] = {}
        self._executor: Executor | None = None

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], embedder: Embedder | None = None) -> Index:
        """Open a built index; a folder without a manifest is an error saying how to build one."""
        root = Path(path)
        if not (root / MANIFEST).is_file():
            raise IndexError_(
                f"no index at {str(root)!r} (no {MANIFEST}); build one: ragloom index SOURCE --store {root}"
            )
        index = cls(root, read_manifest(root), embedder)
        index._load_generation()
        return index

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        chunker: str | None = None,
        chunker_params: dict[str, Any] | None = None,
        vector_store: str | None = None,
        late_chunking: bool | None = None,
    ) -> Index:
        """Open the index at ``path`` or start a new one. Settings left None take the existing index's values
        (or the defaults: ``document`` chunker, ``chroma`` store, no late chunking); settings given must match
        an existing index.
        """
        root = Path(path)
        existing = cls.open(root, embedder) if (root / MANIFEST).is_file() else None
        if embedder is None:
            embedder = existing.embedder if existing is not None else default_embedder()
        identity = embedder_identity(embedder)
        base = existing.manifest if existing is not None else Manifest(identity)
        if chunker is not None and chunker != base.chunker and chunker_params is None:
            chunker_params = {}
        wanted = Manifest(
            identity,
            base.chunker if chunker is None else chunker,
            base.chunker_params if chunker_params is None else dict(chunker_params),
            base.vector_store if vector_store is None else vector_store,
            base.late_chunking if late_chunking is None else late_chunking,
        )
        wanted.chunker_version = base.chunker_version if existing else chunking_version(wanted.chunker)
        check_store_name(wanted.vector_store)
        make_chunker(wanted.chunker, wanted.chunker_params)  # fail early on a bad name or parameters
        if existing is None:
            root.mkdir(parents=True, exist_ok=True)
            return cls(root, wanted, embedder)
        if existing.manifest.config() != wanted.config():
            raise ConfigError(
                f"index at {str(root)!r} was built with {existing.manifest.config()}, not {wanted.config()}; "
                "use the same settings or a new --store folder"
            )
        return existing

    @classmethod
    def build(cls, path: str | os.PathLike[str], documents: Source, **settings: Any) -> Index:
        """``create(path, **settings)`` then ``update(documents)``; returns the index, ready to query. A
        folder or file for ``documents`` is read through ragloom.documents (chunker ``structured``)."""
        progress, executor = settings.pop("progress", None), settings.pop("executor", None)
        if isinstance(documents, str | os.PathLike):
            documents, settings["chunker"] = documents_and_chunker(documents, settings.get("chunker"), path)
        index = cls.create(path, **settings)
        index.update(documents, progress=progress, executor=executor)
        return index

    def _load_generation(self) -> None:
        for attempt in range(3):  # a concurrent writer may commit and clean up while we read
            try:
                gen = gen_dir(self.path, self.manifest.generation)
                self.chunks = read_chunks(gen / "chunks.jsonl")
                by_id = {c.id: c for c in self.chunks}
                self._bm25 = BM25Retriever.load(gen / "bm25", chunks=by_id)
                self._by_key = {
                    k: by_id[k.rsplit("|", 1)[0]] for e in self.manifest.docs.values() for k in e.keys
                }
                self._store = None
                return
            except (IndexError_, KeyError) as e:
                if attempt == 2:
                    raise IndexError_(f"index at {str(self.path)!r} is inconsistent ({e}); rebuild it") from e
                time.sleep(0.05 * (attempt + 1))  # not a timing test: a short back-off before re-reading
                self.manifest = read_manifest(self.path)

    # -- parts ------------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = default_embedder(self.manifest.embedder)
        used = embedder_identity(self._embedder)
        if used != self.manifest.embedder:
            raise ConfigError(
                f"index at {str(self.path)!r} was built with embedder {self.manifest.embedder!r} but is used "
                f"with {used!r}; pass the same embedder (model and precision: "
                f"SentenceTransformerEmbedder(precision=...)), or rebuild the index"
            )
        return self._embedder

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            self._store = self._open_store(self.manifest.generation)
        return self._store

    def _open_store(self, generation: int) -> VectorStore:
        spec = self.manifest.vector_store
        if spec == "memory":
            return self._open_memory_store(generation)
        from ragloom.retrieval.chroma_store import ChromaVectorStore

        if spec == "chroma":
            return ChromaVectorStore(self.path / "chroma", collection="chunks")
        host, port = parse_http(spec)
        name = "ragloom-" + hashlib.sha1(str(self.path.resolve()).encode()).hexdigest()[:12]
        return ChromaVectorStore.connect(host, port, collection=name)

    def _open_memory_store(self, generation: int) -> InMemoryVectorStore:
        """The vectors of ``generation``; generation 0 (nothing committed yet) starts empty.

        A committed generation always has its ``vectors.npz``: a missing one means a newer update replaced
        the generation this Index was opened at (or the folder is damaged), and an empty store would answer
        every dense query with nothing, silently.
        """
        path = gen_dir(self.path, generation) / "vectors.npz"
        if generation == 0:
            return InMemoryVectorStore()
        if not path.is_file():
            raise IndexError_(
                f"index at {str(self.path)!r}: {path.relative_to(self.path)} is missing (a newer update "
                "replaced this generation, or the folder is damaged); reopen the index with Index.open, "
                "or rebuild it"
            )
        return InMemoryVectorStore(path)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def documents(self) -> dict[str, str]:
        """``{doc_id: content hash}`` of the indexed documents."""
        return {d: e.hash for d, e in self.manifest.docs.items()}

    # -- retrieval --------------------------------------------------------------------------------------
    def bm25(self) -> BM25Retriever:
        if self._bm25 is None:
            self._bm25 = BM25Retriever()
        return self._bm25

    def dense(self) -> DenseRetriever:
        """The dense retriever (kept while the generation is current, so its filter cache survives)."""
        store, cached = self.store, self._dense
        if cached is None or cached.store is not store or cached.chunks is not self._by_key:
            cached = self._dense = DenseRetriever(self.embedder, store, self._by_key)
        return cached

    def hybrid(self, **options: Any) -> HybridRetriever:
        """BM25 + dense fused; ``options`` go to :class:`HybridRetriever` (fusion, weights, depth, ...)."""
        return HybridRetriever([self.bm25(), self.dense()], **options)

    def retriever(
        self, mode: str = "hybrid", **options: Any
    ) -> BM25Retriever | DenseRetriever | HybridRetriever:
        """The retriever for ``mode`` (``bm25``, ``dense`` or ``hybrid``)."""
        if mode == "bm25":
            return self.bm25()
        if mode == "dense":
            return self.dense()
        if mode == "hybrid":
            return self.hybrid(**options)
        raise ConfigError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(MODES)}")

    def retrieve(self, query: str, k: int = 10, where: Where | Filter | None = None) -> list[Hit]:
        """Hybrid retrieval with default settings (so an Index is itself a Retriever); ``where`` filters."""
        return self.hybrid().retrieve(query, k, where)

    # -- deleting ---------------------------------------------------------------------------------------
    def delete(self, doc_ids: Iterable[str], *, on_stage: StageCallback | None = None) -> UpdateReport:
        """Remove documents by id from the chunk store, BM25, the vectors and the manifest, then from the
        graph index in ``DIR/graph`` when there is one (see :mod:`ragloom.retrieval.deletes`).

        Crash-safe like :meth:`update` (a new generation, committed by the manifest): killed anywhere, the
        index opens with the documents or without them. An id neither index holds is an error naming it, and
        then nothing is changed. ``on_stage`` is called at ``plan``, ``write``, ``commit`` and ``cleanup``.
        """
        from ragloom.retrieval.deletes import check_known, delete_from_graph

        started = time.perf_counter()
        stage = on_stage or (lambda name, info: None)
        wanted = list(dict.fromkeys(doc_ids))
        with writer_lock(self.path):
            if (self.path / MANIFEST).is_file():
                self.manifest = read_manifest(self.path)
                self._load_generation()
            check_known(self.path, wanted, self.manifest.docs)
            gone = tuple(d for d in wanted if d in self.manifest.docs)
            plan = UpdatePlan((), (), gone, tuple(d for d in self.manifest.docs if d not in set(gone)))
            stage("plan", {"added": 0, "changed": 0, "deleted": len(gone)})
            if gone:
                self._commit({}, {}, plan, {}, False, stage)
            delete_from_graph(self.path, wanted)
        return self._report(plan, 0, started)

    # -- updating ---------------------------------------------------------------------------------------
    def update(
        self,
        documents: Iterable[Document],
        *,
        delete_missing: bool = True,
        progress: bool | None = None,
        on_stage: StageCallback | None = None,
        keep: Iterable[str] = (),
        executor: Executor | None = None,
    ) -> UpdateReport:
        """Make the index hold ``documents``: index new and changed ones, drop missing ones (unless
        ``delete_missing=False``, which makes ``documents`` a partial update; ids in ``keep``, files that
        could not be read this time, are never dropped). ``on_stage(name, info)`` is
        called at ``plan``, ``embed`` (per batch), ``write``, ``commit`` and ``cleanup``. ``executor``
        (e.g. Ray, :func:`ragloom.scale.make_executor`) embeds the chunks on its workers.
        """
        started = time.perf_counter()
        stage, self._executor = on_stage or (lambda name, info: None), executor
        with writer_lock(self.path):
            if (self.path / MANIFEST).is_file():  # another writer may have committed since we opened
                self.manifest = read_manifest(self.path)
                self._load_generation()
            docs = unique_documents(documents)
            hashes = {i: document_hash(d) for i, d in docs.items()}
            plan = plan_update(self.documents, hashes, delete_missing, frozenset(keep))
            current, old = chunking_version(self.manifest.chunker), self.manifest.chunker_version
            rechunked = -len(plan.changed)
            if old != current:  # cut by other chunking code: re-chunk whatever documents we were given
                plan = rechunk_plan(plan, docs)
            rechunked += len(plan.changed)
            stage(
                "plan", {"added": len(plan.added), "changed": len(plan.changed), "deleted": len(plan.deleted)}
            )
            first_build = not (self.path / MANIFEST).is_file()
            if plan.is_noop and not first_build:  # still finish the cleanup of an interrupted update
                self._cleanup(self.store, set(self._by_key), self.manifest.generation)
                return self._report(plan, 0, started)
            fresh = self._chunk(docs, plan, progress)
            version = old if old != current and plan.unchanged else current  # all re-chunked: now current
            embedded = self._commit(docs, hashes, plan, fresh, progress, stage, version)
        return self._report(plan, embedded, started, rechunked)

    def _report(self, plan: UpdatePlan, embedded: int, started: float, rechunked: int = 0) -> UpdateReport:
        return UpdateReport(
            len(plan.added),
            len(plan.changed),
            len(plan.deleted),
            len(plan.unchanged),
            len(self.chunks),
            embedded,
            time.perf_counter() - started,
            rechunked,
        )

    def _chunk(
        self, docs: Mapping[str, Document], plan: UpdatePlan, progress: bool | None
    ) -> dict[str, list[Chunk]]:
        from tqdm.auto import tqdm

        chunker = make_chunker(self.manifest.chunker, self.manifest.chunker_params)
        todo = plan.to_index
        show = len(todo) > 64 if progress is None else progress
        out: dict[str, list[Chunk]] = {}
        for doc_id in tqdm(todo, desc="chunking", unit="doc", disable=not show):
            out[doc_id] = index_chunks(chunker, docs[doc_id])
        return out

    def _key(self, chunk: Chunk, doc_hash: str) -> str:
        return vector_key(chunk, doc_hash if self.manifest.late_chunking else None)

    def _commit(
        self,
        docs: Mapping[str, Document],
        hashes: Mapping[str, str],
        plan: UpdatePlan,
        fresh: Mapping[str, list[Chunk]],
        progress: bool | None,
        stage: StageCallback,
        version: str | None = None,
    ) -> int:
        old_by_doc: dict[str, list[Chunk]] = {}
        for c in self.chunks:
            old_by_doc.setdefault(c.doc_id, []).append(c)
        deleted = set(plan.deleted)
        order = [d for d in self.manifest.docs if d not in deleted] + list(plan.added)
        entries: dict[str, DocEntry] = {}
        all_chunks: list[Chunk] = []
        for doc_id in order:
            chunks = fresh[doc_id] if doc_id in fresh else old_by_doc.get(doc_id, [])
            doc_hash = hashes.get(
                doc_id, self.manifest.docs[doc_id].hash if doc_id in self.manifest.docs else ""
            )
            entries[doc_id] = DocEntry(doc_hash, [self._key(c, doc_hash) for c in chunks])
            all_chunks.extend(chunks)
        generation = self.manifest.generation + 1
        store = self._open_store(self.manifest.generation)
        embedded = self._embed_missing(store, docs, fresh, entries, progress, stage)
        needed = {k for e in entries.values() for k in e.keys}
        if isinstance(store, InMemoryVectorStore):  # self-contained per generation: prune before saving
            store.delete([k for k in store.ids() if k not in needed])
        self._write_generation(generation, all_chunks, store)
        stage("write", {"generation": generation})
        version = self.manifest.chunker_version if version is None else version
        config = {**self.manifest.config(), "generation": generation, "docs": entries}
        manifest = Manifest(**config, chunker_version=version)
        atomic_write_text(self.path / MANIFEST, manifest.to_json())
        stage("commit", {"generation": generation})
        self.manifest = manifest
        self._load_generation()
        self._store = store
        self._cleanup(store, needed, generation)
        stage("cleanup", {"generation": generation})
        return embedded

    def _embed_missing(
        self,
        store: VectorStore,
        docs: Mapping[str, Document],
        fresh: Mapping[str, list[Chunk]],
        entries: Mapping[str, DocEntry],
        progress: bool | None,
        stage: StageCallback,
    ) -> int:
        from tqdm.auto import tqdm

        present = set(store_ids(store))
        tokens = DocumentTokens(self.embedder) if self.manifest.late_chunking else None
        todo = [  # document by document: a document's chunks are contiguous, so it has one token-level pass
            (doc_id, key, chunk)
            for doc_id, chunks in fresh.items()
            for key, chunk in zip(entries[doc_id].keys, chunks, strict=True)
            if key not in present
        ]
        show = len(todo) > 64 if progress is None else progress
        ahead = None  # on an executor, every vector first (workers), then the same writes as a local build
        if self._executor is not None:
            late = self.manifest.late_chunking
            ahead = parallel_vectors(self._executor, self.embedder, docs, todo, late)
        with tqdm(total=len(todo), desc="embedding chunks", unit="chunk", disable=not show) as bar:
            for s in range(0, len(todo), _EMBED_BATCH):
                batch = todo[s : s + _EMBED_BATCH]
                vectors = (
                    ahead[s : s + len(batch)]
                    if ahead is not None
                    else batch_vectors(self.embedder, docs, batch, tokens)
                )
                meta = [{"doc_id": c.doc_id, "start": c.start, "end": c.end} for _, _, c in batch]
                store.add([k for _, k, _ in batch], vectors, meta)
                bar.update(len(batch))
                stage("embed", {"done": s + len(batch), "total": len(todo)})
        return len(todo)

    def _write_generation(self, generation: int, chunks: list[Chunk], store: VectorStore) -> None:
        target = gen_dir(self.path, generation)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        write_chunks(tmp / "chunks.jsonl", chunks)
        BM25Retriever(chunks).save(tmp / "bm25", with_chunks=False)
        if isinstance(store, InMemoryVectorStore):
            store.save(tmp / "vectors.npz")
        shutil.rmtree(
            target, ignore_errors=True
        )  # left by a build killed after its rename, before its commit
        os.replace(tmp, target)
        if isinstance(store, InMemoryVectorStore):
            store.path = target / "vectors.npz"  # not the temp folder, renamed away just now

    def _cleanup(self, store: VectorStore, needed: set[str], generation: int) -> None:
        if not isinstance(store, InMemoryVectorStore):
            stale = [k for k in store_ids(store) if k not in needed]
            if stale:
                store.delete(stale)
        current = gen_dir(self.path, generation).name
        for entry in self.path.glob("gen-*"):
            if entry.name != current:
                shutil.rmtree(entry, ignore_errors=True)
