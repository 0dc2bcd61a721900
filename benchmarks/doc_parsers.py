"""Which parser reads PDFs and HTML best here: speed on these cores and text quality on docs-a.

    python benchmarks/doc_parsers.py [--dataset ../shared/data/docs-a] [--repeat 3]

Candidates (licences compatible with Apache-2.0; PyMuPDF is AGPL and not considered): PDF with pypdfium2,
pypdf and pdfminer.six; HTML with lxml, selectolax, the standard library's html.parser and BeautifulSoup;
DOCX with the standard library's zipfile vs python-docx (on a generated file, docs-a has none). Each
candidate is timed raw (the library's plain text call); ``ragloom`` rows are the shipped loaders, which add
chrome removal, running-head removal and structure on top of their library.

Quality per candidate: how many of the 60 gold answers (``answers[0]``) and evidence sentences of docs-a occur
in the extracted text of the right file and, for PDFs, the right physical page; how much site chrome (menu,
search box, tagline, table-of-contents strings, script code, SVG markup) and how many running heads remain.
Also checked: the structured chunker's token estimate against the real MiniLM tokenizer (ratio real/est).
Needs the ``docparsers`` extra for the non-default candidates. Writes ``results/doc_parsers.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from common import print_table, write_results

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
CHROME = (
    "Small. Fast. Reliable.",
    "Search Documentation",
    "Search Changelog",
    "Table Of Contents",
    "toggle_div",
)
SVG = ("<path", "polygon", "viewBox", "stroke-width")


def norm(text: str) -> str:
    return " ".join(text.translate(_QUOTES).split()).lower()


def squash(text: str) -> str:
    """Whitespace-free text; ``|`` (ragloom's table cell separator; the gold joins cells by spaces) too."""
    return "".join(text.translate(_QUOTES).replace("|", " ").split()).lower()


# -- PDF candidates: path -> list of page texts ----------------------------------------------------------
def pdf_pypdfium2(path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        return [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    finally:
        pdf.close()


def pdf_pypdf(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(path)).pages]


def pdf_pdfminer(path: Path) -> list[str]:
    from pdfminer.high_level import extract_text

    text = extract_text(str(path))
    return text.split("\f")  # pdfminer ends each page with a form feed


def pdf_ragloom(path: Path) -> list[str]:
    from ragloom.documents import load_file

    doc = load_file(path)
    ends = [*doc.page_starts[1:], len(doc.text)]
    return [doc.text[s:e] for s, e in zip(doc.page_starts, ends, strict=True)]


# -- HTML candidates: path -> text ----------------------------------------------------------------------
def html_lxml(path: Path) -> str:
    import lxml.html

    root = lxml.html.document_fromstring(path.read_bytes())
    for el in root.xpath("//script|//style|//svg|//*[local-name()='svg']"):
        el.drop_tree()
    return str(root.text_content())


def html_selectolax(path: Path) -> str:
    from selectolax.lexbor import LexborHTMLParser as Fast

    tree = Fast(path.read_bytes())
    tree.strip_tags(["script", "style", "svg"])
    return tree.body.text(separator=" ") if tree.body is not None else ""


class _Stdlib(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.skip += tag in ("script", "style", "svg")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style", "svg") and self.skip > 0

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_stdlib(path: Path) -> str:
    parser = _Stdlib()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return " ".join(parser.parts)


def html_bs4(path: Path) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
    for el in soup(["script", "style", "svg"]):
        el.decompose()
    return str(soup.get_text(" "))


def html_ragloom(path: Path) -> str:
    from ragloom.documents import load_file

    return load_file(path).text


PDF = {
    "pypdfium2": pdf_pypdfium2,
    "pypdf": pdf_pypdf,
    "pdfminer.six": pdf_pdfminer,
    "ragloom (pypdfium2)": pdf_ragloom,
}
HTML = {
    "lxml": html_lxml,
    "selectolax": html_selectolax,
    "html.parser": html_stdlib,
    "bs4 (html.parser)": html_bs4,
    "ragloom (lxml)": html_ragloom,
}


def timed_best(fn: Callable[[Path], Any], files: list[Path], repeat: int) -> tuple[float, dict[str, Any]]:
    best, out = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        out = {f.name: fn(f) for f in files}
        best = min(best, time.perf_counter() - started)
    return best, out


def score_pdf(pages_by_file: dict[str, list[str]], gold: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [g for g in gold if g["page"] is not None]
    answer = sum(norm(g["answer"]) in norm(pages_by_file[g["source"]][g["page"] - 1]) for g in rows)
    evidence = sum(squash(g["evidence"]) in squash(pages_by_file[g["source"]][g["page"] - 1]) for g in rows)
    heads = sum(
        len(re.findall(r"(?m)^\s*(Chapter|Appendix) [\dA-Z]+: .*\d+\s*$", p))
        for pages in pages_by_file.values()
        for p in pages
    )
    pages = sum(len(p) for p in pages_by_file.values())
    return {"answer": answer, "evidence": evidence, "n": len(rows), "running_heads": heads, "pages": pages}


def score_html(text_by_file: dict[str, str], gold: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [g for g in gold if g["page"] is None]
    answer = sum(norm(g["answer"]) in norm(text_by_file[g["source"]]) for g in rows)
    evidence = sum(squash(g["evidence"]) in squash(text_by_file[g["source"]]) for g in rows)
    chrome = sum(t.count(c) for t in text_by_file.values() for c in CHROME)
    svg = sum(t.count(s) for t in text_by_file.values() for s in SVG)
    chars = sum(len(t) for t in text_by_file.values())
    return {
        "answer": answer,
        "evidence": evidence,
        "n": len(rows),
        "chrome": chrome,
        "svg": svg,
        "chars": chars,
    }


def docx_candidates(tmp: Path, repeat: int) -> list[list[Any]]:
    """python-docx vs the stdlib loader on a generated 2,000-paragraph document with 20 tables."""
    try:
        import docx
    except ImportError:
        return []
    from ragloom.documents.office import DocxLoader

    d = docx.Document()
    for i in range(2000):
        if i % 100 == 0:
            d.add_heading(f"Section {i // 100}", level=1)
            t = d.add_table(rows=5, cols=3)
            for r in range(5):
                for c in range(3):
                    t.cell(r, c).text = f"cell {r}.{c}"
        d.add_paragraph(f"Paragraph {i} says something about owls, rivers and the number {i * 7}.")
    path = tmp / "generated.docx"
    d.save(str(path))

    def with_python_docx(p: Path) -> str:
        doc = docx.Document(str(p))
        parts = [para.text for para in doc.paragraphs]
        parts += [" | ".join(c.text for c in row.cells) for t in doc.tables for row in t.rows]
        return "\n".join(parts)

    rows = []
    for name, fn in (
        ("python-docx", with_python_docx),
        ("ragloom (zipfile + ElementTree)", DocxLoader().load),
    ):
        seconds, out = timed_best(fn, [path], repeat)
        text = out[path.name] if isinstance(out[path.name], str) else out[path.name].text
        rows.append([name, round(seconds, 3), "Paragraph 1999" in text, "cell 4.2" in text])
    return rows


def token_estimate_check(files: Path) -> dict[str, float]:
    """Real MiniLM tokens / estimated tokens over the structured chunks of docs-a."""
    from transformers import AutoTokenizer

    from ragloom.documents import load_folder
    from ragloom.documents.chunker import estimate_tokens
    from ragloom.documents.settings import ChunkSettings
    from ragloom.retrieval.embedders import default_model_path

    docs, _ = load_folder(files)
    chunks = ChunkSettings().chunk(docs)  # the default index's chunks
    tokenizer = AutoTokenizer.from_pretrained(default_model_path())
    real = [len(x) for x in tokenizer([c.text for c in chunks])["input_ids"]]
    ratios = sorted(r / estimate_tokens(c.text) for r, c in zip(real, chunks, strict=True))
    return {
        "chunks": len(chunks),
        "ratio_median": round(ratios[len(ratios) // 2], 3),
        "ratio_max": round(ratios[-1], 3),
        "real_max_tokens": max(real),
        "over_256": sum(r > 256 for r in real),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dataset", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/docs-a"
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    files = args.dataset / "files"
    answers = {r["_id"]: r["answers"][0] for r in map(json.loads, (args.dataset / "answers.jsonl").open())}
    gold = [
        {**r, "answer": answers[r["_id"]]} for r in map(json.loads, (args.dataset / "evidence.jsonl").open())
    ]
    pdfs, htmls = sorted(files.glob("*.pdf")), sorted(files.glob("*.html"))
    results: dict[str, Any] = {"pdf": {}, "html": {}}
    pdf_rows, html_rows = [], []
    for name, fn in PDF.items():
        try:
            seconds, out = timed_best(fn, pdfs, args.repeat)
        except ImportError as e:
            print(f"skipping {name}: {e}")
            continue
        s = score_pdf(out, gold) | {"seconds": round(seconds, 3)}
        results["pdf"][name] = s
        pdf_rows.append([name, s["seconds"], round(s["pages"] / seconds), f"{s['answer']}/{s['n']}",
                         f"{s['evidence']}/{s['n']}", s["running_heads"]])  # fmt: skip
    for name, fn in HTML.items():
        try:
            seconds, out = timed_best(fn, htmls, args.repeat)
        except ImportError as e:
            print(f"skipping {name}: {e}")
            continue
        s = score_html(out, gold) | {"seconds": round(seconds, 3)}
        results["html"][name] = s
        html_rows.append([name, s["seconds"], f"{s['answer']}/{s['n']}", f"{s['evidence']}/{s['n']}",
                          s["chrome"], s["svg"], s["chars"]])  # fmt: skip
    tables = [
        print_table(
            f"PDF parsers on {len(pdfs)} docs-a PDFs (best of {args.repeat})",
            ["parser", "seconds", "pages/s", "answer on page", "evidence on page", "running heads left"],
            pdf_rows,
        ),
        print_table(
            f"HTML parsers on {len(htmls)} docs-a pages (best of {args.repeat})",
            [
                "parser",
                "seconds",
                "answer in file",
                "evidence in file",
                "chrome strings",
                "SVG markup",
                "chars",
            ],
            html_rows,
        ),
    ]
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        docx_rows = docx_candidates(Path(tmp), args.repeat)
    if docx_rows:
        tables.append(
            print_table(
                "DOCX readers (generated, 2,000 paragraphs + 20 tables)",
                ["reader", "seconds", "all paragraphs", "table cells"],
                docx_rows,
            )
        )
        results["docx"] = docx_rows
    results["token_estimate"] = token_estimate_check(files)
    print("token estimate vs MiniLM tokenizer:", results["token_estimate"])
    results["tables"] = tables
    print(write_results("doc_parsers", results))


if __name__ == "__main__":
    main()
