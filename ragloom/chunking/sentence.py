"""Sentence splitting by regex (abbreviation-aware) and the SentenceChunker that groups sentences to a size.

A regex splitter is enough for retrieval chunks and costs nothing to install; it errs on the side of not
splitting (after known abbreviations, initials like ``J.`` and ``U.S.``, or before a lower-case word), since
a missed boundary only makes a chunk a little longer while a false one cuts a sentence in two.
"""

from __future__ import annotations

import re

from ragloom.chunking.base import Span, check_positive, count_words, group_units, make_chunks, trim_span
from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

#: Lower-cased words (without the final period) after which a period does not end a sentence.
_ABBREVIATION_WORDS = """mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf al approx dept est fig figs no nos
vol vols pp ed eds inc ltd co corp gen col lt sgt capt rev hon gov sen rep jan feb mar apr jun jul aug
sep sept oct nov dec mon tue wed thu fri sat sun u.s u.k u.n a.m p.m ca op ch sec art esp viz"""
ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s|$)")
_PARAGRAPH = re.compile(r"\n[^\S\n]*\n\s*")
_INITIALS = re.compile(r"^(?:[^\W\d_]\.)*[^\W\d_]$")  # "J", "U.S", "e.g"
_WORD_BEFORE = re.compile(r"(\S+)$")


def _is_abbreviation(text: str, dot: int) -> bool:
    """Does the word ending just before ``text[dot] == '.'`` look like an abbreviation or an initial?"""
    m = _WORD_BEFORE.search(text, max(0, dot - 40), dot)
    if m is None:
        return False
    word = m.group(1).lstrip("\"'“‘«([")
    return word.lower() in ABBREVIATIONS or bool(_INITIALS.match(word))


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    nxt = m.end()
    while nxt < len(text) and text[nxt].isspace():
        nxt += 1
    if nxt >= len(text):
        return True
    follower = text[nxt]
    if follower.islower() or follower in ",;:":
        return False
    single_period = m.group(0).rstrip("\"'”’»)]") == "."
    return not (single_period and _is_abbreviation(text, m.start()))


def sentence_spans(text: str) -> list[Span]:
    """Trimmed character spans of the sentences of ``text`` in order (blank lines always end a sentence)."""
    cuts = {m.end() for m in _END.finditer(text) if _ends_sentence(text, m)}
    cuts.update(m.start() for m in _PARAGRAPH.finditer(text))
    spans: list[Span] = []
    start = 0
    for cut in [*sorted(cuts), len(text)]:
        s, e = trim_span(text, start, cut)
        if e > s:
            spans.append((s, e))
        start = max(start, cut)
    return spans


class SentenceChunker:
    """Whole sentences grouped to about ``target_words`` words; ``overlap`` sentences repeat between chunks.

    A sentence longer than the target stays whole (its own chunk).
    """

    def __init__(self, target_words: int = 120, overlap: int = 0) -> None:
        check_positive("SentenceChunker", target_words=target_words)
        if not isinstance(overlap, int) or overlap < 0:
            raise ConfigError(f"SentenceChunker: overlap (in sentences) must be an int >= 0, got {overlap!r}")
        self.target_words = target_words
        self.overlap = overlap

    def split(self, text: str, doc_id: str) -> list[Chunk]:
        sents = sentence_spans(text)
        sizes = [count_words(text, s, e) for s, e in sents]
        runs = group_units(sizes, self.target_words, self.overlap)
        spans = [(sents[i][0], sents[j - 1][1]) for i, j in runs]
        return make_chunks(text, doc_id, spans, chunker="sentence")
