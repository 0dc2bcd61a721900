"""The demo's QA flow written with the Python DSL, run over your own text (or the bundled novel).

    python examples/qa_demo.py                       # the bundled novel, three sample questions
    python examples/qa_demo.py --corpus notes/ -q "What did we decide about X?"

The same flow is ``examples/flows/qa.yaml`` (``qa_flow().to_yaml()`` writes it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ragloom.apps.qa import DEMO_QUESTIONS, build_index, corpus_documents, demo_documents, qa_flow
from ragloom.core.paths import cache_dir
from ragloom.llm.local import default_llm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        help="a folder of documents: PDF, HTML, Markdown, text, DOCX, EPUB (default: the bundled novel)",
    )
    parser.add_argument("--index", type=Path, help="where to keep the index (default: a cache folder)")
    parser.add_argument("-q", "--question", action="append", help="a question (repeatable)")
    args = parser.parse_args()

    documents = corpus_documents(args.corpus) if args.corpus else demo_documents()
    index = build_index(documents, args.index or cache_dir("indexes", "examples-qa-structured"))

    flow = qa_flow()  # retrieve -> rerank -> select -> generate, from registered components
    compiled = flow.compile()
    resources = {"retriever": index.hybrid(), "llm": default_llm()}
    for question in args.question or list(DEMO_QUESTIONS):
        result = compiled.invoke({"question": question}, context=resources)
        print(f"Q: {question}\nA: {result.state.answer}")
        for where in result.state.citations:  # e.g. "R-data.pdf p. 15, § 2.2 Fixed-width-format files"
            print(f"   cites {where}")
        print(result.trace.summary())


if __name__ == "__main__":
    main()
