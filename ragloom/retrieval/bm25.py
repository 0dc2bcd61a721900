"""BM25 on bm25s (Lù 2024, arXiv:2407.03618): eager sparse scoring, English stopwords, Snowball stems.

Indexing is bm25s itself (``bm25s.tokenize`` + ``BM25.index``), so scores equal bm25s's. The query path skips
bm25s's per-call generality: the query is split with the same regex, stopwords dropped, each word stemmed once
(memoised) and mapped straight to a vocabulary id, and the score vector is one ``np.bincount`` over the
posting slices of the query terms (bm25s adds them term by term with ``np.add.at``). Same numbers, less work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.files import recover_dir, replace_dir
from ragloom.core.types import Chunk, Hit
from ragloom.retrieval.chunk_store import read_chunks, write_chunks
from ragloom.retrieval.filters import Filter, FilterCache, Where, compile_filter
from ragloom.retrieval.vector_math import top_k_indices

__all__ = ["BM25Retriever", "BM25Tokenizer"]

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s / scikit-learn default
_IDS_FILE = "ids.json"
_SLICE_CHARS = 1 << 20  # characters tokenised at a time when indexing
_WHITESPACE = re.compile(r"\s")
_CHUNKS_FILE = "chunks.jsonl"


class BM25Tokenizer:
    """Query-side tokenizer equal to ``bm25s.tokenize(..., stopwords, stemmer)``, with a stem memo."""

    def __init__(self, stopwords: str | Sequence[str] | None = "en", stem: bool = True) -> None:
        from bm25s.tokenization import _infer_stopwords

        self.stopwords: frozenset[str] = frozenset(_infer_stopwords(stopwords) if stopwords else ())
        self._split = re.compile(TOKEN_PATTERN).findall
        self.stemmer: Any = None
        if stem:
            import Stemmer

            self.stemmer = Stemmer.Stemmer("english")
        self._memo: dict[str, str] = {}

    def words(self, text: str) -> list[str]:
        """Lower-cased, stopword-free, stemmed words of ``text`` in order (duplicates kept, as bm25s does)."""
        memo, stops = self._memo, self.stopwords
        out: list[str] = []
        for word in self._split(text.lower()):
            if word in stops:
                continue
            stem = memo.get(word)
            if stem is None:
                stem = self.stemmer.stemWord(word) if self.stemmer is not None else word
                if len(memo) < 1_000_000:
                    memo[word] = stem
            out.append(stem)
        return out

    def corpus_tokens(self, texts: Sequence[str]) -> Any:
        """The corpus as a bm25s ``Tokenized`` (ids per text + vocabulary), equal to ``bm25s.tokenize``'s.

        bm25s splits each whole text into a list of word strings first: a 50 MB document became 7 million
        strings (600 MB). Here each text is read in slices cut just after a whitespace character (words,
        lower-casing and stems never cross one, so the result is exactly bm25s's up to the numbering of
        the vocabulary) and only the integer ids are kept.
        """
        from bm25s.tokenization import Tokenized

        vocab: dict[str, int] = {}
        word_ids: dict[str, int] = {}
        stops, stemmer = self.stopwords, self.stemmer
        ids: list[list[int]] = []
        for text in texts:
            doc: list[int] = []
            for piece in _slices(text, _SLICE_CHARS):
                for word in self._split(piece.lower()):
                    if word in stops:
                        continue
                    sid = word_ids.get(word)
                    if sid is None:
                        stem = stemmer.stemWord(word) if stemmer is not None else word
                        sid = word_ids[word] = vocab.setdefault(stem, len(vocab))
                    doc.append(sid)
            ids.append(doc)
        return Tokenized(ids=ids, vocab=vocab)


def _slices(text: str, size: int) -> Iterator[str]:
    """``text`` in pieces of about ``size`` characters, each ending just after a whitespace character."""
    start = 0
    while start < len(text):
        found = _WHITESPACE.search(text, start + size) if start + size < len(text) else None
        end = found.end() if found else len(text)
        yield text[start:end]
        start = end


def indexed_text(chunk: Chunk) -> str:
    """What BM25 indexes for ``chunk``: its text, after its heading path when it has one (``section``
    metadata from ragloom.documents). On docs-a this lifts BM25 answer@5 from 0.883 to 0.900 and page@5
    from 0.933 to 0.967 (benchmarks/doc_prefix.py); hits still carry the unprefixed chunk. The embedder sees
    the bare text: there the prefix lowered dense answer@5 from 0.833 to 0.783 (doc_prefix_dense.json)."""
    section = chunk.metadata.get("section") if chunk.metadata else None
    return f"{section}\n{chunk.text}" if isinstance(section, str) and section else chunk.text


class BM25Retriever:
    """Retriever: BM25 over ``chunks`` (``chunk.text``, after its heading path when it has one, is indexed),
    hits best first, only positive scores.

    Parameters: ``k1``, ``b``, ``method`` (bm25s: ``lucene`` default, ``robertson``, ``atire``, ``bm25l``,
    ``bm25+``); ``stopwords`` (``"en"`` or a list, None for none); ``stem`` (Snowball English via PyStemmer).
    Persist with :meth:`save` / :meth:`load` (bm25s files plus the chunk ids, and the chunks unless the caller
    keeps them elsewhere).
    """

    source = "bm25"

    def __init__(
        self,
        chunks: Sequence[Chunk] = (),
        *,
        k1: float = 1.5,
        b: float = 0.75,
        method: str = "lucene",
        stopwords: str | Sequence[str] | None = "en",
        stem: bool = True,
    ) -> None:
        check_method(method)
        self.params: dict[str, Any] = {
            "k1": k1,
            "b": b,
            "method": method,
            "stopwords": stopwords,
            "stem": stem,
        }
        self.tokenizer = BM25Tokenizer(stopwords, stem)
        self.chunks: list[Chunk] = list(chunks)
        self._model: Any = None
        self._vocab: dict[str, int] = {}
        self._masks: FilterCache[np.ndarray] = FilterCache()
        if self.chunks:
            self._build()

    def _build(self) -> None:
        import bm25s

        tokens = self.tokenizer.corpus_tokens([indexed_text(c) for c in self.chunks])
        if not tokens.vocab:  # nothing indexable (all stopwords / punctuation): every query finds nothing
            return
        p = self.params
        model = bm25s.BM25(k1=p["k1"], b=p["b"], method=p["method"])
        model.index(tokens, show_progress=False)
        self._set_model(model)

    def _set_model(self, model: Any) -> None:
        self._model = model
        self._vocab = dict(model.vocab_dict)
        scores = model.scores
        self._data, self._indices, self._indptr = scores["data"], scores["indices"], scores["indptr"]
        self._num_docs = int(scores["num_docs"])
        self._nonoccurrence = getattr(model, "nonoccurrence_array", None)

    def __len__(self) -> int:
        return len(self.chunks)

    # -- scoring ----------------------------------------------------------------------------------------
    def token_ids(self, query: str) -> list[int]:
        """Vocabulary ids of the query's terms (unknown terms dropped, duplicates kept)."""
        vocab = self._vocab
        return [vocab[w] for w in self.tokenizer.words(query) if w in vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for ``query`` (the same numbers as ``bm25s.BM25.get_scores``)."""
        if self._model is None:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return self._scores_from_ids(self.token_ids(query))

    def _scores_from_ids(self, ids: list[int]) -> np.ndarray:
        if not ids:
            return np.zeros(self._num_docs, dtype=np.float32)
        starts, ends = self._indptr[ids], self._indptr[np.asarray(ids) + 1]
        if len(ids) == 1:
            cols, vals = self._indices[starts[0] : ends[0]], self._data[starts[0] : ends[0]]
        else:
            cols = np.concatenate([self._indices[s:e] for s, e in zip(starts, ends, strict=True)])
            vals = np.concatenate([self._data[s:e] for s, e in zip(starts, ends, strict=True)])
        scores = np.bincount(cols, weights=vals, minlength=self._num_docs).astype(np.float32)
        if self._nonoccurrence is not None:
            scores += self._nonoccurrence[ids].sum()
        return scores

    # -- Retriever protocol -----------------------------------------------------------------------------
    def retrieve(self, query: str, k: int = 10, where: Where | Filter | None = None) -> list[Hit]:
        """At most ``k`` hits with score > 0, best first; no matching term or an empty index gives ``[]``.

        ``where`` masks the scores before the top ``k`` is taken (see :mod:`ragloom.retrieval.filters`).
        """
        if k <= 0 or self._model is None:
            return []
        ids = self.token_ids(query)
        if not ids:
            return []
        scores = self._scores_from_ids(ids)
        keep = scores > 0  # BM25 scores are sparse: rank only the documents that match
        compiled = compile_filter(where)
        if compiled is not None:
            keep &= self._masks.get(compiled, self._mask)
        matched = np.flatnonzero(keep)
        top = matched[top_k_indices(scores[matched], k)]
        chunks, source = self.chunks, self.source
        return [Hit(chunks[i], float(scores[i]), source) for i in top.tolist()]

    def retrieve_many(
        self, queries: Sequence[str], k: int = 10, where: Where | Filter | None = None
    ) -> list[list[Hit]]:
        """``retrieve`` for each query (the batch entry point evaluation uses)."""
        compiled = compile_filter(where)
        return [self.retrieve(q, k, compiled) for q in queries]

    def _mask(self, where: Filter) -> np.ndarray:
        return np.fromiter((where.matches_chunk(c) for c in self.chunks), dtype=bool, count=len(self.chunks))

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, with_chunks: bool = True) -> Path:
        """Write the index to ``directory`` (atomically: built beside it, then renamed into place)."""
        target = Path(directory)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._model is not None:
            self._model.save(str(tmp / "bm25s"), show_progress=False)
        meta = {"params": self.params, "ids": [c.id for c in self.chunks], "empty": self._model is None}
        (tmp / _IDS_FILE).write_text(json.dumps(meta), encoding="utf-8")
        if with_chunks:
            write_chunks(tmp / _CHUNKS_FILE, self.chunks)
        replace_dir(tmp, target)
        return target

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], chunks: Mapping[str, Chunk] | Sequence[Chunk] | None = None
    ) -> BM25Retriever:
        """Open an index written by :meth:`save`. ``chunks`` (by id) replaces the saved chunk file."""
        import bm25s

        folder = Path(directory)
        recover_dir(folder)  # a writer killed mid-swap leaves only the old folder, aside
        try:
            meta = json.loads((folder / _IDS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise IndexError_(
                f"no readable BM25 index in {folder} ({e}); build it with BM25Retriever(...).save"
            ) from e
        if chunks is None:
            chunks = read_chunks(folder / _CHUNKS_FILE)
        by_id = chunks if isinstance(chunks, Mapping) else {c.id: c for c in chunks}
        missing = [i for i in meta["ids"] if i not in by_id]
        if missing:
            raise IndexError_(
                f"BM25 index in {folder} refers to {len(missing)} unknown chunks, e.g. {missing[0]!r}"
            )
        p = meta["params"]
        self = cls(k1=p["k1"], b=p["b"], method=p["method"], stopwords=p["stopwords"], stem=p["stem"])
        self.chunks = [by_id[i] for i in meta["ids"]]
        self._masks.clear()
        if not meta["empty"]:
            try:  # bm25s reads its arrays with allow_pickle=False: a pickled one is refused, never run
                model = bm25s.BM25.load(str(folder / "bm25s"), show_progress=False, verbosity=0)
            except (OSError, ValueError, KeyError, EOFError) as e:
                raise IndexError_(f"BM25 index in {folder} is unreadable ({e}); rebuild it") from e
            self._set_model(model)
        return self


def check_method(method: str) -> str:
    """Validate a bm25s scoring method name."""
    allowed = ("robertson", "lucene", "atire", "bm25l", "bm25+")
    if method not in allowed:
        raise ConfigError(f"unknown BM25 method {method!r}; choose one of {', '.join(allowed)}")
    return method
