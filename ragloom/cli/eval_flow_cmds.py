"""``ragloom eval FLOW.yaml --dataset DIR``: evaluate a whole flow on a dataset (ragloom.eval.flow_eval).

Called by :mod:`ragloom.cli.eval_cmds` when its first argument is a flow file. Prints the summary table, and
writes ``OUT/records.jsonl`` (one line per question, as they finish: a rerun resumes), ``OUT/summary.json``
and ``OUT/report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer


@dataclass
class FlowEvalOptions:
    """The command-line options of a flow evaluation (plain data, so the command stays a thin shell)."""

    flow_file: Path
    dataset: Path | None
    index: Path | None
    out: Path | None
    llm: str
    llm_base_url: str | None
    llm_model: str | None
    limit: int | None
    split: str
    qrels: str
    concurrency: int
    resume: bool
    progress: bool
    allow_import: list[str]


def default_out(flow_file: Path, dataset: Path) -> Path:
    return Path("eval-runs") / f"{flow_file.stem}-{dataset.resolve().name}"


def _load_dataset(opts: FlowEvalOptions) -> Any:
    from ragloom.eval.datasets import load_dataset

    assert opts.dataset is not None
    dataset = load_dataset(opts.dataset, qrels_split=opts.qrels, corpus_optional=True)
    return dataset.split(opts.split).limit(opts.limit)  # type: ignore[arg-type]


def run_flow_eval(opts: FlowEvalOptions) -> None:
    """Load, index (or open --index), evaluate, print, write."""
    from ragloom.eval.files_index import resources_for_dataset
    from ragloom.eval.flow_eval import evaluate_flow
    from ragloom.eval.flow_resources import make_llm

    if opts.dataset is None:
        raise typer.BadParameter("evaluating a flow needs --dataset DIR (the questions and their gold data)")
    dataset = _load_dataset(opts)
    # --index DIR, else the BEIR corpus, else a document set's files/ (both indexed once into the cache)
    resources, facts = resources_for_dataset(dataset, opts.dataset, opts.index, progress=opts.progress)
    llm = make_llm(opts.llm, opts.llm_base_url, opts.llm_model)
    if llm is not None:
        resources["llm"] = llm
    out = opts.out or default_out(opts.flow_file, opts.dataset)
    concurrency = opts.concurrency
    if opts.llm == "local" and opts.llm_base_url is None and concurrency > 1:
        # the embedded model serialises its calls: running questions at once would only put queueing time
        # into every node's latency, and finish no sooner
        concurrency = 1
        facts["concurrency_note"] = "the local LLM serialises calls: questions ran one at a time"
    report = evaluate_flow(
        opts.flow_file,
        dataset,
        resources,
        out_dir=out,
        resume=opts.resume,
        concurrency=concurrency,
        progress=opts.progress,
        allow_imports=opts.allow_import,
        extra={"split": opts.split, "llm": _llm_name(opts), **facts},
    )
    print_summary(report.summary)
    typer.echo(f"wrote {out / 'summary.json'}, {out / 'records.jsonl'} and {out / 'report.html'}")


def _llm_name(opts: FlowEvalOptions) -> str:
    return f"{opts.llm_model} at {opts.llm_base_url}" if opts.llm_base_url else opts.llm


def print_summary(summary: dict[str, Any]) -> None:
    """Metrics, then per-node latency/tokens, then failures, as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=110)
    title = (
        f"{summary['flow']} on {summary['dataset']} ({summary['n_questions']} questions, "
        f"{summary['n_failed']} failed, {summary['n_resumed']} resumed)"
    )
    metrics = Table(title=title, min_width=60)
    metrics.add_column("metric")
    metrics.add_column("mean", justify="right")
    for name, value in summary["metrics"].items():
        metrics.add_row(name, f"{value:.4f}")
    console.print(metrics)
    nodes = Table(title="per node", min_width=60)
    for col in ("node", "p50 ms", "p95 ms", "tokens/q", "cost $"):
        nodes.add_column(col, justify="left" if col == "node" else "right")
    for name, n in summary["nodes"].items():
        nodes.add_row(
            name,
            f"{n['ms_p50']:.1f}",
            f"{n['ms_p95']:.1f}",
            f"{n['tokens_mean']:.0f}",
            f"{n['cost_usd_total']:.4f}",
        )
    t = summary["totals"]
    nodes.add_row(
        "question",
        f"{t['ms_p50']:.1f}",
        f"{t['ms_p95']:.1f}",
        f"{t['tokens_mean']:.0f}",
        f"{t['cost_usd_total']:.4f}",
    )
    console.print(nodes)
    for failure in summary["failures"][:10]:
        console.print(f"failed {failure['id']}: {failure['error']}", markup=False, highlight=False)
    for key in ("index_cache", "index_seconds"):
        if key in summary:
            console.print(f"{key}: {summary[key]}", markup=False, highlight=False)
