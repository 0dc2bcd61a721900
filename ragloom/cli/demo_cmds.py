"""``ragloom demo`` and ``ragloom ask``: offline question answering with citations."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer


def _print_answer(console: Any, question: str, result: Any, show_trace: bool) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from ragloom.documents.citations import cite

    state = result.state
    number = {cite(hit): n for n, hit in reversed(list(enumerate(state.context, 1)))}  # the [n] the model saw
    lines = [f"[bold]{escape(state.answer or '(no answer)')}[/bold]", ""]
    for where in state.citations:
        n = number.get(where)
        hit = state.context[n - 1] if n else None
        snippet = escape(" ".join(hit.text.split())[:160]) if hit is not None else ""
        lines.append(f"[cyan]\\[{n}] {escape(where)}[/cyan]  {snippet}…")
    console.print(Panel("\n".join(lines), title=f"Q: {escape(question)}", title_align="left"))
    if show_trace:
        console.out(result.trace.summary(), highlight=False)


def _run_questions(
    documents: list[Any],
    index_path: Path,
    questions: list[str],
    trace: bool,
    keep: list[str] | None = None,
    late_chunking: bool = True,
) -> None:
    from rich.console import Console

    from ragloom.apps.qa import answer_questions, build_index

    console = Console()
    started = time.perf_counter()
    console.print(f"[dim]index: {index_path}[/dim]")
    index = build_index(documents, index_path, keep=keep or [], late_chunking=late_chunking)
    console.print(
        f"[dim]{len(index.chunks)} chunks ready in {time.perf_counter() - started:.1f}s; "
        "loading the local LLM (SmolLM2-135M-Instruct)…[/dim]"
    )
    from ragloom.llm.local import default_llm

    llm = default_llm().load()
    answer_questions(index, questions, llm, on_answer=lambda q, r: _print_answer(console, q, r, trace))
    console.print(f"[dim]done in {time.perf_counter() - started:.1f}s[/dim]")


def demo(
    question: list[str] = typer.Option(None, "--question", "-q", help="Ask your own question(s) instead."),
    no_trace: bool = typer.Option(False, "--no-trace", help="Do not print the per-node trace tables."),
) -> None:
    """Index the bundled novel (A Christmas Carol) and answer questions with citations, fully offline."""
    from ragloom.apps.qa import DEMO_QUESTIONS, demo_documents, index_dir_for

    documents = demo_documents()
    _run_questions(
        documents,
        index_dir_for(documents, "demo-christmas-carol"),
        list(question or DEMO_QUESTIONS),
        not no_trace,
    )


def ask(
    question: str = typer.Argument(..., help="The question."),
    corpus: Path = typer.Option(
        ...,
        "--corpus",
        "-c",
        help="A folder of documents (PDF, HTML, Markdown, text, DOCX, EPUB), or one file.",
    ),
    no_trace: bool = typer.Option(False, "--no-trace", help="Do not print the per-node trace table."),
) -> None:
    """Answer a question about your own files (indexed once, then reused and updated incrementally)."""
    from ragloom.apps.qa import corpus_documents, index_dir_for
    from ragloom.core.errors import RagloomError
    from ragloom.documents.base import IngestReport

    report = IngestReport()
    try:
        documents = corpus_documents(corpus, report)
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    for line in report.lines():
        typer.echo(line, err=True)
    typer.echo(report.summary(), err=True)
    unreadable = [s.source for s in report.skipped]
    index_path = index_dir_for(documents, str(corpus.resolve()))
    _run_questions(documents, index_path, [question], not no_trace, unreadable, late_chunking=False)


def register(app: typer.Typer) -> None:
    app.command()(demo)
    app.command()(ask)
