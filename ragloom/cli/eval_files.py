"""``ragloom eval`` on a files dataset (docs-a layout): ingest, score bm25/dense/hybrid, print a table."""

from __future__ import annotations

from pathlib import Path

import typer

from ragloom.eval.files_harness import FileEvalResult

FILE_PIPELINES = ("bm25", "dense", "hybrid")
_SHOWN = (
    "answer@256",
    "answer@512",
    "answer@1024",
    "answer@1",
    "answer@5",
    "answer@10",
    "source@5",
    "page@5",
)


def eval_files(
    dataset_dir: Path, pipeline: str | None, json_out: Path | None, limit: int | None, split: str
) -> None:
    """Evaluate ragloom's document pipelines on the files of ``dataset_dir``; exit 2 on bad input."""
    from ragloom.core.errors import RagloomError
    from ragloom.eval.doc_system import RagloomDocumentSystem
    from ragloom.eval.files_harness import evaluate_files
    from ragloom.eval.filesets import load_files_dataset

    names = [p.strip() for p in (pipeline or ",".join(FILE_PIPELINES)).split(",") if p.strip()]
    unknown = [n for n in names if n not in FILE_PIPELINES]
    if unknown:
        raise typer.BadParameter(
            f"--pipeline {', '.join(unknown)}: a files dataset takes {', '.join(FILE_PIPELINES)} "
            "(comma-separated)"
        )
    try:
        dataset = load_files_dataset(dataset_dir).split(split).limit(limit)  # type: ignore[arg-type]
        system = RagloomDocumentSystem(dense=names != ["bm25"])
        results = evaluate_files(system, dataset, pipelines=names, keep_per_query=True)
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    for skipped in system.skipped:
        typer.echo(f"skipped {skipped}", err=True)
    _print_results(results)
    if json_out is not None:
        import json

        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = [r.to_dict(per_query=True) for r in results]
        json_out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")


def _print_results(results: list[FileEvalResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not results:
        return
    first = results[0]
    title = (
        f"{first.system} on {first.dataset} ({first.n_queries} queries): ingested {first.pages} pages "
        f"in {first.ingest_seconds:.1f} s ({first.pages_per_s:.2f} pages/s), {first.chunks} chunks"
    )
    table = Table(title=title)
    table.add_column("metric")
    for r in results:
        table.add_column(r.pipeline, justify="right")
    for name in _SHOWN:
        table.add_row(name, *(f"{r.metrics.get(name, 0.0):.3f}" for r in results))
    table.add_row("query p50 ms", *(f"{r.latency_ms_p50:.1f}" for r in results))
    table.add_row("query p95 ms", *(f"{r.latency_ms_p95:.1f}" for r in results))
    Console(width=120).print(table)
