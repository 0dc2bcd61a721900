"""QA datasets over files in their original formats (the docs-a layout), loaded and validated loudly.

A folder holds ``files/`` (the documents: PDF, HTML, Markdown, …), ``queries.jsonl`` (``_id``, ``text``),
``answers.jsonl`` (``_id``, ``answers``: ``answers[0]`` occurs verbatim in the source), ``evidence.jsonl``
(``_id``, ``source``: a file name under ``files/``, ``page``: the 1-based physical PDF page or null) and
optionally ``qrels/<split>.tsv`` judging file names. It is told apart from the BEIR layout by its ``files/``
folder in place of ``corpus.jsonl`` (:func:`is_files_dataset`). Errors name the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ragloom.core.errors import DatasetError
from ragloom.eval.datasets import (
    SplitName,
    _iter_jsonl,
    _load_answers,
    _load_queries,
    split_queries,
)

__all__ = ["Evidence", "FilesDataset", "is_files_dataset", "load_files_dataset"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a question's answer stands: a file name under ``files/`` and, for PDFs, its physical page."""

    source: str
    page: int | None = None


@dataclass(frozen=True)
class FilesDataset:
    """Questions over the files in ``files_dir``; every query has answers and evidence."""

    name: str
    files_dir: Path
    queries: dict[str, str]
    answers: dict[str, list[str]]
    evidence: dict[str, Evidence]
    qrels: dict[str, dict[str, int]]

    def with_queries(self, query_ids: Sequence[str]) -> FilesDataset:
        """The same files restricted to ``query_ids`` (unknown ids are an error)."""
        unknown = [q for q in query_ids if q not in self.queries]
        if unknown:
            raise DatasetError(f"dataset {self.name!r} has no queries {unknown[:5]}")
        keep = set(query_ids)

        def sub(d: dict) -> dict:  # type: ignore[type-arg]
            return {q: v for q, v in d.items() if q in keep}

        return replace(
            self,
            queries=sub(self.queries),
            answers=sub(self.answers),
            evidence=sub(self.evidence),
            qrels=sub(self.qrels),
        )

    def split(self, which: SplitName) -> FilesDataset:
        """The seeded dev or test part of the queries (the split BEIR datasets use), or all of them."""
        if which == "all":
            return self
        if which not in ("dev", "test"):
            raise DatasetError(f"unknown split {which!r}; use 'dev', 'test' or 'all'")
        dev, test = split_queries(list(self.queries))
        return self.with_queries(dev if which == "dev" else test)

    def limit(self, n: int | None) -> FilesDataset:
        """The first ``n`` queries (file order); ``None`` keeps all."""
        return self if n is None else self.with_queries(list(self.queries)[: max(n, 0)])

    def sources(self) -> list[str]:
        """The gold file names of the queries, each once, in query order."""
        return list(dict.fromkeys(e.source for e in self.evidence.values()))


def is_files_dataset(path: str | Path) -> bool:
    """True for a docs-a layout folder: a ``files/`` folder and no ``corpus.jsonl``."""
    root = Path(path)
    return (root / "files").is_dir() and not (root / "corpus.jsonl").exists()


def load_files_dataset(path: str | Path, qrels_split: str = "test") -> FilesDataset:
    """Load a docs-a layout folder; every query needs answers and evidence whose file exists."""
    root = Path(path)
    if not is_files_dataset(root):
        raise DatasetError(
            f"{root}: not a files dataset; expected files/, queries.jsonl, answers.jsonl, evidence.jsonl"
        )
    files_dir = root / "files"
    queries = _load_queries(root / "queries.jsonl")
    answers = _load_answers(root / "answers.jsonl", queries)
    evidence = _load_evidence(root / "evidence.jsonl", queries, files_dir)
    for qid in queries:
        missing = [
            name
            for name, table in (("answers.jsonl", answers), ("evidence.jsonl", evidence))
            if qid not in table
        ]
        if missing:
            raise DatasetError(f"{root}: query {qid!r} has no record in {', '.join(missing)}")
        if not answers[qid] or not answers[qid][0].strip():
            raise DatasetError(f"{root / 'answers.jsonl'}: query {qid!r} has an empty canonical answer")
    qrels_path = root / "qrels" / f"{qrels_split}.tsv"
    qrels = _load_file_qrels(qrels_path, queries, files_dir) if qrels_path.is_file() else {}
    return FilesDataset(root.name, files_dir, queries, answers, evidence, qrels)


def _load_evidence(path: Path, queries: dict[str, str], files_dir: Path) -> dict[str, Evidence]:
    evidence: dict[str, Evidence] = {}
    for lineno, rec in _iter_jsonl(path, {"_id": (str, int), "source": str}):
        qid, source, page = str(rec["_id"]), rec["source"], rec.get("page")
        if qid not in queries:
            raise DatasetError(f"{path}:{lineno}: query {qid!r} is not in queries.jsonl")
        if not (files_dir / source).is_file():
            raise DatasetError(f"{path}:{lineno}: source {source!r} is not a file under {files_dir}")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise DatasetError(f"{path}:{lineno}: page must be a 1-based integer or null, got {page!r}")
        evidence[qid] = Evidence(source, page)
    return evidence


def _load_file_qrels(path: Path, queries: dict[str, str], files_dir: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.rstrip("\r\n").split("\t")
            if not line.strip() or (lineno == 1 and parts[0].lower() in ("query-id", "query_id", "qid")):
                continue
            if len(parts) != 3:
                raise DatasetError(f"{path}:{lineno}: expected 3 tab-separated columns (query-id file score)")
            qid, name, score = parts
            if qid not in queries:
                raise DatasetError(f"{path}:{lineno}: query {qid!r} is not in queries.jsonl")
            if not (files_dir / name).is_file():
                raise DatasetError(f"{path}:{lineno}: {name!r} is not a file under {files_dir}")
            try:
                qrels.setdefault(qid, {})[name] = int(score)
            except ValueError as e:
                raise DatasetError(f"{path}:{lineno}: score {score!r} is not an integer") from e
    return qrels
