"""``ragloom search``: find a better flow for a dataset by tree search over a search space (AFlow-style)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)


def search_command(
    space: Path | None = typer.Option(
        None,
        "--space",
        help="A search-space YAML (examples/search_space.yaml); without it, search real flows from --seed.",
    ),
    dataset: Path = typer.Option(..., "--dataset", help="A BEIR-layout dataset folder."),
    metric: str = typer.Option("recall@5", "--metric", help="recall@K, ndcg@K, mrr@K, span-hit@K, em or f1."),
    budget: int = typer.Option(60, "--budget", min=1, help="Candidate evaluations (the seed flow included)."),
    seed: str = typer.Option(
        "0",
        "--seed",
        help="The seed flow file to search from (default examples/flows/qa.yaml); with --space, a number: "
        "the random seed.",
    ),
    random_seed: int = typer.Option(0, "--random-seed", help="Random seed of a flow search (deterministic)."),
    index: Path | None = typer.Option(None, "--index", help="Your own index folder (flow search)."),
    objective: str | None = typer.Option(
        None,
        "--objective",
        help="Flow search objective: an evaluator metric (context-support-R, answer-in-context, F1, ...); "
        "default: context-support-R with qrels, else answer-in-context.",
    ),
    out: Path = typer.Option(
        Path("search-out"), "--out", help="Output folder (also holds state.json to resume)."
    ),
    method: str = typer.Option("mcts", "--method", help="mcts, random or hill."),
    selection: str = typer.Option("soft", "--selection", help="MCTS parent selection: soft (AFlow) or uct."),
    parallel: int = typer.Option(2, "--parallel", min=1, help="Candidates evaluated together per round."),
    repeats: int = typer.Option(
        1, "--repeats", min=1, help="Evaluations of each candidate (for noisy flows)."
    ),
    patience: int = typer.Option(
        6, "--patience", min=0, help="Stop after N rounds without progress (0: never)."
    ),
    mu: float = typer.Option(0.0, "--mu", help="Scalarised objective: score - mu * cost."),
    dev_fraction: float = typer.Option(
        0.5, "--dev-fraction", help="Share of queries in the dev split searched on."
    ),
    llm: str = typer.Option(
        "none",
        "--llm",
        help="none, or local: the embedded LLM runs LLM operators and proposes edits (AFlow-style).",
    ),
    executor: str = typer.Option("asyncio", "--executor", help="asyncio, or ray (when installed)."),
    final: str = typer.Option(
        "auto",
        "--final",
        help="How the returned flow is chosen: best (highest dev score), lcb (confidence bound), smooth "
        "(averaged with one-step neighbours); auto: best.",
    ),
) -> None:
    """Search flows on DATASET's dev split; writes best_flow.yaml, pareto.json, report.md, tree.png/html."""
    from ragloom.agents.search.api import search_flows
    from ragloom.core.errors import RagloomError

    if space is None:
        from ragloom.cli.search_flow_cmds import DEFAULT_SEED, run_flow_search

        flow_file = DEFAULT_SEED if seed.isdigit() else Path(seed)
        try:
            run_flow_search(
                flow_file,
                dataset,
                index=index,
                objective=objective,
                budget=budget,
                method=method,
                rng_seed=random_seed,
                out=out,
                dev_fraction=dev_fraction,
            )
        except RagloomError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=2) from e
        return
    if not seed.lstrip("-").isdigit():
        raise typer.BadParameter(f"with --space, --seed is the random seed (a number), not {seed!r}")
    if llm not in ("none", "local"):
        raise typer.BadParameter(f"--llm must be none or local, not {llm!r}")
    try:
        model = None
        if llm == "local":
            from ragloom.llm.local import default_llm

            model = default_llm()
        result = search_flows(
            space,
            dataset,
            metric=metric,
            budget=budget,
            seed=int(seed),
            out=out,
            method=method,
            dev_fraction=dev_fraction,
            repeats=repeats,
            selection=selection,
            parallel=parallel,
            patience=patience,
            mu=mu,
            log=typer.echo,
            llm=model,
            optimizer_llm=model,
            executor=executor,
            final=final,
        )
    except RagloomError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    best = result.outcome.best
    typer.echo(f"best {metric} on dev: {best.score:.4f}  {best.candidate.describe()}")
    for name, path in sorted(result.files.items()):
        typer.echo(f"wrote {path} ({name})")
