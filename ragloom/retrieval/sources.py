"""Documents to index: a folder of ``.txt``/``.md`` files or a BEIR ``corpus.jsonl`` (or its folder).

Files are read with ``newline=""`` so CRLF text stays exactly what is on disk (chunk spans index into it).
BEIR records become ``title + "\\n" + text`` with ``metadata["title"]`` and ``metadata["body_offset"]`` (where
the BEIR ``text`` starts), the same convention as :mod:`ragloom.eval.datasets`.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ragloom.core.errors import ConfigError, DatasetError
from ragloom.core.files import utf8_lines
from ragloom.core.types import Document

__all__ = ["TEXT_SUFFIXES", "iter_documents", "read_beir_corpus", "read_text_folder", "require_documents"]

TEXT_SUFFIXES = (".txt", ".md")


def read_beir_corpus(path: str | os.PathLike[str], with_title: bool = True) -> Iterator[Document]:
    """Documents of a BEIR ``corpus.jsonl`` (``_id``, ``text``, optional ``title``).

    A record whose ``text`` is not a string (``null`` included) is an error naming its line, not a
    document whose text is "None"; so are a byte that is not UTF-8 and an ``_id`` seen on an earlier line.
    """
    target = Path(path)
    first_line: dict[str, int] = {}
    for n, line in utf8_lines(target):  # a leading byte order mark is not part of the JSON
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            doc_id, text = obj["_id"], obj["text"]
        except (ValueError, KeyError, TypeError) as e:
            raise DatasetError(f"{target}:{n}: not a BEIR corpus record with _id and text ({e})") from e
        if not isinstance(doc_id, str | int) or isinstance(doc_id, bool) or not isinstance(text, str):
            field, value = ("text", text) if not isinstance(text, str) else ("_id", doc_id)
            raise DatasetError(
                f"{target}:{n}: {field!r} must be a {'string' if field == 'text' else 'string or integer'}, "
                f"got {json.dumps(value)}; fix or remove the record"
            )
        doc_id = str(doc_id)
        if doc_id in first_line:
            raise DatasetError(
                f"{target}:{n}: duplicate _id {doc_id!r} (first on line {first_line[doc_id]}); "
                "give every record a unique _id"
            )
        first_line[doc_id] = n
        title = str(obj.get("title") or "") if with_title else ""
        prefix = f"{title}\n" if title else ""
        yield Document(doc_id, prefix + text, {"title": title, "body_offset": len(prefix)})


def read_text_folder(
    folder: str | os.PathLike[str], suffixes: tuple[str, ...] = TEXT_SUFFIXES
) -> Iterator[Document]:
    """Every matching file under ``folder`` (recursive, sorted); the id is the POSIX path relative to it."""
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes):
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            text = f.read()
        rel = path.relative_to(root).as_posix()
        yield Document(rel, text, {"path": rel})


def iter_documents(source: str | os.PathLike[str]) -> Iterator[Document]:
    """Documents from ``source``: a ``.jsonl`` corpus, a folder holding ``corpus.jsonl``, or a text folder."""
    path = Path(source)
    if path.is_file() and path.suffix == ".jsonl":
        return read_beir_corpus(path)
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return read_beir_corpus(path / "corpus.jsonl")
    if path.is_dir():
        return read_text_folder(path)
    if path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return iter([Document(path.name, f.read(), {"path": path.name})])
    raise ConfigError(
        f"cannot index {str(path)!r}: give a folder of {'/'.join(TEXT_SUFFIXES)} files, a BEIR corpus.jsonl, "
        "or a folder holding corpus.jsonl"
    )


def require_documents(documents: Iterable[Document], source: str | os.PathLike[str]) -> Iterator[Document]:
    """``documents``, refusing an empty source before anything reads on: an incremental index run drops
    documents missing from its source, so an empty folder (a failed mount, a wrong path) would wipe it."""
    stream = iter(documents)
    first = next(stream, None)
    if first is None:
        raise ConfigError(
            f"{str(source)!r} holds no documents (no {'/'.join(TEXT_SUFFIXES)} files or corpus rows); "
            "nothing was changed. To empty an index, delete its folder."
        )
    return itertools.chain([first], stream)
