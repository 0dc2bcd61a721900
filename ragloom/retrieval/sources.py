"""Documents to index: a folder of files (PDF, HTML, Markdown, text, DOCX, EPUB), one file, or a BEIR
``corpus.jsonl`` (or its folder).

Files go through the one ingestion layer, :mod:`ragloom.documents` (text files keep CRLF exactly as on disk:
chunk spans index into it); unreadable files are skipped and listed in the ``report`` passed in. BEIR records
become ``title + "\\n" + text`` with ``metadata["title"]`` and ``metadata["body_offset"]`` (where the BEIR
``text`` starts), the same convention as :mod:`ragloom.eval.datasets`.
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
from ragloom.documents.base import IngestReport

__all__ = [
    "TEXT_SUFFIXES",
    "documents_and_chunker",
    "is_beir_source",
    "iter_documents",
    "read_beir_corpus",
    "read_text_folder",
    "require_documents",
]

TEXT_SUFFIXES = (".txt", ".md")


def read_beir_corpus(path: str | os.PathLike[str], with_title: bool = True) -> Iterator[Document]:
    """Documents of a BEIR ``corpus.jsonl`` (``_id``, ``text``, optional ``title``).

    A record whose ``text`` is not a string (``null`` included) is an error naming its line, never a document
    whose text is "None" (the same rule as ``ragloom eval``'s loader); so are a byte that is not UTF-8 and an
    ``_id`` seen on an earlier line.
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
    """Every ``suffixes`` file under ``folder`` that reads as text (recursive, sorted; binary ones skipped);
    the id is the POSIX path relative to it."""
    from ragloom.documents.folder import iter_documents as iter_files

    root = Path(folder)
    for doc in iter_files(root):
        if Path(doc.id).suffix.lower() in suffixes:
            yield doc


def is_beir_source(source: str | os.PathLike[str]) -> bool:
    """Is ``source`` a BEIR corpus (a ``.jsonl`` file or a folder holding ``corpus.jsonl``)?"""
    path = Path(source)
    return (path.is_file() and path.suffix == ".jsonl") or (
        path.is_dir() and (path / "corpus.jsonl").is_file()
    )


def iter_documents(
    source: str | os.PathLike[str], report: IngestReport | None = None, progress: bool = False
) -> Iterator[Document]:
    """Documents from ``source``: a ``.jsonl`` corpus, a folder holding ``corpus.jsonl``, a folder of
    files or one file; files that cannot be read are skipped and listed in ``report``."""
    from ragloom.documents.folder import iter_documents as iter_files

    path = Path(source)
    if path.is_file() and path.suffix == ".jsonl":
        return read_beir_corpus(path)
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        return read_beir_corpus(path / "corpus.jsonl")
    if path.exists():
        return iter_files(path, report, progress)
    raise ConfigError(
        f"cannot index {str(path)!r}: it does not exist; give a folder of documents (PDF, HTML, Markdown, "
        "text, DOCX, EPUB), one file, a BEIR corpus.jsonl, or a folder holding corpus.jsonl"
    )


def require_documents(documents: Iterable[Document], source: str | os.PathLike[str]) -> Iterator[Document]:
    """``documents``, refusing an empty source before anything reads on: an incremental index run drops
    documents missing from its source, so an empty folder (a failed mount, a wrong path) would wipe it."""
    stream = iter(documents)
    first = next(stream, None)
    if first is None:
        raise ConfigError(
            f"{str(source)!r} holds no documents (no file a loader can read, or no corpus rows); "
            "nothing was changed. To empty an index, delete its folder."
        )
    return itertools.chain([first], stream)


def documents_and_chunker(
    source: str | os.PathLike[str],
    chunker: str | None,
    index_path: str | os.PathLike[str],
    report: IngestReport | None = None,
) -> tuple[Iterator[Document], str | None]:
    """The documents of ``source`` (refusing an empty one) and the chunker to index them with: the one given,
    else for a new index the default of :class:`ragloom.documents.settings.ChunkSettings` (``structured`` for
    files, which have sections and pages; ``document`` for BEIR passages, which stay whole)."""
    from ragloom.documents.settings import ChunkSettings

    if chunker is None and not (Path(index_path) / "manifest.json").is_file():
        chunker = ChunkSettings.for_source(source).chunker
    return require_documents(iter_documents(source, report, progress=True), source), chunker
