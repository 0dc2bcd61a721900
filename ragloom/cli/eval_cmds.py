"""``ragloom eval``: score a retrieval pipeline, or a whole flow, on any BEIR-layout dataset folder.

``ragloom eval DATASET_DIR --pipeline NAME`` scores a retrieval pipeline (one retrieve step);
``ragloom eval FLOW.yaml --dataset DIR`` runs a flow per question (:mod:`ragloom.cli.eval_flow_cmds`). Both go
through the one evaluator, :func:`ragloom.eval.flow_eval.evaluate_flow`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    target: Path | None = typer.Argument(
        None,
        help="A dataset folder: BEIR layout (corpus.jsonl, queries.jsonl, qrels/) or a files dataset "
        "(files/, queries.jsonl, answers.jsonl, evidence.jsonl: the docs-a layout); or a FLOW.yaml "
        "(then give --dataset).",
        show_default=False,
    ),
    dataset: Path | None = typer.Option(
        None, "--dataset", "-d", help="The dataset folder (with a FLOW.yaml, or instead of the argument)."
    ),
    pipeline: str | None = typer.Option(
        None,
        "--pipeline",
        "-p",
        help="A pipeline name (bm25, dense, dense-late, hybrid, graph, …) or a PIPELINE.yaml (default bm25); "
        "on a files dataset a comma-separated list of bm25, dense, hybrid (default all three).",
    ),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write metrics, timings and per-query scores here (pipelines)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Evaluate only the first N queries."),
    split: str = typer.Option("all", "--split", help="dev, test or all (the seeded query split)."),
    qrels: str = typer.Option("test", "--qrels", help="Which qrels/<NAME>.tsv holds the judgements."),
    top_k: int = typer.Option(100, "--top-k", min=1, help="Hits retrieved per query (pipelines)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar over queries."),
    cold: bool = typer.Option(
        True,
        "--cold-latency/--warm-latency",
        help="Embed queries with an uncached embedder (cold latency, as the benchmarks report it).",
    ),
    index: Path | None = typer.Option(
        None, "--index", help="Flows: a prebuilt index folder as the retriever instead of the dataset corpus."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Flows: output folder (records.jsonl, summary.json, report.html)."
    ),
    llm: str = typer.Option("local", "--llm", help="Flows: local (embedded SmolLM2) or none."),
    llm_base_url: str | None = typer.Option(
        None, "--llm-base-url", help="Flows: an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1)."
    ),
    llm_model: str | None = typer.Option(
        None, "--llm-model", help="Flows: the model name at --llm-base-url."
    ),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Flows: questions run at once."),
    resume: bool = typer.Option(
        True, "--resume/--no-resume", help="Flows: skip questions already recorded in --out."
    ),
    allow_import: list[str] | None = typer.Option(
        None, "--allow-import", help="Flows: allow `uses: module:function` for this module (repeatable)."
    ),
) -> None:
    """Evaluate a retrieval PIPELINE on a dataset (nDCG@10, Recall@k, MRR, span-hit@k, docs/s, latency), or a
    FLOW.yaml (EM/F1, answer-in-context, support recall, citations, per-node latency and tokens, HTML)."""
    from ragloom.core.errors import RagloomError

    if split not in ("dev", "test", "all"):
        raise typer.BadParameter(f"--split must be dev, test or all, not {split!r}")
    try:
        if target is not None and target.is_file():
            from ragloom.cli.eval_flow_cmds import FlowEvalOptions, run_flow_eval

            options = FlowEvalOptions(
                target,
                dataset,
                index,
                out,
                llm,
                llm_base_url,
                llm_model,
                limit,
                split,
                qrels,
                concurrency,
                resume,
                progress,
                list(allow_import or []),
            )
            run_flow_eval(options)
            return
        folder = target or dataset
        if folder is None:
            raise typer.BadParameter("give a dataset folder (or a FLOW.yaml and --dataset DIR)")
        from ragloom.eval.filesets import is_files_dataset

        if is_files_dataset(folder):
            from ragloom.cli.eval_files import eval_files

            eval_files(folder, pipeline, json_out, limit, split)
            return
        _eval_pipeline(folder, pipeline or "bm25", json_out, limit, split, qrels, top_k, progress, cold)
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e


def _eval_pipeline(
    folder: Path,
    pipeline: str,
    json_out: Path | None,
    limit: int | None,
    split: str,
    qrels: str,
    top_k: int,
    progress: bool,
    cold: bool,
) -> None:
    from ragloom.eval.build import build_pipeline
    from ragloom.eval.datasets import load_dataset
    from ragloom.eval.harness import evaluate
    from ragloom.eval.pipelines import pipeline_spec

    full = load_dataset(folder, qrels_split=qrels)
    dataset = full.split(split).limit(limit)  # type: ignore[arg-type]
    spec = pipeline_spec(pipeline)
    query_embedder = _cold_embedder() if cold and _uses_dense(spec) else None
    built = build_pipeline(spec, query_embedder=query_embedder)
    tune_on = full.split("dev")  # an "auto" fusion is chosen here (scored on dev too when --split dev)
    result = evaluate(
        built, dataset, split=split, top_k=top_k, keep_per_query=True, progress=progress, tune_on=tune_on
    )
    result.config["query_latency"] = (
        "cold: queries embedded by an uncached embedder"
        if query_embedder is not None
        else "no query embedding"
        if not _uses_dense(spec)
        else "warm: query vectors may come from the on-disk embedding cache"
    )
    _print_result(result.to_dict())
    if json_out is not None:
        result.write_json(json_out)
        typer.echo(f"wrote {json_out}")


def _uses_dense(spec: Any) -> bool:
    return any(r.uses in ("dense", "graph") for r in spec.retrievers) or spec.reranker is not None


def _cold_embedder() -> Any:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(cache_dir=False, show_progress=False)


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
    for key in ("embedding_cache", "query_latency"):
        if data["config"].get(key):
            table.add_row(key.replace("_", " "), str(data["config"][key]))
    chosen = data["config"].get("fusion_chosen")
    if chosen:
        table.add_row("fusion chosen", f"{chosen['fusion']} on {chosen['on']}")
    Console(width=100).print(table)
