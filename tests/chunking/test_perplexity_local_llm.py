"""PerplexityChunker with the REAL embedded LLM's token log-probabilities (SmolLM2-135M)."""

from __future__ import annotations

import math

import pytest

from ragloom.chunking.perplexity import PerplexityChunker, TokenScorer, find_minima

pytestmark = pytest.mark.slow

TEXT = """Marley was dead, to begin with. There is no doubt whatever about that. The register of his burial \
was signed by the clergyman, the clerk, the undertaker, and the chief mourner. Scrooge signed it.

Photosynthesis converts light energy into chemical energy. Plants use chlorophyll to absorb sunlight. The \
process releases oxygen as a by-product. Most of the oxygen in the air comes from it.

The stock market fell sharply on Monday. Investors worried about rising interest rates. Bank shares led \
the decline."""


@pytest.fixture(scope="module")
def llm():  # type: ignore[no-untyped-def]
    from ragloom.llm import default_llm

    return default_llm().load()


def test_local_llm_is_a_token_scorer(llm) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(llm, TokenScorer)


def test_real_perplexity_chunks(llm) -> None:  # type: ignore[no-untyped-def]
    chunker = PerplexityChunker(llm, target_size=None)
    scores = chunker.sentence_scores(TEXT)
    assert len(scores) == 11
    assert all(s.tokens > 0 and math.isfinite(s.log_ppl) and s.log_ppl > 0 for s in scores)
    chunks = chunker.split(TEXT, "mixed")
    assert len(chunks) >= 2
    assert all(TEXT[c.start : c.end] == c.text for c in chunks)
    assert " ".join(c.text for c in chunks).split() == TEXT.split()
    minima = find_minima([s.log_ppl for s in scores])
    assert {c.end for c in chunks[:-1]} == {scores[i].end for i in minima}

    merged = PerplexityChunker(llm, target_size=60).split(TEXT, "mixed")
    assert len(merged) <= len(chunks)
    assert all(TEXT[c.start : c.end] == c.text for c in merged)
    assert {c.end for c in merged} <= {c.end for c in chunks}  # merging only removes cuts
