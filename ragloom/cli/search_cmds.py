"""``ragloom search``: find a better flow than a seed flow file for a dataset, by MCTS over registry-derived
edits, every candidate scored by the flow evaluator of ``ragloom eval FLOW.yaml``
(:mod:`ragloom.agents.search`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer

from ragloom.cli.components_option import COMPONENTS_HELP, import_components
from ragloom.cli.errors import clean_errors

SEED_HELP = "The flow file to search from (default: the QA flow of examples/flows/qa.yaml)."


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)


def search_command(
    dataset: Path = typer.Option(
        ..., "--dataset", help="Questions with qrels and/or answers.jsonl (BEIR layout)."
    ),
    seed: Path | None = typer.Option(None, "--seed", help=SEED_HELP),
    index: Path | None = typer.Option(
        None, "--index", help="Your own index folder (default: the dataset's corpus or files/, indexed once)."
    ),
    objective: str | None = typer.Option(
        None,
        "--objective",
        help="An evaluator metric: context-support-R, answer@512, answer-in-context, F1, EM, ...; default: "
        "context-support-R with qrels, else answer@512.",
    ),
    budget: int = typer.Option(20, "--budget", min=1, help="Candidate evaluations (the seed included)."),
    method: str = typer.Option("mcts", "--method", help="mcts, or random (the baseline)."),
    random_seed: int = typer.Option(0, "--random-seed", help="Seed of the search (deterministic)."),
    dev_fraction: float = typer.Option(0.5, "--dev-fraction", help="Share of questions searched on (dev)."),
    exclude: list[str] | None = typer.Option(
        None, "--exclude", help="A component never swapped in or inserted (repeatable), e.g. a slow one."
    ),
    llm: str = typer.Option(
        "none",
        "--llm",
        help="none or local (embedded SmolLM2): runs LLM steps when the objective reads answers (F1, EM).",
    ),
    llm_base_url: str | None = typer.Option(None, "--llm-base-url", help="An OpenAI-compatible server."),
    llm_model: str | None = typer.Option(None, "--llm-model", help="The model name that server serves."),
    graph: bool = typer.Option(
        False,
        "--graph",
        help="Build the dataset's graph index once (cached; minutes) so graph retrieval is in the space.",
    ),
    advisor: bool = typer.Option(
        False, "--advisor", help="The LLM also proposes edits and prompt rewrites (AFlow's optimizer)."
    ),
    propose_flows: bool = typer.Option(
        False,
        "--propose-flows",
        help="With --advisor: the LLM also writes whole modified flows (long replies; a capable model).",
    ),
    out: Path = typer.Option(Path("search-out"), "--out", help="Output folder."),
    executor: str = typer.Option(
        "local", "--executor", help="local, or ray: candidates x questions across Ray workers (same scores)."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="auto, HOST:PORT or ray://HOST:10001 (default: $RAGLOOM_RAY_ADDRESS)."
    ),
    components: list[str] | None = typer.Option(None, "--components", help=COMPONENTS_HELP),
    fresh: bool = typer.Option(
        False, "--fresh", help="Start over: replace OUT/journal.jsonl instead of resuming its search."
    ),
) -> None:
    """Search flows on DATASET's dev split from --seed; writes best_flow.yaml (an ordinary flow file),
    pareto.json, records.jsonl, report.md and a picture of the search tree (tree.html, tree.png).

    Every scored candidate is journaled in OUT/journal.jsonl at once: the same command run again after a kill
    resumes the search (journaled candidates are not evaluated again); --fresh starts over."""
    with clean_errors():
        imported = import_components(components or [])  # before the seed is read: it may name them
        opts = SearchOptions(
            dataset, seed, index, objective, budget, method, random_seed, dev_fraction, graph
        )
        opts = replace(opts, executor=executor, ray_address=ray_address, llm=(llm, llm_base_url, llm_model))
        opts = replace(opts, fresh=fresh, components=tuple(imported))
        helper = (advisor or propose_flows, propose_flows)
        _search(opts, exclude or [], _llm(llm, llm_base_url, llm_model), helper, out)


def _llm(llm: str, base_url: str | None, model: str | None) -> Any:
    from ragloom.cli.llm_option import remote_llm
    from ragloom.eval.flow_resources import make_llm

    if base_url or model:
        return remote_llm(base_url, model)
    return make_llm(llm)


def _seed_file(seed: Path | None, out: Path) -> Path:
    """``seed``, or the QA flow (what examples/flows/qa.yaml holds) written to ``out/seed_flow.yaml``."""
    if seed is not None:
        return seed
    from ragloom.apps.qa import qa_flow

    out.mkdir(parents=True, exist_ok=True)
    path = out / "seed_flow.yaml"
    path.write_text(qa_flow().to_yaml(), encoding="utf-8")
    return path


@dataclass(frozen=True)
class SearchOptions:
    """What to search on and how (the command's plain options)."""

    dataset: Path
    seed: Path | None
    index: Path | None
    objective: str | None
    budget: int
    method: str
    random_seed: int
    dev_fraction: float
    graph: bool = False
    executor: str = "local"
    ray_address: str | None = None
    llm: tuple[str, str | None, str | None] = ("none", None, None)  # --llm, --llm-base-url, --llm-model
    fresh: bool = False  # --fresh: replace the journal instead of resuming it
    components: tuple[str, ...] = ()  # --components: the user's modules imported (their components searched)


def _executor(opts: SearchOptions, data: Any, facts: dict[str, Any], needs_llm: bool) -> tuple[Any, Any]:
    """(executor, worker_resources): None for the local default; else the executor and how its workers
    build the run resources (opening the index built here when they can see it; an LLM only when the
    objective reads answers)."""
    if opts.executor == "local":
        return None, None
    from ragloom.agents.search.flow_parallel import DatasetResources
    from ragloom.scale import make_executor

    runner = make_executor(opts.executor, opts.ray_address)
    llm = opts.llm if needs_llm else None
    index = str(facts["index"]) if facts.get("index") else None
    spec = DatasetResources(
        data, str(opts.dataset), str(opts.index) if opts.index else None, index, opts.graph, llm
    )
    return runner, spec


def _search(
    opts: SearchOptions, exclude: list[str], llm: Any, optimizer: tuple[bool, bool], out: Path
) -> None:
    """Load the seed and the dev split, search, write the outcome and the report."""
    from ragloom.agents.search import read_seed, write_outcome, write_report
    from ragloom.agents.search.flow_search import ANSWER_OBJECTIVES, default_objective
    from ragloom.core.errors import ConfigError
    from ragloom.eval.datasets import load_dataset
    from ragloom.scale.executor import EXECUTORS

    if opts.executor not in EXECUTORS:  # before minutes of indexing
        raise ConfigError(f"--executor {opts.executor!r} is unknown; choose one of {', '.join(EXECUTORS)}")
    seed_file = _seed_file(opts.seed, out)
    flow = read_seed(seed_file)
    data = load_dataset(opts.dataset, corpus_optional=True)
    goal = opts.objective or default_objective(data)
    advisor = optimizer[0]
    if (goal in ANSWER_OBJECTIVES or advisor) and llm is None:
        why = "--advisor" if advisor else f"--objective {goal} (it scores answers)"
        raise ConfigError(f"{why} needs an LLM: --llm local, or --llm-base-url URL --llm-model NAME")
    dev = data.split("dev", dev_fraction=opts.dev_fraction)
    with _journal(opts, flow, dev, goal, exclude, optimizer, out) as journal:  # refused before indexing
        outcome, helper = _run(opts, flow, (data, dev), goal, exclude, llm, optimizer, journal, out)
    meta: dict[str, Any] = {"seed_flow": str(seed_file), "dataset": str(opts.dataset), "objective": goal}
    meta |= {
        "method": opts.method,
        "executor": opts.executor,
        "split": "dev",
        "dev_questions": len(dev.queries),
        "seconds": outcome.seconds,
        "resumed": journal.replayed,
    }
    files = write_outcome(outcome, out, meta)
    files |= write_report(outcome, out, meta, helper.experience if helper else ())
    files["journal"] = journal.path
    typer.echo(f"seed {goal} on dev: {outcome.records[0].score:.4f}; best: {outcome.best.score:.4f}")
    for name, path in sorted(files.items()):
        typer.echo(f"wrote {path} ({name})")


def _journal(
    opts: SearchOptions,
    flow: dict[str, Any],
    dev: Any,
    goal: str,
    exclude: list[str],
    optimizer: tuple[bool, bool],
    out: Path,
) -> Any:
    """OUT/journal.jsonl opened for this search's settings (what a resume must repeat: everything that
    changes a score or the trajectory; not the executor, which gives the same trajectory)."""
    from ragloom.agents.search.flow_journal import JOURNAL_FILE, SearchJournal, search_settings
    from ragloom.agents.search.flow_search import ANSWER_OBJECTIVES

    extra: dict[str, Any] = {"dataset_path": str(opts.dataset.resolve()), "split": "dev"}
    extra |= {"dev_fraction": opts.dev_fraction, "components": list(opts.components)}
    extra |= {"index": str(opts.index.resolve()) if opts.index else None, "graph": opts.graph}
    if goal in ANSWER_OBJECTIVES or optimizer[0]:  # the LLM writes the answers or proposes the edits
        extra |= {"llm": list(opts.llm), "propose_flows": optimizer[1]}
    settings = search_settings(
        flow, dev, objective=goal, method=opts.method, seed=opts.random_seed, budget=opts.budget,
        exclude=exclude, advisor=optimizer[0], **extra,
    )  # fmt: skip
    return SearchJournal.open(out / JOURNAL_FILE, settings, fresh=opts.fresh)


def _advisor_llm(llm: Any, opts: SearchOptions, out: Path) -> Any:
    """The optimizer LLM behind a cache in OUT: a resumed search gets the replies the killed one got (the
    same trajectory even from a sampling or remote model, and no tokens spent again); --fresh empties it."""
    from ragloom.llm.cache import CachedLLM

    cache = out / "advisor_llm.sqlite"
    if opts.fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
    return CachedLLM(llm, cache)


def _run(
    opts: SearchOptions,
    flow: dict[str, Any],
    datasets: tuple[Any, Any],
    goal: str,
    exclude: list[str],
    llm: Any,
    optimizer: tuple[bool, bool],
    journal: Any,
    out: Path,
) -> tuple[Any, Any]:
    """Build the run resources (the dataset indexed once) and search on the dev split: (outcome, advisor)."""
    from ragloom.agents.search import FlowEditAdvisor, search_flow
    from ragloom.agents.search.flow_search import ANSWER_OBJECTIVES
    from ragloom.eval.files_index import resources_for_dataset

    data, dev = datasets
    resources, facts = resources_for_dataset(data, opts.dataset, opts.index, graph=opts.graph)
    runner, worker_resources = _executor(opts, data, facts, goal in ANSWER_OBJECTIVES)
    if llm is not None:
        resources["llm"] = llm
    advisor, propose_flows = optimizer
    helper = FlowEditAdvisor(_advisor_llm(llm, opts, out), propose_flows=propose_flows) if advisor else None
    outcome = search_flow(
        flow,
        dev,
        resources,
        objective=goal,
        budget=opts.budget,
        method=opts.method,
        seed=opts.random_seed,
        exclude=exclude,
        advisor=helper,
        log=typer.echo,
        executor=runner,
        worker_resources=worker_resources,
        journal=journal,
    )
    return outcome, helper
