"""Datasets in BEIR layout: load any folder, validate it loudly, split its queries into dev and test.

A folder holds ``corpus.jsonl`` (``_id``, ``text``, optional ``title``), ``queries.jsonl``
(``_id``, ``text``), ``qrels/<split>.tsv`` (``query-id  corpus-id  score``, optional header) and, when
present, ``answers.jsonl`` (``_id``, ``answers``) and ``spans.jsonl`` (``_id``, ``doc_id``, ``start``,
``end``: character offsets into the document's ``text``). Malformed input raises :class:`DatasetError`
naming the file and line, because a silently skipped line changes every number computed downstream.

``split_queries`` is the one dev/test split every benchmark uses ("tune on dev, report on test"): a query
goes to dev when a seeded hash of its id falls below ``dev_fraction``, so the split is stable across runs,
machines and subsets of the data.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ragloom.core.errors import DatasetError
from ragloom.core.files import utf8_lines
from ragloom.core.types import Document

__all__ = [
    "Dataset",
    "DatasetWarning",
    "GoldSpan",
    "SplitName",
    "indexable_documents",
    "load_dataset",
    "split_queries",
]

SplitName = Literal["dev", "test", "all"]


class DatasetWarning(UserWarning):
    """Something in a dataset was skipped (e.g. qrels rows naming absent documents); the message counts it."""


DEV_FRACTION = 0.3
SPLIT_SEED = 0


@dataclass(frozen=True, slots=True)
class GoldSpan:
    """A gold answer span: ``corpus[doc_id].text[start:end]``."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Dataset:
    """An evaluation set. ``corpus`` documents hold the BEIR ``text``; the title is ``metadata["title"]``.

    ``queries`` are only those with relevance judgements (qrels or spans), in file order.
    """

    name: str
    corpus: dict[str, Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    answers: dict[str, list[str]] = field(default_factory=dict)
    spans: dict[str, list[GoldSpan]] = field(default_factory=dict)

    def with_queries(self, query_ids: Sequence[str]) -> Dataset:
        """The same corpus restricted to ``query_ids`` (unknown ids are an error)."""
        unknown = [q for q in query_ids if q not in self.queries]
        if unknown:
            raise DatasetError(f"dataset {self.name!r} has no queries {unknown[:5]}")
        keep = set(query_ids)
        return replace(
            self,
            queries={q: t for q, t in self.queries.items() if q in keep},
            qrels={q: r for q, r in self.qrels.items() if q in keep},
            answers={q: a for q, a in self.answers.items() if q in keep},
            spans={q: s for q, s in self.spans.items() if q in keep},
        )

    def split(self, which: SplitName, seed: int = SPLIT_SEED, dev_fraction: float = DEV_FRACTION) -> Dataset:
        """The dev or test part of the queries (see :func:`split_queries`), or all of them."""
        if which == "all":
            return self
        if which not in ("dev", "test"):
            raise DatasetError(f"unknown split {which!r}; use 'dev', 'test' or 'all'")
        dev, test = split_queries(list(self.queries), seed=seed, dev_fraction=dev_fraction)
        return self.with_queries(dev if which == "dev" else test)

    def limit(self, n: int | None) -> Dataset:
        """The first ``n`` queries (file order); ``None`` keeps all."""
        return self if n is None else self.with_queries(list(self.queries)[: max(n, 0)])


def split_queries(
    query_ids: Sequence[str], seed: int = SPLIT_SEED, dev_fraction: float = DEV_FRACTION
) -> tuple[list[str], list[str]]:
    """Split ids into (dev, test), order kept; membership depends only on (seed, id), not on other ids."""
    if not 0.0 <= dev_fraction <= 1.0:
        raise DatasetError(f"dev_fraction must be in [0, 1], got {dev_fraction}")
    dev: list[str] = []
    test: list[str] = []
    for qid in query_ids:
        digest = hashlib.blake2b(f"{seed}:{qid}".encode(), digest_size=8).digest()
        (dev if int.from_bytes(digest, "big") / 2**64 < dev_fraction else test).append(qid)
    return dev, test


def load_dataset(path: str | Path, qrels_split: str = "test", corpus_optional: bool = False) -> Dataset:
    """Load a BEIR-layout folder; ``qrels_split`` names ``qrels/<split>.tsv``.

    ``corpus_optional``: a folder without ``corpus.jsonl`` (a document set such as docs-a, whose files are
    indexed separately) loads with an empty corpus; qrels are then not checked against it. A folder with
    answers.jsonl and no qrels/ folder at all (a user's own small question set) loads its answered questions.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(
            f"{root}: not a folder; expected a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/)"
        )
    no_corpus = corpus_optional and not (root / "corpus.jsonl").is_file()
    corpus = {} if no_corpus else _load_corpus(root / "corpus.jsonl")
    all_queries = _load_queries(root / "queries.jsonl")
    answers_only = not (root / "qrels").is_dir() and (root / "answers.jsonl").is_file()
    checked = None if no_corpus else corpus
    qrels = {} if answers_only else _load_qrels(_qrels_path(root, qrels_split), all_queries, checked)
    spans = _load_spans(root / "spans.jsonl", all_queries, corpus)
    answers = _load_answers(root / "answers.jsonl", all_queries)
    judged = set(qrels) | set(spans) | (set(answers) if answers_only else set())
    queries = {q: t for q, t in all_queries.items() if q in judged}
    if not queries:
        raise DatasetError(
            f"{root}: no query has a relevance judgement in qrels/{qrels_split}.tsv or spans.jsonl"
        )
    return Dataset(
        name=root.name,
        corpus=corpus,
        queries=queries,
        qrels={q: qrels[q] for q in queries if q in qrels},
        answers={q: answers[q] for q in queries if q in answers},
        spans={q: spans[q] for q in queries if q in spans},
    )


def _qrels_path(root: Path, split: str) -> Path:
    path = root / "qrels" / f"{split}.tsv"
    if not path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise DatasetError(
            f"{path}: missing; available qrels splits: {have or 'none'} (pass one as the split)"
        )
    return path


def _iter_jsonl(
    path: Path, required: dict[str, type | tuple[type, ...]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) per non-blank line; ``required`` keys must exist with the right types."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing; a BEIR-layout folder needs it")
    for lineno, line in utf8_lines(path):  # a leading byte order mark is not part of the JSON
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})") from e
        if not isinstance(record, dict):
            raise DatasetError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        for key, kind in required.items():
            if key not in record:
                raise DatasetError(f"{path}:{lineno}: missing field {key!r} (fields: {sorted(record)})")
            if not isinstance(record[key], kind) or isinstance(record[key], bool):
                raise DatasetError(f"{path}:{lineno}: field {key!r} has the wrong type ({record[key]!r})")
        yield lineno, record


def _check_new_id(seen: dict[str, Any], rid: str, path: Path, lineno: int) -> None:
    if rid in seen:
        raise DatasetError(f"{path}:{lineno}: duplicate _id {rid!r}; give every record a unique _id")


def _load_corpus(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    for lineno, rec in _iter_jsonl(path, {"_id": (str, int), "text": str}):
        rid = str(rec["_id"])
        _check_new_id(corpus, rid, path, lineno)
        title = rec.get("title") or ""
        corpus[rid] = Document(rid, rec["text"], {"title": str(title)})
    if not corpus:
        raise DatasetError(f"{path}: the corpus is empty")
    return corpus


def _load_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for lineno, rec in _iter_jsonl(path, {"_id": (str, int), "text": str}):
        rid = str(rec["_id"])
        _check_new_id(queries, rid, path, lineno)
        queries[rid] = rec["text"]
    return queries


def _load_qrels(
    path: Path, queries: dict[str, str], corpus: dict[str, Document] | None
) -> dict[str, dict[str, int]]:
    """Judgements by query. A row naming a document missing from the corpus is skipped, with one warning
    that counts them (BEIR's tooling does the same: ArguAna's own qrels name 5 absent documents); a row
    naming an unknown query or holding a malformed score is an error."""
    qrels: dict[str, dict[str, int]] = {}
    missing: list[tuple[int, str]] = []
    for lineno, line in utf8_lines(path):
        parts = line.rstrip("\r\n").split("\t")
        if not line.strip() or (lineno == 1 and parts[0].lower() in ("query-id", "query_id", "qid")):
            continue
        if len(parts) == 4:  # TREC style: qid iteration docid score
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise DatasetError(
                f"{path}:{lineno}: expected 3 tab-separated columns (query-id corpus-id score)"
            )
        qid, did, score = parts
        try:
            rel = int(score)
        except ValueError as e:
            raise DatasetError(f"{path}:{lineno}: score {score!r} is not an integer") from e
        if qid not in queries:
            raise DatasetError(f"{path}:{lineno}: query {qid!r} is not in queries.jsonl")
        if corpus is not None and did not in corpus:
            missing.append((lineno, did))
            continue
        qrels.setdefault(qid, {})[did] = rel
    if missing:
        shown = ", ".join(f"line {n}: {d!r}" for n, d in missing[:3])
        warnings.warn(
            f"{path}: skipped {len(missing)} qrels rows naming documents not in corpus.jsonl ({shown}"
            f"{', ...' if len(missing) > 3 else ''})",
            DatasetWarning,
            stacklevel=3,
        )
    return qrels


def _load_spans(
    path: Path, queries: dict[str, str], corpus: dict[str, Document]
) -> dict[str, list[GoldSpan]]:
    spans: dict[str, list[GoldSpan]] = {}
    if not path.is_file():
        return spans
    required: dict[str, type | tuple[type, ...]] = {
        "_id": (str, int),
        "doc_id": (str, int),
        "start": int,
        "end": int,
    }
    for lineno, rec in _iter_jsonl(path, required):
        qid, did, start, end = str(rec["_id"]), str(rec["doc_id"]), rec["start"], rec["end"]
        if qid not in queries:
            raise DatasetError(f"{path}:{lineno}: query {qid!r} is not in queries.jsonl")
        if did not in corpus:
            raise DatasetError(f"{path}:{lineno}: document {did!r} is not in corpus.jsonl")
        if not 0 <= start < end <= len(corpus[did].text):
            raise DatasetError(
                f"{path}:{lineno}: span [{start}, {end}) is outside document {did!r} "
                f"(length {len(corpus[did].text)}) or empty"
            )
        spans.setdefault(qid, []).append(GoldSpan(did, start, end))
    return spans


def _load_answers(path: Path, queries: dict[str, str]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    if not path.is_file():
        return answers
    for lineno, rec in _iter_jsonl(path, {"_id": (str, int), "answers": list}):
        qid = str(rec["_id"])
        if qid not in queries:
            raise DatasetError(f"{path}:{lineno}: query {qid!r} is not in queries.jsonl")
        if not all(isinstance(a, str) for a in rec["answers"]):
            raise DatasetError(f"{path}:{lineno}: 'answers' must be a list of strings")
        answers[qid] = list(rec["answers"])
    return answers


def indexable_documents(dataset: Dataset, with_title: bool) -> list[Document]:
    """The corpus as documents to index: ``title + "\\n" + text`` when ``with_title`` and a title exists.

    ``metadata["body_offset"]`` is where the BEIR ``text`` starts, so gold spans (offsets into ``text``)
    can be shifted onto the indexed text.
    """
    docs: list[Document] = []
    for doc in dataset.corpus.values():
        title = doc.metadata.get("title", "") if with_title else ""
        prefix = f"{title}\n" if title else ""
        docs.append(Document(doc.id, prefix + doc.text, {**doc.metadata, "body_offset": len(prefix)}))
    return docs
