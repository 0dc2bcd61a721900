"""Indexing memory is bounded by the size of the text, not tens of times it.

One 50 MB document took 7.46 GB to index with the default (whole-document) chunker: the embedder tokenised
all of it to read its first 256 tokens, and BM25 split it into millions of word strings. The memory test
indexes an 8 MB document in a subprocess and bounds its peak RSS growth (the 50 MB figure is in the README).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragloom.retrieval.embedders import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[2]
DOC_MB = 8
#: Peak RSS growth allowed per byte of document (measured: ~7; before the fix: ~185).
GROWTH_PER_BYTE = 25

SCRIPT = """
import json, resource, sys
from ragloom.retrieval.index import Index
from ragloom.retrieval.sources import iter_documents

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

index = Index.create(sys.argv[2], vector_store="memory")
index.embedder.embed(["warm up the model and the tokenizer"])
index.bm25()
before = peak_mb()
report = index.update(iter_documents(sys.argv[1]))
print(json.dumps({"before": before, "after": peak_mb(), "chunks": report.chunks}))
"""


def _text(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
        for _ in range(5000)
    ]
    parts, size = [], 0
    while size < n_chars:
        sentence = " ".join(rng.choices(words, k=rng.randint(5, 25))).capitalize() + ". "
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)


@pytest.mark.slow
@pytest.mark.integration
def test_indexing_a_big_document_keeps_memory_bounded(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    source.mkdir()
    (source / "big.txt").write_text(_text(DOC_MB * 1_000_000), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(source), str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "RAGLOOM_CACHE_DIR": str(tmp_path / "cache")},  # no cached vector to skip the work
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    growth_mb = result["after"] - result["before"]
    assert result["chunks"] == 1
    assert growth_mb < DOC_MB * GROWTH_PER_BYTE, (
        f"peak RSS grew {growth_mb:.0f} MB for a {DOC_MB} MB document"
    )


@pytest.mark.slow
def test_a_long_text_embeds_exactly_like_the_model_reads_it() -> None:
    """The embedder hands the model only the head of a long text; the vector is the same."""
    embedder = SentenceTransformerEmbedder(cache_dir=False, precision="fp32")  # model.encode is fp32
    text = _text(300_000)
    head = embedder.model_input(text)
    assert len(head) < 10_000 and text.startswith(head)
    reference = embedder.model.encode([text], normalize_embeddings=True)
    assert np.allclose(embedder.embed([text]), reference, atol=1e-6)
    no_spaces = "x" * 50_000  # no whitespace to cut at: the whole text goes to the model
    assert embedder.model_input(no_spaces) == no_spaces


def test_a_huge_document_kept_whole_draws_a_warning() -> None:
    from ragloom.retrieval.chunkers import LONG_DOCUMENT_WARNING_CHARS, WholeDocumentChunker

    chunker = WholeDocumentChunker()
    assert len(chunker.split("small text", "a")) == 1
    with pytest.warns(UserWarning, match=r"document 'big' has 1,000,001 characters .* --chunker sentence"):
        [chunk] = chunker.split("x" * (LONG_DOCUMENT_WARNING_CHARS + 1), "big")
    assert chunk.end == LONG_DOCUMENT_WARNING_CHARS + 1
