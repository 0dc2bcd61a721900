"""Which loader reads a file: by content first, then by suffix.

Content wins because names lie: a ``.txt`` that is really a PDF is read as a PDF, an HTML page saved
without a suffix as HTML, and random bytes named ``.pdf`` or ``.txt`` are reported as corrupt or binary
instead of being indexed as mojibake.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ragloom.core.errors import DocumentError

__all__ = ["SUFFIXES", "detect_format"]

#: suffix -> format, for files whose content does not say more
SUFFIXES = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".rst": "text",
    ".docx": "docx",
    ".epub": "epub",
}
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"\x7fELF": "an executable",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEAD = 8192


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "word/document.xml" in names:
                return "docx"
            if "META-INF/container.xml" in names or "mimetype" in names:
                return "epub"
    except (zipfile.BadZipFile, OSError) as e:
        raise DocumentError(f"a damaged zip container ({e})", "corrupt", path.name) from e
    raise DocumentError("a zip archive that is neither DOCX nor EPUB", "unsupported", path.name)


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 10 % control characters: not text in any encoding we read."""
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > 0.1 * max(1, len(head))


def _looks_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()[:512]
    return start.startswith((b"<!doctype html", b"<html")) or (b"<html" in start and b"<body" in head.lower())


def _refuse_binary(path: Path, head: bytes, suffix: str | None) -> None:
    """Raise for a file whose suffix promises a container it is not, or whose bytes are not text."""
    if suffix in ("pdf", "docx", "epub"):
        raise DocumentError(f"not a {suffix.upper()} file (its header is wrong)", "corrupt", path.name)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise DocumentError(f"{what}, not a document", "unsupported", path.name)
    if _looks_binary(head):
        raise DocumentError("binary data, not text", "binary", path.name)


def detect_format(path: Path) -> str:
    """The format of ``path`` (one of ``FORMATS``); a file no loader reads raises DocumentError with reason
    ``empty``, ``binary``, ``encrypted``, ``corrupt`` or ``unsupported``."""
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    suffix = SUFFIXES.get(path.suffix.lower())
    if not head.strip():
        raise DocumentError("the file is empty", "empty", path.name)
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path)
    if head.startswith(_OLE):
        if suffix == "docx":
            raise DocumentError("the document is password-protected (encrypted)", "encrypted", path.name)
        raise DocumentError(
            "an old binary Office file (.doc/.xls/.ppt); save it as .docx", "unsupported", path.name
        )
    _refuse_binary(path, head, suffix)
    if suffix is not None:
        return suffix
    if _looks_html(head):
        return "html"
    if path.suffix == "":
        return "text"
    raise DocumentError(
        f"unsupported file type {path.suffix!r} (supported: {', '.join(sorted(SUFFIXES))})",
        "unsupported",
        path.name,
    )
