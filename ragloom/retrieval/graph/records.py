"""What the graph index remembers per chunk (its mentions and triples) and its build settings.

The graph is a pure function of these records plus the synonym pairs, so an incremental update only has to
re-extract the chunks of changed documents and then re-derive the edges (:mod:`.graph_index`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk, Document
from ragloom.retrieval.chunk_store import chunk_from_json, chunk_to_json
from ragloom.retrieval.graph.extract import Mention
from ragloom.retrieval.graph.llm_extract import Triple

__all__ = ["ChunkRecord", "GraphSettings", "chunk_node", "document_title", "entity_node"]

_HEXISH = re.compile(r"^[0-9a-f\-]{8,}$", re.IGNORECASE)


def chunk_node(chunk_id: str) -> str:
    """Graph node id of a chunk (passage)."""
    return f"c:{chunk_id}"


def entity_node(name: str) -> str:
    """Graph node id of an entity (its normalised name)."""
    return f"e:{name}"


@dataclass(frozen=True)
class GraphSettings:
    """Build settings, saved with the index; changing them needs a rebuild (``--store`` a new folder).

    - ``noun_phrases``: offline extractor also takes noun phrases, not only named entities.
    - ``title_entities``: a document's title (or its id when the id is a name) becomes an entity linked to
      each of its chunks: the subject of a Wikipedia-like passage is usually not repeated inside it.
    - ``cooccurrence``: entity–entity edges between mentions in the same sentence (the offline stand-in for
      relation triples).
    - ``synonym_threshold`` / ``synonym_k``: cosine threshold and neighbours per entity of synonym edges.
    - ``llm_model`` / ``gleanings``: set when triples were extracted by an LLM.
    """

    noun_phrases: bool = True
    title_entities: bool = True
    cooccurrence: bool = True
    synonym_threshold: float = 0.85
    synonym_k: int = 5
    llm_model: str | None = None
    gleanings: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GraphSettings:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"graph settings: unknown keys {sorted(unknown)} (index from a newer ragloom?)")
        return cls(**data)


@dataclass
class ChunkRecord:
    """One indexed chunk: the chunk, its document's hash, its entity mentions and its LLM triples."""

    chunk: Chunk
    doc_hash: str
    mentions: list[Mention] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "chunk": json.loads(chunk_to_json(self.chunk)),
                "doc_hash": self.doc_hash,
                "mentions": [[m.name, m.surface, m.kind, m.sentence] for m in self.mentions],
                "triples": [[t.subject, t.relation, t.object] for t in self.triples],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> ChunkRecord:
        obj = json.loads(line)
        return cls(
            chunk_from_json(json.dumps(obj["chunk"])),
            obj["doc_hash"],
            [Mention(n, s, k, int(i)) for n, s, k, i in obj["mentions"]],
            [Triple(s, r, o) for s, r, o in obj["triples"]],
        )


def document_title(doc: Document, ids_as_titles: bool = True) -> str:
    """The document's title: ``metadata["title"]``, else its id when the id reads like a name.

    An id reads like a name when it has letters, no path separator or file suffix, and is not a hex/uuid
    hash (``"Demon Dice"`` yes; ``"docs/a.txt"``, ``"5a77ec11"`` no).
    """
    title = str(doc.metadata.get("title") or "").strip()
    if title or not ids_as_titles:
        return title
    i = doc.id.strip()
    if not any(ch.isalpha() for ch in i) or "/" in i or "\\" in i or _HEXISH.match(i):
        return ""
    if re.search(r"\.[A-Za-z0-9]{1,5}$", i):
        return ""
    return i
