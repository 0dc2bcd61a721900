"""The index manifest and the pure update planner (what to add, re-index and delete).

The manifest is the commit record of an index folder: it is written last, atomically, and names the chunk
generation that is current. Anything an interrupted build wrote without a manifest pointing at it is ignored
by readers and cleaned up by the next build.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ragloom.core.errors import IndexError_
from ragloom.core.types import Chunk, Document

__all__ = [
    "FORMAT",
    "DocEntry",
    "Manifest",
    "UpdatePlan",
    "document_hash",
    "plan_update",
    "rechunk_plan",
    "vector_key",
]

FORMAT = 1


@dataclass
class DocEntry:
    """One indexed document: its content hash and the vector keys of its chunks."""

    hash: str
    keys: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """Configuration of an index plus the current generation and per-document entries.

    ``chunker_version`` fingerprints the chunking code the chunks were cut with
    (:func:`ragloom.documents.settings.chunking_version`; empty in indexes older than it): an update by other
    code re-chunks every document it is given, so an index never keeps chunks current code would not cut.
    """

    embedder: str
    chunker: str = "document"
    chunker_params: dict[str, Any] = field(default_factory=dict)
    vector_store: str = "chroma"
    late_chunking: bool = False
    generation: int = 0
    docs: dict[str, DocEntry] = field(default_factory=dict)
    format: int = FORMAT
    chunker_version: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest.json") -> Manifest:
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
            if obj.get("format") != FORMAT:
                raise IndexError_(
                    f"{where}: index format {obj.get('format')!r} is not supported "
                    f"(expected {FORMAT}); rebuild it"
                )
            obj["docs"] = {d: DocEntry(**e) for d, e in obj["docs"].items()}
            return cls(**obj)
        except (ValueError, KeyError, TypeError) as e:
            raise IndexError_(f"{where}: unreadable index manifest ({e}); rebuild the index") from e

    def config(self) -> dict[str, Any]:
        """The settings that must match between builds of one index."""
        return {
            "embedder": self.embedder,
            "chunker": self.chunker,
            "chunker_params": self.chunker_params,
            "vector_store": self.vector_store,
            "late_chunking": self.late_chunking,
        }


@dataclass(frozen=True)
class UpdatePlan:
    """Document ids by fate: new, changed (hash differs), deleted (absent from the new set), unchanged."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def to_index(self) -> tuple[str, ...]:
        return self.added + self.changed

    @property
    def is_noop(self) -> bool:
        return not (self.added or self.changed or self.deleted)


def plan_update(
    old: Mapping[str, str],
    new: Mapping[str, str],
    delete_missing: bool = True,
    keep: frozenset[str] = frozenset(),
) -> UpdatePlan:
    """Compare ``{doc_id: hash}`` maps. Without ``delete_missing`` the new set is a partial update; ids in
    ``keep`` (files unreadable this time) stay as they are even when missing."""
    added = tuple(d for d in new if d not in old)
    changed = tuple(d for d in new if d in old and old[d] != new[d])
    unchanged = tuple(d for d in old if d in new and old[d] == new[d])
    if delete_missing:
        deleted = tuple(d for d in old if d not in new and d not in keep)
        unchanged = unchanged + tuple(d for d in old if d not in new and d in keep)
    else:
        deleted = ()
        unchanged = unchanged + tuple(d for d in old if d not in new)
    return UpdatePlan(added, changed, deleted, unchanged)


def rechunk_plan(plan: UpdatePlan, present: Iterable[str]) -> UpdatePlan:
    """``plan`` with its unchanged documents that are ``present`` (given to this update) moved to changed: an
    index whose chunking code changed re-chunks them (vectors of identical chunks are kept by key)."""
    given = set(present)
    again = tuple(d for d in plan.unchanged if d in given)
    kept = tuple(d for d in plan.unchanged if d not in given)
    return UpdatePlan(plan.added, plan.changed + again, plan.deleted, kept)


def document_hash(doc: Document) -> str:
    """sha256 of the text and the (JSON-sorted) metadata: any edit re-indexes the document."""
    h = hashlib.sha256(doc.text.encode("utf-8", "surrogatepass"))
    h.update(b"\0")
    h.update(json.dumps(doc.metadata, sort_keys=True, default=str).encode("utf-8"))
    return h.hexdigest()


def vector_key(chunk: Chunk, context_hash: str | None = None) -> str:
    """Vector-store id of a chunk: its span id plus a hash of what its vector depends on.

    That is the chunk text, or ``context_hash`` (the document hash) for late-chunked vectors, which depend on
    the whole document; so a changed input never reuses an old vector.
    """
    digest = context_hash or hashlib.sha1(chunk.text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{chunk.id}|{digest[:16]}"
