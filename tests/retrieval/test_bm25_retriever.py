"""BM25Retriever: rank-bm25 as oracle on real SciFact data, equality with bm25s, persistence, edge cases."""

from __future__ import annotations

import json

import bm25s
import numpy as np
import pytest
import Stemmer
from rank_bm25 import BM25Okapi

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.types import Chunk
from ragloom.retrieval.bm25 import BM25Retriever


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""

    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for value in np.unique(x):  # average ranks within ties
            mask = x == value
            r[mask] = r[mask].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def scifact_bm25(scifact_slice):
    chunks, queries = scifact_slice
    return BM25Retriever(chunks), chunks, queries


def test_agrees_with_rank_bm25_oracle(scifact_bm25):
    retriever, chunks, queries = scifact_bm25
    oracle = BM25Okapi([retriever.tokenizer.words(c.text) for c in chunks])
    overlaps, correlations, same_top = [], [], 0
    for query in list(queries.values())[:60]:
        ours = retriever.scores(query)
        theirs = oracle.get_scores(retriever.tokenizer.words(query))
        top_ours, top_theirs = np.argsort(-ours)[:10], np.argsort(-theirs)[:10]
        overlaps.append(len(set(top_ours) & set(top_theirs)) / 10)
        correlations.append(spearman(ours, theirs))
        same_top += int(top_ours[0] == top_theirs[0])
    assert np.mean(overlaps) >= 0.85
    assert np.nanmean(correlations) >= 0.95
    assert same_top >= 0.8 * len(overlaps)


def test_scores_equal_bm25s(scifact_bm25):
    retriever, chunks, queries = scifact_bm25
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25()
    reference.index(
        bm25s.tokenize([c.text for c in chunks], stopwords="en", stemmer=stemmer, show_progress=False)
    )
    for query in list(queries.values())[:40]:
        tokens = bm25s.tokenize(
            query, stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False
        )[0]
        expected = reference.get_scores(tokens) if tokens else np.zeros(len(chunks))
        assert np.allclose(retriever.scores(query), expected, atol=1e-4)


def test_finds_gold_documents(scifact_bm25, shared_data):
    retriever, _, queries = scifact_bm25
    qrels: dict[str, set[str]] = {}
    with open(shared_data / "scifact" / "qrels" / "test.tsv", encoding="utf-8") as f:
        for line in f:
            q, d, *_ = line.split("\t")
            qrels.setdefault(q, set()).add(d)
    found = sum(
        bool({h.doc_id for h in retriever.retrieve(text, 10)} & qrels[q]) for q, text in queries.items()
    )
    assert found / len(queries) >= 0.7


def test_retrieve_contract_and_batch(scifact_bm25):
    retriever, _, queries = scifact_bm25
    texts = list(queries.values())[:20]
    many = retriever.retrieve_many(texts, 7)
    for text, batch in zip(texts, many, strict=True):
        hits = retriever.retrieve(text, 7)
        assert [h.id for h in hits] == [h.id for h in batch]
        assert len(hits) <= 7
        assert all(h.score > 0 and h.source == "bm25" for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_save_and_load_round_trip(scifact_bm25, tmp_path):
    retriever, chunks, queries = scifact_bm25
    retriever.save(tmp_path / "bm25")
    loaded = BM25Retriever.load(tmp_path / "bm25")
    with_chunks = BM25Retriever.load(tmp_path / "bm25", chunks={c.id: c for c in chunks})
    for text in list(queries.values())[:10]:
        expected = [(h.id, round(h.score, 5)) for h in retriever.retrieve(text, 5)]
        assert [(h.id, round(h.score, 5)) for h in loaded.retrieve(text, 5)] == expected
        assert [h.id for h in with_chunks.retrieve(text, 5)] == [i for i, _ in expected]
    # saving again replaces the folder atomically and leaves no temp folders
    retriever.save(tmp_path / "bm25")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bm25"]


def test_empty_and_degenerate_inputs(tmp_path):
    assert BM25Retriever().retrieve("anything", 5) == []
    only_stopwords = BM25Retriever([Chunk("the and of", "d", 0, 10)])
    assert only_stopwords.retrieve("the", 3) == []
    small = BM25Retriever([Chunk("green tea leaves", "a", 0, 16), Chunk("black coffee beans", "b", 0, 18)])
    assert small.retrieve("quantum chromodynamics", 3) == []
    assert small.retrieve("", 3) == []
    assert small.retrieve("tea", 0) == []
    assert [h.doc_id for h in small.retrieve("Tea!", 3)] == ["a"]
    BM25Retriever().save(tmp_path / "empty")
    assert BM25Retriever.load(tmp_path / "empty").retrieve("tea", 2) == []
    with pytest.raises(IndexError_, match="no readable BM25 index"):
        BM25Retriever.load(tmp_path / "missing")
    with pytest.raises(ConfigError, match="lucene"):
        BM25Retriever(method="okapi++")
    json.dumps(small.params)  # parameters are plain JSON (saved with the index)


def test_corpus_tokens_read_in_slices_equal_bm25s_tokenize(monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexing reads long texts in slices (bounded memory); the tokens are exactly bm25s's."""
    import ragloom.retrieval.bm25 as bm25_module
    from ragloom.retrieval.bm25 import BM25Tokenizer

    texts = [
        "The ΟΔΟΣ and ΣΟΦΟΣ words end in sigma. Running runners ran; it's the end.\n" * 7,
        "tabs\tand\u00a0no-break spaces, CRLF\r\nlines, ünïcödé and 東京 text " * 5,
        "",
        "a an the of",  # stopwords only
    ]
    monkeypatch.setattr(bm25_module, "_SLICE_CHARS", 7)  # many slices per text
    ours = BM25Tokenizer().corpus_tokens(texts)
    reference = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
    words = {i: w for w, i in ours.vocab.items()}
    ref_words = {i: w for w, i in reference.vocab.items()}
    assert [[words[i] for i in doc] for doc in ours.ids] == [
        [ref_words[i] for i in doc] for doc in reference.ids
    ]
