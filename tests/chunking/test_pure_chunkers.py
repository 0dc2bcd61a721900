"""Pure chunkers (no model): sizes, overlaps, separators, abbreviations; hypothesis properties."""

from __future__ import annotations

import pytest
from chunk_checks import check_chunks
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.chunking.base import group_units
from ragloom.chunking.recursive import RecursiveChunker
from ragloom.chunking.sentence import SentenceChunker, sentence_spans
from ragloom.chunking.token import TokenChunker, token_offsets
from ragloom.chunking.window import ParagraphChunker, WindowChunker
from ragloom.core.errors import ConfigError

TEXTS = st.lists(
    st.sampled_from([*"ab cd.EF!?\n\r\t\u00a0é東🎉,'\"", "Mr. ", "U.S. ", "\r\n\r\n", ". The "]),
    max_size=120,
).map("".join)


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(1, 40), st.integers(0, 5))
def test_sentence_chunker_property(text: str, target: int, overlap: int) -> None:
    check_chunks(text, SentenceChunker(target, overlap).split(text, "d1"))


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(1, 120))
def test_recursive_chunker_property(text: str, size: int) -> None:
    chunks = RecursiveChunker(size).split(text, "d1")
    check_chunks(text, chunks)
    assert all(len(c.text) <= size for c in chunks)


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(1, 30), st.data())
def test_window_chunker_property(text: str, words: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, words))
    chunks = WindowChunker(words, stride).split(text, "d1")
    check_chunks(text, chunks)
    assert all(len(c.text.split()) <= words for c in chunks)


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.one_of(st.none(), st.integers(1, 20)))
def test_paragraph_chunker_property(text: str, max_words: int | None) -> None:
    chunks = ParagraphChunker(max_words).split(text, "d1")
    check_chunks(text, chunks)
    assert all("\n\n" not in c.text.replace("\r", "") for c in chunks)


@settings(max_examples=60, deadline=None)
@given(TEXTS, st.integers(1, 30), st.data())
def test_token_chunker_property(text: str, size: int, data: st.DataObject) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    chunks = TokenChunker(size, overlap).split(text, "d1")
    check_chunks(text, chunks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=40), st.integers(1, 50), st.integers(0, 4))
def test_group_units_covers_every_unit_and_advances(sizes: list[int], target: int, overlap: int) -> None:
    runs = group_units(sizes, target, overlap)
    seen = {u for i, j in runs for u in range(i, j)}
    assert seen == set(range(len(sizes)))
    assert all(i < j for i, j in runs)
    assert [i for i, _ in runs] == sorted({i for i, _ in runs})  # strictly advancing starts
    for i, j in runs:
        assert j - i == 1 or sum(sizes[i:j]) <= target


def test_token_chunker_sizes_and_overlap_in_tokens() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    chunks = TokenChunker(size=50, overlap=10).split(text, "d")
    counts = [len(token_offsets(c.text)) for c in chunks]
    assert max(counts) <= 50 and counts[0] == 50
    shared = len(token_offsets(text[chunks[1].start : chunks[0].end]))
    assert shared == 10


def test_sentence_splitter_handles_abbreviations_initials_and_quotes() -> None:
    text = (
        "Mr. Smith met Dr. J. R. Watson in Washington D.C. on Jan. 5. They talked, e.g. about tea! "
        '"Really?" she asked. The U.S. economy grew 3.5 percent. Done'
    )
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got == [
        "Mr. Smith met Dr. J. R. Watson in Washington D.C. on Jan. 5.",
        "They talked, e.g. about tea!",
        '"Really?" she asked.',
        "The U.S. economy grew 3.5 percent.",
        "Done",
    ]


def test_sentence_splitter_breaks_at_blank_lines_even_without_punctuation() -> None:
    text = "A heading\r\n\r\nBody text. More body."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["A heading", "Body text.", "More body."]


def test_recursive_prefers_paragraphs_then_lines_on_crlf_text() -> None:
    para = "Alpha beta gamma. Delta epsilon."
    text = f"{para}\r\n\r\n{para}\r\n\r\n{para}"
    chunks = RecursiveChunker(chunk_size=len(para) + 5).split(text, "d")
    assert [c.text for c in chunks] == [para, para, para]


def test_window_chunker_anchor_setting_gives_200_word_windows() -> None:
    text = " ".join(str(i) for i in range(450))
    chunks = WindowChunker(200).split(text, "d")
    assert [len(c.text.split()) for c in chunks] == [200, 200, 50]


@pytest.mark.parametrize(
    "make",
    [
        lambda: TokenChunker(size=0),
        lambda: TokenChunker(size=10, overlap=10),
        lambda: SentenceChunker(target_words=0),
        lambda: RecursiveChunker(chunk_size=-1),
        lambda: RecursiveChunker(separators=["\n", ""]),
        lambda: WindowChunker(words=5, stride=0),
        lambda: WindowChunker(words=5, stride=6),
        lambda: ParagraphChunker(max_words=0),
    ],
)
def test_bad_parameters_raise_config_errors_naming_the_chunker(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="Chunker"):
        make()
