"""The default index of a folder, in one place: the chunker (and its parameters) that turns documents into
chunks, and the version of the code that does it.

Why: every entry point (``ragloom index``, ``Index.build``, ``ragloom ask``, ``ragloom eval`` and ``ragloom
search`` on a files dataset, the document benchmarks) must cut one folder into the same chunks unless the
user asks for other settings, or a flow searched on one index is evaluated on another. And an index built by
older chunking code must be re-chunked, never served as current: docs-a once gave 2,657 chunks in cached
indexes and 2,185 in fresh ones, because the structured chunker had changed how it counts the two special
tokens while the documents' texts (and so their hashes) had not, and an incremental update saw nothing to do.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragloom.core.protocols import Chunker
from ragloom.core.types import Chunk, Document

__all__ = ["FILES_CHUNKER", "PASSAGES_CHUNKER", "ChunkSettings", "chunking_version"]

#: files (PDF, HTML, ...) have sections and pages: chunks stay inside them and fit MiniLM's window
FILES_CHUNKER = "structured"
#: BEIR records already are passages: one chunk each
PASSAGES_CHUNKER = "document"
#: the packages whose code decides chunk boundaries (loaders only decide the text, which the document hash
#: covers; a chunker's own module and what it imports from these packages are fingerprinted)
_CHUNKING_PACKAGES = ("ragloom.chunking", "ragloom.documents")
#: the registry module: only the functions that chunk for an index (and the whole-document chunker) count,
#: so registering another chunker there does not re-chunk every index
_REGISTRY = "ragloom.retrieval.chunkers"


@dataclass(frozen=True)
class ChunkSettings:
    """A registered chunker (:data:`ragloom.retrieval.chunkers.CHUNKERS`) and its parameters: what an index
    records and what every entry point chunks with. ``ChunkSettings.for_source(path)`` is the default."""

    chunker: str = FILES_CHUNKER
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_source(cls, source: str | os.PathLike[str]) -> ChunkSettings:
        """The default for ``source``: whole passages for a BEIR corpus, structured chunks for files."""
        from ragloom.retrieval.sources import is_beir_source

        return cls(PASSAGES_CHUNKER if is_beir_source(source) else FILES_CHUNKER)

    def make(self) -> Chunker:
        """The chunker itself (a ConfigError names a bad name or parameter)."""
        from ragloom.retrieval.chunkers import make_chunker

        return make_chunker(self.chunker, dict(self.params))

    def chunk(self, documents: Iterable[Document]) -> list[Chunk]:
        """The chunks an index stores for ``documents``: ids, texts, spans and metadata."""
        from ragloom.retrieval.chunkers import index_chunks

        chunker = self.make()
        return [c for d in documents for c in index_chunks(chunker, d)]

    @property
    def version(self) -> str:
        """Fingerprint of the code that chunks with these settings (see :func:`chunking_version`)."""
        return chunking_version(self.chunker)

    def key(self) -> str:
        """A short digest of the settings (for cache folder names; the code version is checked by the index
        itself, which re-chunks in place rather than leaving a folder per code version behind)."""
        text = json.dumps([self.chunker, dict(self.params)], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:10]


@functools.cache
def chunking_version(chunker: str) -> str:
    """A digest of the source of ``chunker``'s module and of every module it imports from the chunking
    packages (transitively), plus the index's chunking functions: any edit to the code that cuts chunks
    gives another version. Where the source is not readable (a frozen install), the package version stands
    in for it."""
    import inspect

    from ragloom.retrieval import chunkers

    module = chunkers.CHUNKERS[chunker][0] if chunker in chunkers.CHUNKERS else ""
    parts = _sources(module) if module != _REGISTRY else {}
    used: list[Any] = [chunkers.chunk_document, chunkers.index_chunks]
    used += [chunkers.WholeDocumentChunker] if module == _REGISTRY else []
    try:
        parts[_REGISTRY] = "".join(inspect.getsource(f) for f in used).encode()
    except (OSError, TypeError):
        parts[_REGISTRY] = _package_version()
    digest = hashlib.sha1(chunker.encode())
    for name, source in sorted(parts.items()):
        digest.update(f"\0{name}\0".encode() + source)
    return digest.hexdigest()[:16]


def _sources(root: str) -> dict[str, bytes]:
    """``{module: source bytes}`` of ``root`` and its imports within :data:`_CHUNKING_PACKAGES`."""
    seen: dict[str, bytes] = {}
    todo = [root] if root else []
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not Path(origin).is_file():
            seen[name] = _package_version()
            continue
        seen[name] = Path(origin).read_bytes()
        todo += [m for m in _imports(seen[name]) if m.startswith(_CHUNKING_PACKAGES)]
    return seen


def _package_version() -> bytes:
    from ragloom import __version__

    return f"package {__version__}".encode()


def _imports(source: bytes) -> list[str]:
    """Absolute modules imported anywhere in ``source`` (function-level imports included)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
    return out
