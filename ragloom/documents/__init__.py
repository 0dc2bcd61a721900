"""The one ingestion layer: files (PDF, HTML, Markdown, text, DOCX, EPUB) in, documents with structure out.

``iter_documents(folder, report)`` yields index-ready documents and fills an :class:`IngestReport` with the
files it skipped (name and reason); ``StructuredChunker`` cuts them along sections and pages, with the
metadata contract ``source``, ``title``, ``section``, ``page``, ``page_end``, ``format``; ``cite`` formats
where a chunk comes from (``R-intro.pdf p. 42, § 5.1 Arrays``); ``ChunkSettings.for_source(path)`` is the
default index of a folder, the chunks every entry point (index, ask, eval, search, graph) cuts it into.
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS = {
    "FORMATS": "ragloom.documents.base",
    "IngestReport": "ragloom.documents.base",
    "LoadedDocument": "ragloom.documents.base",
    "Loader": "ragloom.documents.base",
    "Section": "ragloom.documents.base",
    "Skipped": "ragloom.documents.base",
    "loaded_from": "ragloom.documents.base",
    "detect_format": "ragloom.documents.sniff",
    "iter_documents": "ragloom.documents.folder",
    "iter_loaded": "ragloom.documents.folder",
    "load_file": "ragloom.documents.folder",
    "load_folder": "ragloom.documents.folder",
    "loader_for": "ragloom.documents.folder",
    "StructuredChunker": "ragloom.documents.chunker",
    "ChunkSettings": "ragloom.documents.settings",
    "cite": "ragloom.documents.citations",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
