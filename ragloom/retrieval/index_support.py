"""The index folder's small helpers: generation folders, the writer lock, manifest reads, store specs.

Kept apart from :mod:`ragloom.retrieval.index` so that module stays about building and committing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import Embedder, VectorStore
from ragloom.core.types import Document
from ragloom.retrieval.manifest import Manifest

__all__ = [
    "MANIFEST",
    "check_store_name",
    "default_embedder",
    "gen_dir",
    "parse_http",
    "read_manifest",
    "store_ids",
    "unique_documents",
    "writer_lock",
]

MANIFEST = "manifest.json"


def gen_dir(root: Path, generation: int) -> Path:
    return root / f"gen-{generation:06d}"


@contextlib.contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Exclusive lock on ``root/.lock`` (one writer per index); released when the process dies."""
    import fcntl

    with open(root / ".lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def unique_documents(documents: Iterable[Document]) -> dict[str, Document]:
    """``{id: document}``; an id given twice is an error (keeping either would silently drop the other)."""
    docs: dict[str, Document] = {}
    for position, doc in enumerate(documents):
        if doc.id in docs:
            raise ConfigError(
                f"document id {doc.id!r} appears more than once in the input (again at position {position}); "
                "give every document a unique id. Nothing was written"
            )
        docs[doc.id] = doc
    return docs


def read_manifest(root: Path) -> Manifest:
    """The committed manifest of ``root``; a damaged one is an error naming its file."""
    path = root / MANIFEST
    return Manifest.from_json(path.read_text(encoding="utf-8"), where=str(path))


def store_ids(store: VectorStore) -> list[str]:
    ids = getattr(store, "ids", None)
    if ids is None:
        raise ConfigError(f"{type(store).__name__} cannot list its ids; the index needs a store with ids()")
    return list(ids())


def check_store_name(spec: str) -> None:
    if spec in ("chroma", "memory"):
        return
    parse_http(spec)


def parse_http(spec: str) -> tuple[str, int]:
    from urllib.parse import urlparse

    url = urlparse(spec)
    if url.scheme != "http" or not url.hostname or not url.port:
        raise ConfigError(
            f"unknown vector store {spec!r}; use 'chroma' (embedded), 'memory', "
            "or 'http://HOST:PORT' (a chroma server)"
        )
    return url.hostname, url.port


def default_embedder(recorded: str | None = None) -> Embedder:
    """The shared default embedder; for an existing index (``recorded``: its manifest's embedder) the one in
    the precision it was built with, so an index built in float32 keeps being queried in float32 on a
    machine whose default is bf16 (and the other way round)."""
    from ragloom.retrieval.embedders import default_embedder
    from ragloom.retrieval.precision import split_identity

    precision = split_identity(recorded)[1] if recorded is not None else "auto"
    return default_embedder(precision)
