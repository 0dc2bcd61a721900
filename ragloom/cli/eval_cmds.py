"""``ragloom eval``: score a retrieval pipeline on any BEIR-layout dataset folder and print a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    dataset_dir: Path = typer.Argument(
        ..., help="A BEIR-layout folder: corpus.jsonl, queries.jsonl, qrels/."
    ),
    pipeline: str = typer.Option(
        "bm25",
        "--pipeline",
        "-p",
        help="A pipeline name (bm25, dense, dense-late, hybrid, …) or a PIPELINE.yaml.",
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write metrics, timings and per-query scores here."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate only the first N queries."),
    split: str = typer.Option("all", "--split", help="dev, test or all (the seeded query split)."),
    qrels: str = typer.Option("test", "--qrels", help="Which qrels/<NAME>.tsv holds the judgements."),
    top_k: int = typer.Option(100, "--top-k", min=1, help="Hits retrieved per query."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over queries."),
    executor: str = typer.Option("local", "--executor", help="local, or ray: questions across Ray workers."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="auto, HOST:PORT or ray://HOST:10001 (default: $RAGLOOM_RAY_ADDRESS)."
    ),
) -> None:
    """Evaluate PIPELINE on DATASET_DIR: nDCG@10, Recall@k, MRR, span-hit@k, index docs/s, latency p50/p95."""
    from ragloom.core.errors import RagloomError
    from ragloom.eval.build import build_pipeline
    from ragloom.eval.datasets import load_dataset
    from ragloom.eval.harness import evaluate
    from ragloom.eval.pipelines import pipeline_spec

    if split not in ("dev", "test", "all"):
        raise typer.BadParameter(f"--split must be dev, test or all, not {split!r}")
    try:
        dataset = load_dataset(dataset_dir, qrels_split=qrels).split(split).limit(limit)  # type: ignore[arg-type]
        if executor != "local":
            from ragloom.eval.distributed import evaluate_on
            from ragloom.scale import make_executor

            runner = make_executor(executor, ray_address)
            result = evaluate_on(runner, pipeline_spec(pipeline), dataset, split=split, top_k=top_k)
        else:
            built = build_pipeline(pipeline_spec(pipeline))
            result = evaluate(
                built, dataset, split=split, top_k=top_k, keep_per_query=True, progress=progress
            )
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    _print_result(result.to_dict())
    if json_out is not None:
        result.write_json(json_out)
        typer.echo(f"wrote {json_out}")


def _print_result(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    title = f"{data['pipeline']} on {data['dataset']} ({data['split']}, {data['n_queries']} queries)"
    table = Table(title=title, min_width=64)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in data["metrics"].items():
        table.add_row(name, f"{value:.4f}")
    table.add_row("index docs/s", f"{data['index_docs_per_s']:,.1f}")
    table.add_row("latency p50 ms", f"{data['latency_ms_p50']:.2f}")
    table.add_row("latency p95 ms", f"{data['latency_ms_p95']:.2f}")
    Console(width=100).print(table)
