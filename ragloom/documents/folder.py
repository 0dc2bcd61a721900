"""Reading a file or a folder of files through the loaders, reporting what could not be read.

A bad file never stops a run: its :class:`~ragloom.core.errors.DocumentError` becomes a
:class:`~ragloom.documents.base.Skipped` entry (file name and reason) of the :class:`IngestReport`, and the
walk goes on. Document ids (and the ``source`` metadata) are POSIX paths relative to the folder given.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from ragloom.core.errors import ConfigError, DocumentError
from ragloom.core.types import Document
from ragloom.documents.base import IngestReport, LoadedDocument, Loader, Skipped
from ragloom.documents.sniff import detect_format

__all__ = ["LOADERS", "iter_documents", "iter_loaded", "load_file", "load_folder", "loader_for"]

#: format -> (module, class); imported on first use
LOADERS: dict[str, tuple[str, str]] = {
    "pdf": ("ragloom.documents.pdf", "PdfLoader"),
    "html": ("ragloom.documents.html", "HtmlLoader"),
    "markdown": ("ragloom.documents.text", "MarkdownLoader"),
    "text": ("ragloom.documents.text", "TextLoader"),
    "docx": ("ragloom.documents.office", "DocxLoader"),
    "epub": ("ragloom.documents.office", "EpubLoader"),
}


def loader_for(fmt: str) -> Loader:
    """The loader of format ``fmt``."""
    import importlib

    try:
        module, cls = LOADERS[fmt]
    except KeyError:
        raise ConfigError(f"no loader for format {fmt!r}; formats: {', '.join(LOADERS)}") from None
    loader: Loader = getattr(importlib.import_module(module), cls)()
    return loader


def load_file(path: str | os.PathLike[str], source: str | None = None) -> LoadedDocument:
    """One file as a :class:`LoadedDocument` (format sniffed); raises DocumentError naming the file."""
    target = Path(path)
    name = source or target.name
    try:
        doc = loader_for(detect_format(target)).load(target)
    except DocumentError as e:
        raise DocumentError(str(e).removeprefix(f"{e.path}: "), e.reason, name) from e
    except OSError as e:
        raise DocumentError(f"cannot be read ({e.strerror or e})", "corrupt", name) from e
    return dataclasses.replace(doc, source=name)


def _files(root: Path) -> list[Path]:
    """Files under ``root`` (recursive, sorted), hidden files and folders left out."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def iter_loaded(
    path: str | os.PathLike[str], report: IngestReport | None = None, progress: bool = False
) -> Iterator[LoadedDocument]:
    """Loaded documents of a file or every file under a folder; unreadable ones go to ``report``."""
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"{str(root)!r} does not exist; give a folder of documents or one file")
    report = report if report is not None else IngestReport()
    files = [root] if root.is_file() else _files(root)
    base = root.parent if root.is_file() else root
    from tqdm.auto import tqdm

    for file in tqdm(files, desc="reading", unit="file", disable=not progress or len(files) < 20):
        rel = file.relative_to(base).as_posix()
        try:
            doc = load_file(file, rel)
        except DocumentError as e:
            report.skipped.append(Skipped(rel, e.reason, str(e).removeprefix(f"{rel}: ")))
            continue
        report.loaded += 1
        report.by_format[doc.format] = report.by_format.get(doc.format, 0) + 1
        report.pages += len(doc.page_starts)
        yield doc


def iter_documents(
    path: str | os.PathLike[str], report: IngestReport | None = None, progress: bool = False
) -> Iterator[Document]:
    """:func:`iter_loaded` as index-ready :class:`Document` objects (structure in their metadata)."""
    for doc in iter_loaded(path, report, progress):
        yield doc.to_document()


def load_folder(path: str | os.PathLike[str]) -> tuple[list[Document], IngestReport]:
    """Every readable document under ``path`` and the report of the files skipped."""
    report = IngestReport()
    return list(iter_documents(path, report)), report
