"""The graph index: chunk (passage) nodes and entity nodes in a networkx graph, built incrementally.

Edges (undirected; each carries ``kinds``: a weight per edge kind, so the walk can weigh kinds differently
without a rebuild):

- ``mention``  chunk–entity, the number of sentences of the chunk that mention the entity;
- ``title``    chunk–entity, the chunk's document title (HippoRAG 2 also keeps passage nodes in the graph);
- ``cooccur``  entity–entity, the number of sentences in which both appear (offline stand-in for relations);
- ``relation`` entity–entity, the number of LLM triples linking them (``relations`` lists the verbs);
- ``synonym``  entity–entity, cosine of the name embeddings (:mod:`.synonyms`).

The graph is derived from per-chunk records (:class:`ChunkRecord`) and synonym pairs, so an update extracts
only new or changed documents (by content hash) and then re-derives the edges. Saved as a folder:
``settings.json`` (settings + document hashes), ``records.jsonl``, ``entities.npz`` (names and vectors),
``synonyms.json`` and ``graph.json`` (networkx node-link data), written beside and renamed into place.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.files import recover_dir, replace_dir
from ragloom.core.protocols import Chunker, Embedder
from ragloom.core.types import Chunk, Document
from ragloom.retrieval.chunk_store import atomic_write_text
from ragloom.retrieval.graph.extract import Mention, SpacyEntityExtractor, normalize_entity, title_entities
from ragloom.retrieval.graph.llm_extract import LLMTripleExtractor, Triple
from ragloom.retrieval.graph.records import (
    ChunkRecord,
    GraphSettings,
    chunk_node,
    document_title,
    entity_node,
)
from ragloom.retrieval.graph.synonyms import synonym_pairs
from ragloom.retrieval.manifest import document_hash

__all__ = ["EDGE_KINDS", "GraphIndex", "GraphUpdateReport"]

EDGE_KINDS = ("mention", "title", "cooccur", "relation", "synonym")
_FORMAT = 1
_MAX_COOCCUR_MENTIONS = 12  # per sentence: caps the pairs of a list-like sentence at 66


@dataclass(frozen=True)
class GraphUpdateReport:
    """Documents by fate, chunks (re-)extracted, entities embedded, LLM calls made, nodes/edges, seconds."""

    added: int
    changed: int
    deleted: int
    unchanged: int
    extracted: int
    embedded: int
    llm_calls: int
    nodes: int
    edges: int
    seconds: float


class GraphIndex:
    """Entity/chunk graph over documents; see the module docstring. Build with :meth:`update`.

    ``embedder`` embeds entity names (default: the shared all-MiniLM-L6-v2); ``extractor`` finds mentions
    (default :class:`SpacyEntityExtractor`); ``triple_extractor`` (an :class:`LLMTripleExtractor`) adds LLM
    triples; ``chunker`` splits documents (default: one chunk per document).
    """

    def __init__(
        self,
        settings: GraphSettings | None = None,
        *,
        embedder: Embedder | None = None,
        extractor: SpacyEntityExtractor | None = None,
        triple_extractor: LLMTripleExtractor | None = None,
        chunker: Chunker | None = None,
    ) -> None:
        self.settings = settings or GraphSettings()
        if triple_extractor is not None and self.settings.llm_model is None:
            self.settings = GraphSettings(
                **{
                    **self.settings.to_dict(),
                    "llm_model": triple_extractor.model,
                    "gleanings": triple_extractor.gleanings,
                }
            )
        self._embedder = embedder
        self.extractor = extractor or SpacyEntityExtractor(noun_phrases=self.settings.noun_phrases)
        self.triple_extractor = triple_extractor
        self.chunker = chunker
        self.records: dict[str, ChunkRecord] = {}
        self.doc_chunks: dict[str, list[str]] = {}
        self.doc_hashes: dict[str, str] = {}
        self.entity_names: list[str] = []
        self.entity_vectors = np.zeros((0, 0), dtype=np.float32)
        self.synonyms: dict[str, list[tuple[str, float]]] = {}
        self.graph = nx.Graph()
        self._entity_row: dict[str, int] = {}
        self._llm_calls = 0
        #: Bumped by every rebuild (update, delete, load): caches derived from the graph compare it.
        self.version = 0
        self._matrices: dict[tuple[tuple[str, float], ...], tuple[sp.csr_matrix, list[str]]] = {}

    # -- accessors ----------------------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from ragloom.retrieval.embedders import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    def __len__(self) -> int:
        return len(self.records)

    def chunk(self, chunk_id: str) -> Chunk:
        return self.records[chunk_id].chunk

    def entity_row(self, name: str) -> int | None:
        """Row of ``name`` in :attr:`entity_vectors` (None for an unknown entity)."""
        return self._entity_row.get(name)

    # -- updates ------------------------------------------------------------------------------------------
    def update(self, documents: Iterable[Document], *, delete_missing: bool = False) -> GraphUpdateReport:
        """Add new and re-extract changed documents (by content hash); ``delete_missing`` drops the rest."""
        started = time.perf_counter()
        docs = {d.id: d for d in documents}
        fresh = {i: d for i, d in docs.items() if self.doc_hashes.get(i) != document_hash(d)}
        changed = sum(1 for i in fresh if i in self.doc_hashes)
        gone = [i for i in self.doc_hashes if i not in docs] if delete_missing else []
        self._drop(list(fresh) + gone)
        new_records = self._extract(list(fresh.values()))
        for rec in new_records:
            self.records[rec.chunk.id] = rec
        for doc in fresh.values():
            self.doc_hashes[doc.id] = document_hash(doc)
            self.doc_chunks.setdefault(doc.id, [])
        for rec in new_records:
            self.doc_chunks[rec.chunk.doc_id].append(rec.chunk.id)
        embedded = self._refresh_entities()
        self._rebuild()
        return GraphUpdateReport(
            added=len(fresh) - changed,
            changed=changed,
            deleted=len(gone),
            unchanged=len(docs) - len(fresh),
            extracted=len(new_records),
            embedded=embedded,
            llm_calls=self._llm_calls,
            nodes=self.graph.number_of_nodes(),
            edges=self.graph.number_of_edges(),
            seconds=time.perf_counter() - started,
        )

    def delete(self, doc_ids: Sequence[str]) -> int:
        """Remove documents by id (unknown ids are ignored); returns how many were removed."""
        known = [i for i in doc_ids if i in self.doc_hashes]
        self._drop(known)
        self._refresh_entities()
        self._rebuild()
        return len(known)

    def _drop(self, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            for cid in self.doc_chunks.pop(doc_id, []):
                self.records.pop(cid, None)
            self.doc_hashes.pop(doc_id, None)

    def pending(self, documents: Iterable[Document]) -> list[Document]:
        """The documents an update would extract: new ones and ones whose content hash changed."""
        return [d for d in documents if self.doc_hashes.get(d.id) != document_hash(d)]

    def chunks_of(self, doc: Document) -> list[Chunk]:
        """The chunks ``doc`` is split into (one per document unless a chunker was given); each carries the
        document's scalar metadata (source, page, ...), so ``where`` filters and citations see it. They are
        the flat index's chunks (the same function: a structured chunker reads the document's sections and
        pages here too), so graph and flat hits share chunk ids."""
        from ragloom.retrieval.chunkers import WholeDocumentChunker, index_chunks

        return index_chunks(self.chunker or WholeDocumentChunker(), doc)

    def _extract(self, docs: Sequence[Document]) -> list[ChunkRecord]:
        """Mentions (and triples) of every chunk of ``docs``: the only per-document work of an update."""
        self._llm_calls = 0
        pairs = [(d, c) for d in docs for c in self.chunks_of(d)]
        mentions = self.extractor.extract_many([c.text for _, c in pairs])
        records = []
        for (doc, chunk), found in zip(pairs, mentions, strict=True):
            found = list(found)
            title = document_title(doc) if self.settings.title_entities else ""
            found += [Mention(n, title, "TITLE", -1) for n in title_entities(title)] if title else []
            triples: list[Triple] = []
            if self.triple_extractor is not None:
                result = self.triple_extractor.extract(chunk.text)
                self._llm_calls += result.calls
                triples = list(result.triples)
                found += _triple_mentions(triples)
            records.append(ChunkRecord(chunk, document_hash(doc), found, triples))
        return records

    def _refresh_entities(self) -> int:
        """Keep vectors of current linkable entities, embed new ones, find synonyms of the new ones.

        Linkable = named (NER, title or LLM) or mentioned by >= 2 chunks. A noun phrase seen once cannot
        bridge passages, and skipping its embedding halves the build time; it still links by exact name.
        """
        current = self._linkable()
        known = {n: self.entity_vectors[i] for n, i in self._entity_row.items()}
        new = [n for n in current if n not in known]
        if new:
            for name, vec in zip(new, self.embedder.embed(new), strict=True):
                known[name] = vec
        dim = next(iter(known.values())).shape[0] if known else 0
        self.entity_names = current
        self.entity_vectors = (
            np.stack([known[n] for n in current]).astype(np.float32)
            if current
            else np.zeros((0, dim), dtype=np.float32)
        )
        self._entity_row = {n: i for i, n in enumerate(current)}
        alive = set(current)
        self.synonyms = {
            n: [(o, s) for o, s in v if o in alive] for n, v in self.synonyms.items() if n in alive
        }
        rows = np.array([self._entity_row[n] for n in new], dtype=np.int64)
        for i, j, s in synonym_pairs(
            self.entity_vectors, rows, self.settings.synonym_threshold, self.settings.synonym_k
        ):
            self.synonyms.setdefault(current[i], []).append((current[j], s))
        return len(new)

    def _linkable(self) -> list[str]:
        df: dict[str, int] = {}
        named: set[str] = set()
        for rec in self.records.values():
            for name in {m.name for m in rec.mentions}:
                df[name] = df.get(name, 0) + 1
            named.update(m.name for m in rec.mentions if m.kind != "NP")
        return sorted(n for n, c in df.items() if c >= 2 or n in named)

    # -- graph derivation ---------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        g = nx.Graph()
        for cid in sorted(self.records):
            _add_record(g, self.records[cid], self.settings.cooccurrence)
        for name, others in self.synonyms.items():
            for other, sim in others:
                u, v = entity_node(name), entity_node(other)
                if g.has_node(u) and g.has_node(v) and u != v:
                    _bump(g, u, v, "synonym", sim, mode="max")
        for node, data in g.nodes(data=True):
            if data["kind"] == "entity":
                data["chunks"] = sum(1 for n in g[node] if n.startswith("c:"))
        self.graph = g
        self._matrices.clear()
        self.version += 1

    def adjacency(
        self, kind_weights: Mapping[str, float], specificity: bool = False
    ) -> tuple[sp.csr_matrix, list[str]]:
        """Symmetric weighted adjacency (sum over kinds of ``kind_weights[kind] * w``) and the node order.

        ``specificity`` multiplies chunk–entity edges by the entity's IDF ``log(1 + N / chunks(e))``, so a
        walk leaving a passage prefers its rare entities (names, titles of other passages) over hubs such
        as "american". Cached per setting until the next update.
        """
        unknown = set(kind_weights) - set(EDGE_KINDS)
        if unknown:
            raise ConfigError(f"unknown edge kinds {sorted(unknown)}; choose from {', '.join(EDGE_KINDS)}")
        key = (*sorted((k, float(w)) for k, w in kind_weights.items()), ("specificity", float(specificity)))
        if key not in self._matrices:
            self._matrices[key] = self._build_adjacency(kind_weights, specificity)
        return self._matrices[key]

    def _build_adjacency(
        self, kind_weights: Mapping[str, float], specificity: bool
    ) -> tuple[sp.csr_matrix, list[str]]:
        nodes = list(self.graph.nodes)
        pos = {n: i for i, n in enumerate(nodes)}
        total = max(len(self.records), 1)
        rows, cols, vals = [], [], []
        for u, v, data in self.graph.edges(data=True):
            w = sum(kind_weights.get(k, 0.0) * x for k, x in data["kinds"].items())
            if specificity and u[0] != v[0]:
                entity = u if u.startswith("e:") else v
                w *= math.log(1.0 + total / max(self.graph.nodes[entity].get("chunks", 1), 1))
            if w > 0:
                rows += [pos[u], pos[v]]
                cols += [pos[v], pos[u]]
                vals += [w, w]
        n = len(nodes)
        return sp.csr_matrix((vals, (rows, cols)), shape=(n, n), dtype=np.float64), nodes

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the index folder atomically (built beside ``directory``, then renamed into place)."""
        target = Path(directory)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        meta = {
            "format": _FORMAT,
            "settings": self.settings.to_dict(),
            "docs": self.doc_hashes,
            "doc_chunks": self.doc_chunks,
        }
        atomic_write_text(tmp / "settings.json", json.dumps(meta, ensure_ascii=False))
        atomic_write_text(tmp / "records.jsonl", "".join(r.to_json() + "\n" for r in self.records.values()))
        np.savez(
            tmp / "entities.npz", names=np.array(self.entity_names, dtype=str), vectors=self.entity_vectors
        )
        atomic_write_text(tmp / "synonyms.json", json.dumps(self.synonyms, ensure_ascii=False))
        graph_data = nx.node_link_data(self.graph, edges="links")
        atomic_write_text(tmp / "graph.json", json.dumps(graph_data, ensure_ascii=False))
        replace_dir(tmp, target)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str], **components: Any) -> GraphIndex:
        """Open a folder written by :meth:`save`; ``components`` as for the constructor (embedder, ...)."""
        folder = Path(directory)
        recover_dir(folder)  # a writer killed mid-swap leaves only the old folder, aside
        try:
            meta = json.loads((folder / "settings.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IndexError_(
                f"no graph index in {folder} ({e}); build one: ragloom graph index SOURCE --store DIR"
            ) from e
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise IndexError_(f"graph index in {folder} has format {found}; rebuild it")
        try:
            settings = GraphSettings.from_dict(meta["settings"])
            doc_hashes = dict(meta["docs"])
            doc_chunks = {k: list(v) for k, v in meta["doc_chunks"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise _unreadable(folder / "settings.json", e) from e
        self = cls(settings, **components)
        self.doc_hashes, self.doc_chunks = doc_hashes, doc_chunks
        where = folder / "records.jsonl"
        try:
            records = []
            with open(where, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if line.strip():
                        where = folder / f"records.jsonl:{number}"
                        records.append(ChunkRecord.from_json(line))
            self.records = {r.chunk.id: r for r in records}
            where = folder / "entities.npz"
            with np.load(where, allow_pickle=False) as data:  # a pickled array could run code on load
                self.entity_names = [str(n) for n in data["names"].tolist()]
                self.entity_vectors = np.asarray(data["vectors"], dtype=np.float32)
            self._entity_row = {n: i for i, n in enumerate(self.entity_names)}
            where = folder / "synonyms.json"
            raw = json.loads(where.read_text(encoding="utf-8"))
            self.synonyms = {n: [(o, float(s)) for o, s in v] for n, v in raw.items()}
            where = folder / "graph.json"
            graph_data = json.loads(where.read_text(encoding="utf-8"))
            self.graph = nx.node_link_graph(graph_data, edges="links")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, nx.NetworkXError) as e:
            raise _unreadable(where, e) from e
        self.version += 1
        return self


def _unreadable(where: Path, error: Exception) -> IndexError_:
    """The error for a damaged index file: which file (and line), what failed, and how to recover."""
    return IndexError_(
        f"{where}: unreadable graph index file ({type(error).__name__}: {error}); rebuild it: "
        "ragloom graph index SOURCE --store DIR"
    )


def _triple_mentions(triples: Sequence[Triple]) -> list[Mention]:
    out = []
    for t in triples:
        for surface in (t.subject, t.object):
            name = normalize_entity(surface)
            if name:
                out.append(Mention(name, surface, "LLM", -2))
    return out


def _bump(g: nx.Graph, u: str, v: str, kind: str, w: float, mode: str = "add") -> None:
    if not g.has_edge(u, v):
        g.add_edge(u, v, kinds={})
    kinds = g[u][v]["kinds"]
    kinds[kind] = max(kinds.get(kind, 0.0), w) if mode == "max" else kinds.get(kind, 0.0) + w


def _add_record(g: nx.Graph, rec: ChunkRecord, cooccurrence: bool) -> None:
    c = chunk_node(rec.chunk.id)
    g.add_node(c, kind="chunk")
    by_sentence: dict[int, list[str]] = {}
    for m in rec.mentions:
        e = entity_node(m.name)
        if not g.has_node(e):
            g.add_node(e, kind="entity", label=m.surface)
        _bump(
            g,
            c,
            e,
            "title" if m.kind == "TITLE" else "mention",
            1.0,
            mode="max" if m.kind == "LLM" else "add",
        )
        if m.sentence >= 0:
            by_sentence.setdefault(m.sentence, []).append(e)
    if cooccurrence:
        for names in by_sentence.values():
            unique = list(dict.fromkeys(names))[:_MAX_COOCCUR_MENTIONS]
            for u, v in itertools.combinations(unique, 2):
                _bump(g, u, v, "cooccur", 1.0)
    for t in rec.triples:
        s, o = normalize_entity(t.subject), normalize_entity(t.object)
        if s and o and s != o:
            u, v = entity_node(s), entity_node(o)
            _bump(g, u, v, "relation", 1.0)
            relations = g[u][v].setdefault("relations", [])
            if t.relation not in relations and len(relations) < 8:
                relations.append(t.relation)
