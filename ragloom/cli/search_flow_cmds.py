"""``ragloom search --seed FLOW.yaml``: search real flows from a seed flow file, scored by the flow evaluator.

Kept apart from :mod:`ragloom.cli.search_cmds` (the search-space mode) so each stays short; ``search_command``
hands over here when no ``--space`` is given.
"""

from __future__ import annotations

from pathlib import Path

import typer

DEFAULT_SEED = Path("examples/flows/qa.yaml")


def run_flow_search(
    seed_flow: Path,
    dataset: Path,
    *,
    index: Path | None,
    objective: str | None,
    budget: int,
    method: str,
    rng_seed: int,
    out: Path,
    dev_fraction: float,
) -> None:
    """Search on DATASET's dev split from SEED_FLOW; writes best_flow.yaml, pareto.json, records.jsonl."""
    from ragloom.agents.search.flow_search import default_objective, read_seed, search_flow, write_outcome
    from ragloom.eval.datasets import load_dataset
    from ragloom.eval.flow_resources import dataset_resources, index_resources

    seed = read_seed(seed_flow)
    data = load_dataset(dataset, corpus_optional=index is not None)
    dev = data.split("dev", dev_fraction=dev_fraction)
    resources, _facts = index_resources(index) if index is not None else dataset_resources(data, dataset)
    goal = objective or default_objective(data)
    outcome = search_flow(
        seed, dev, resources, objective=goal, budget=budget, method=method, seed=rng_seed, log=typer.echo
    )
    meta = {"seed_flow": str(seed_flow), "dataset": str(dataset), "objective": goal, "method": method}
    files = write_outcome(outcome, out, {**meta, "split": "dev", "seconds": outcome.seconds})
    typer.echo(f"seed {goal} on dev: {outcome.records[0].score:.4f}; best: {outcome.best.score:.4f}")
    for name, path in sorted(files.items()):
        typer.echo(f"wrote {path} ({name})")
