"""Retrieval: embedders, vector stores, BM25, dense and hybrid retrieval, rerankers and the index folder.

Imports are lazy (``from ragloom.retrieval import BM25Retriever`` loads only that module), so importing the
package does not load torch or chromadb.
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS = {
    "BM25Retriever": "ragloom.retrieval.bm25",
    "ChromaVectorStore": "ragloom.retrieval.chroma_store",
    "CollaborativeReranker": "ragloom.retrieval.rerankers.collaborative",
    "CrossEncoderReranker": "ragloom.retrieval.rerankers.cross_encoder",
    "DenseRetriever": "ragloom.retrieval.dense",
    "HybridRetriever": "ragloom.retrieval.hybrid",
    "InMemoryVectorStore": "ragloom.retrieval.memory_store",
    "Index": "ragloom.retrieval.index",
    "LLMReranker": "ragloom.retrieval.rerankers.llm",
    "MaxSimReranker": "ragloom.retrieval.rerankers.maxsim",
    "SentenceTransformerEmbedder": "ragloom.retrieval.embedders",
    "WholeDocumentChunker": "ragloom.retrieval.chunkers",
    "default_embedder": "ragloom.retrieval.embedders",
    "iter_documents": "ragloom.retrieval.sources",
    "Filter": "ragloom.retrieval.filters",
    "compile_filter": "ragloom.retrieval.filters",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
