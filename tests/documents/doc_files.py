"""Small files written per test: PDF pages, an encrypted PDF, a DOCX, EPUBs, zip archives."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path


def small_pdf(pages: int = 2, src: Path | None = None) -> bytes:
    """The first ``pages`` pages of a real PDF, rewritten by pypdf."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(str(src)), pages=(0, pages))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf(src: Path, password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(str(src)), pages=(0, 1))
    writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_docx(path: Path) -> Path:
    """A DOCX written with python-docx: a title, two heading levels, paragraphs and a table."""
    import docx

    d = docx.Document()
    d.core_properties.title = "Field Guide"
    d.add_heading("Birds", level=1)
    d.add_paragraph("Birds are warm-blooded vertebrates with feathers.")
    d.add_heading("Owls", level=2)
    d.add_paragraph("The barn owl hunts at night by sound alone.")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("species", "wingspan"), ("barn owl", "95 cm")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_heading("Fish", level=1)
    d.add_paragraph("Salmon return to the river where they hatched.")
    d.save(str(path))
    return path


_CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
_OPF = """<?xml version="1.0"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0">
<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Two Chapters</dc:title></metadata>
<manifest>
<item id="c1" href="text/ch1.xhtml" media-type="application/xhtml+xml"/>
<item id="c2" href="text/ch2.xhtml" media-type="application/xhtml+xml"/>
<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
</manifest>
<spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""
_CHAPTER = """<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>{h}</title>
<style>p {{ color: red }}</style></head><body><nav><ul><li><a href="a">Home</a></li></ul></nav>
<h1>{h}</h1><p>{p}</p></body></html>"""


def write_epub(path: Path, encrypted: bool = False) -> Path:
    """An EPUB 3 built with zipfile: two chapters in spine order (optionally marked DRM-encrypted)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", _CONTAINER)
        z.writestr("OEBPS/content.opf", _OPF)
        z.writestr("OEBPS/text/ch1.xhtml", _CHAPTER.format(h="The Voyage", p="The ship left Bristol in May."))
        z.writestr(
            "OEBPS/text/ch2.xhtml", _CHAPTER.format(h="The Island", p="They found fresh water inland.")
        )
        z.writestr("OEBPS/nav.xhtml", "<html><body><nav>contents</nav></body></html>")
        if encrypted:
            z.writestr(
                "META-INF/encryption.xml",
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
                '<enc:CipherReference URI="OEBPS/text/ch1.xhtml"/></enc:CipherData></enc:EncryptedData>'
                "</encryption>",
            )
    return path


def zip_bytes(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return out.getvalue()
