"""PerplexityChunker with a FakeScorer: cuts after perplexity minima, merging, and the span invariant."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragloom.chunking.perplexity import PerplexityChunker, TokenScorer, find_minima, score_sentences
from ragloom.core.errors import ConfigError

_TOKEN = re.compile(r"\s*\S+")  # like byte-level BPE: a token's span includes the whitespace before it
_NLL = re.compile(r"P(\d+(?:_\d+)?)")


@dataclass(frozen=True)
class FakeScores:
    logprobs: list[float]
    offsets: list[tuple[int, int]]


class FakeScorer:
    """Tokens are words (with their leading whitespace); a word ``P3_5`` has log-prob -3.5, others -1."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def token_logprobs(self, text: str) -> FakeScores:
        self.calls.append(text)
        offsets, logprobs = [], []
        for m in _TOKEN.finditer(text):
            offsets.append((m.start(), m.end()))
            nll = _NLL.search(m.group())
            logprobs.append(-float(nll.group(1).replace("_", ".")) if nll else -1.0)
        return FakeScores(logprobs, offsets)


def _text(nlls: list[float], words: int = 2, sep: str = " ") -> str:
    return sep.join(" ".join([f"P{str(v).replace('.', '_')}"] * words) + "." for v in nlls)


def test_fake_is_a_token_scorer() -> None:
    assert isinstance(FakeScorer(), TokenScorer)


@pytest.mark.parametrize(
    ("values", "threshold", "minima"),
    [
        ([5, 2, 6, 4, 1, 3], 0.0, [1, 4]),
        ([5, 2, 6, 4, 1, 3], 3.5, [1]),
        ([5, 2, 6, 4, 1, 3], 4.5, []),
        ([1, 2, 3, 4], 0.0, []),  # monotone: no interior minimum
        ([3, 1, 1, 3], 0.0, [1]),  # plateau: the first of the flat pair, as in the paper
        ([3, 1, 1, 3], 2.5, []),
        ([1, 0], 0.0, []),  # endpoints are never minima
        ([], 0.0, []),
    ],
)
def test_find_minima(values: list[float], threshold: float, minima: list[int]) -> None:
    assert find_minima(values, threshold) == minima


def test_sentence_perplexity_is_mean_token_nll() -> None:
    chunker = PerplexityChunker(FakeScorer(), target_size=None)
    scores = chunker.sentence_scores(_text([5, 2, 6]))
    assert [round(s.log_ppl, 6) for s in scores] == [5.0, 2.0, 6.0]
    assert [s.tokens for s in scores] == [2, 2, 2]
    assert scores[1].perplexity == pytest.approx(2.718281828**2)


def test_boundaries_after_local_minima() -> None:
    text = _text([5, 2, 6, 4, 1, 3])
    chunks = PerplexityChunker(FakeScorer(), target_size=None).split(text, "d")
    assert [c.text for c in chunks] == ["P5 P5. P2 P2.", "P6 P6. P4 P4. P1 P1.", "P3 P3."]
    for c in chunks:
        assert text[c.start : c.end] == c.text and c.doc_id == "d" and c.metadata["chunker"] == "perplexity"


def test_threshold_suppresses_shallow_minima() -> None:
    chunks = PerplexityChunker(FakeScorer(), target_size=None, threshold=3.5).split(
        _text([5, 2, 6, 4, 1, 3]), "d"
    )
    assert [c.text for c in chunks] == ["P5 P5. P2 P2.", "P6 P6. P4 P4. P1 P1. P3 P3."]


def test_dynamic_merging_to_target_tokens_words_chars() -> None:
    text = _text([5, 2, 6, 4, 1, 3])  # PPL pieces of 4, 6 and 2 tokens
    tokens = PerplexityChunker(FakeScorer(), target_size=10).split(text, "d")
    assert [c.text for c in tokens] == ["P5 P5. P2 P2. P6 P6. P4 P4. P1 P1.", "P3 P3."]
    words = PerplexityChunker(FakeScorer(), target_size=8, size_unit="words").split(text, "d")
    assert [c.text for c in words] == ["P5 P5. P2 P2.", "P6 P6. P4 P4. P1 P1. P3 P3."]
    chars = PerplexityChunker(FakeScorer(), target_size=1000, size_unit="chars").split(text, "d")
    assert [c.text for c in chars] == [text]
    # a piece larger than the target stays whole (never cut inside a PPL piece)
    tiny = PerplexityChunker(FakeScorer(), target_size=1).split(text, "d")
    assert len(tiny) == 3


def test_tokens_between_sentences_and_newlines() -> None:
    text = "  " + _text([4, 1, 4, 4], sep="\n\n") + "\n"
    chunks = PerplexityChunker(FakeScorer(), target_size=None).split(text, "doc")
    assert [c.text for c in chunks] == ["P4 P4.\n\nP1 P1.", "P4 P4.\n\nP4 P4."]
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_one_scoring_pass_and_edge_cases() -> None:
    scorer = FakeScorer()
    chunker = PerplexityChunker(scorer)
    assert chunker.split("", "d") == [] and chunker.split("  \n ", "d") == []
    assert scorer.calls == []
    assert [c.text for c in chunker.split("Just one sentence.", "d")] == ["Just one sentence."]
    chunker.split(_text([3, 1, 3]), "d")
    assert len(scorer.calls) == 2  # one pass per document, every sentence conditioned on all before it


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="token_logprobs"):
        PerplexityChunker(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target_size"):
        PerplexityChunker(FakeScorer(), target_size=0)
    with pytest.raises(ConfigError, match="size_unit"):
        PerplexityChunker(FakeScorer(), size_unit="pages")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threshold"):
        PerplexityChunker(FakeScorer(), threshold=-1)


@settings(max_examples=60, deadline=None)
@given(
    nlls=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=12),
    seps=st.lists(st.sampled_from([" ", "\n", "\n\n", "  \t"]), min_size=12, max_size=12),
    target=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
)
def test_span_invariant_and_cuts_at_minima(nlls: list[int], seps: list[str], target: int | None) -> None:
    text = "".join(f"{seps[i]}P{v} w{i}." for i, v in enumerate(nlls)) + seps[-1]
    chunker = PerplexityChunker(FakeScorer(), target_size=target)
    chunks = chunker.split(text, "d")
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
    assert " ".join(c.text for c in chunks).split() == text.split()  # nothing lost, nothing repeated
    scores = chunker.sentence_scores(text)
    minima_ends = {scores[i].end for i in find_minima([s.log_ppl for s in scores], 0.0)}
    cut_ends = {c.end for c in chunks[:-1]}
    assert cut_ends <= minima_ends  # every cut is after a PPL minimum
    if target is None:
        assert cut_ends == minima_ends  # and without merging, every minimum is a cut


def test_score_sentences_ignores_tokens_outside_sentences() -> None:
    text = "aa bb. Cc."
    scored = FakeScores([-1.0, -2.0, -9.0, -4.0], [(0, 2), (2, 6), (6, 7), (7, 10)])
    scores = score_sentences(text, [(0, 6), (7, 10)], scored)
    assert [s.tokens for s in scores] == [2, 1] and [s.log_ppl for s in scores] == [1.5, 4.0]
