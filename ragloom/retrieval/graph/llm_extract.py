"""LLM open information extraction: (subject, relation, object) triples per passage, with gleaning.

HippoRAG's offline indexing asks an LLM for named entities and OpenIE triples; GraphRAG (Edge et al., 2024,
arXiv:2404.16130) adds *gleaning*: after the first answer the model is told that some triples were missed
and asked for more, which raises recall on dense passages. Small and remote models both slip on JSON, so the
parser takes the first JSON object (fences and prose ignored, common slips repaired), accepts triples as
lists or as objects, and falls back to ``(s, r, o)`` lines; anything it cannot read counts as no triples
rather than failing the whole build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import LLM
from ragloom.core.types import Message, Usage

__all__ = [
    "TRIPLE_SCHEMA",
    "LLMTripleExtractor",
    "Triple",
    "TripleExtraction",
    "parse_triples",
]

TRIPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "triples": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3},
        }
    },
    "required": ["triples"],
}
SYSTEM_PROMPT = (
    "You extract knowledge graph triples from a passage. Each triple is [subject, relation, object]; "
    "subjects and objects are named entities or specific concepts written as in the passage; relations are "
    "short verb phrases. Resolve pronouns to the entity they refer to. Reply with only a JSON object "
    "matching this JSON schema: " + json.dumps(TRIPLE_SCHEMA, separators=(",", ":"))
)
GLEAN_PROMPT = (
    "Some triples in the passage were missed. Reply with a JSON object of only the missing triples in the "
    'same format, or {"triples": []} if none are missing.'
)
_TUPLE_LINE = re.compile(r"\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*,\s*([^()]+?)\s*\)")


@dataclass(frozen=True, slots=True)
class Triple:
    """A (subject, relation, object) statement as the model wrote it (not normalised)."""

    subject: str
    relation: str
    object: str


@dataclass(frozen=True)
class TripleExtraction:
    """Triples of one passage, the number of LLM calls made and their usage."""

    triples: tuple[Triple, ...]
    calls: int
    usage: Usage


def parse_triples(text: str) -> list[Triple]:
    """Triples from a model reply; unreadable replies give ``[]`` (see the module docstring)."""
    from ragloom.llm.structured import extract_json

    try:
        data = extract_json(text)
    except ValueError:
        data = None
    items: Any = data.get("triples", []) if isinstance(data, dict) else data
    triples = _from_items(items) if isinstance(items, list) else []
    if not triples and data is None:
        triples = [Triple(*(p.strip(" '\"") for p in m)) for m in _TUPLE_LINE.findall(text)]
    return [t for t in triples if t.subject and t.relation and t.object]


def _from_items(items: list[Any]) -> list[Triple]:
    out: list[Triple] = []
    for item in items:
        if isinstance(item, (list, tuple)) and len(item) == 3:
            out.append(Triple(*(str(x).strip() for x in item)))
        elif isinstance(item, dict):
            s = item.get("subject", item.get("s"))
            r = item.get("relation", item.get("predicate", item.get("r")))
            o = item.get("object", item.get("o"))
            if s is not None and r is not None and o is not None:
                out.append(Triple(str(s).strip(), str(r).strip(), str(o).strip()))
    return out


class LLMTripleExtractor:
    """OpenIE triples from ``llm`` for each passage; ``gleanings`` extra "what did you miss" rounds.

    A gleaning round that adds no new triple ends the loop early. ``max_tokens`` bounds each reply.
    """

    def __init__(self, llm: LLM, gleanings: int = 1, max_tokens: int = 512) -> None:
        if gleanings < 0:
            raise ConfigError(f"LLMTripleExtractor: gleanings must be >= 0, got {gleanings}")
        if max_tokens <= 0:
            raise ConfigError(f"LLMTripleExtractor: max_tokens must be > 0, got {max_tokens}")
        self.llm = llm
        self.gleanings = gleanings
        self.max_tokens = max_tokens

    @property
    def model(self) -> str:
        return str(self.llm.model)

    def messages(self, text: str) -> list[Message]:
        """The first-round prompt for ``text`` (also what the pre-flight estimate counts)."""
        return [Message("system", SYSTEM_PROMPT), Message("user", f"Passage:\n{text}")]

    def extract(self, text: str) -> TripleExtraction:
        """Triples of ``text``, de-duplicated (case-insensitively), in the order the model gave them."""
        messages = self.messages(text)
        seen: dict[tuple[str, str, str], Triple] = {}
        usage = Usage()
        calls = 0
        for round_ in range(self.gleanings + 1):
            completion = self.llm.complete(messages, max_tokens=self.max_tokens, temperature=0.0)
            calls += 1
            usage = usage + completion.usage
            new = 0
            for t in parse_triples(completion.text):
                key = (t.subject.lower(), t.relation.lower(), t.object.lower())
                if key not in seen:
                    seen[key] = t
                    new += 1
            if round_ == self.gleanings or (round_ > 0 and new == 0):
                break
            messages = [*messages, Message("assistant", completion.text), Message("user", GLEAN_PROMPT)]
        return TripleExtraction(tuple(seen.values()), calls, usage)

    def extract_many(self, texts: Sequence[str]) -> list[TripleExtraction]:
        return [self.extract(t) for t in texts]
