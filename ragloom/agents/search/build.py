"""Candidate <-> Flow: every candidate the search evaluates is a real, compiled, YAML-serialisable flow.

:func:`candidate_flow` builds the flow from registered components (so ``flow.to_yaml()`` writes
``uses:``/``with:`` back), :func:`compile_candidate` validates it by compiling (the check every edit passes
before evaluation), and :func:`candidate_from_flow` reads a flow (e.g. YAML proposed by an LLM optimizer)
back into a candidate of the space, refusing operators the space does not allow.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict

from ragloom.agents.search import components as _components  # noqa: F401 - registers search.* operators
from ragloom.agents.search.space import PARALLEL, Candidate, SearchSpace, Step
from ragloom.core.errors import ConfigError, FlowCompileError, FlowDefinitionError, RegistryError
from ragloom.core.registry import component_ref, create
from ragloom.core.state_access import plain_fields
from ragloom.core.types import Hit
from ragloom.flows import END, START, CompiledFlow, Flow, merge_dict

__all__ = [
    "SearchState",
    "candidate_flow",
    "candidate_from_flow",
    "compile_candidate",
    "component_for",
    "final_key",
]


class SearchState(BaseModel):
    """State of every candidate flow (the RAG key convention plus sub-questions and parallel branches)."""

    model_config = ConfigDict(extra="forbid")

    question: str
    query: str = ""
    subquestions: list[str] = []
    hits: list[Hit] = []
    branches: Annotated[dict[str, list[Hit]], merge_dict] = {}
    context: list[Hit] = []
    answer: str = ""
    citations: list[str] = []


def component_for(space: SearchSpace, step: Step) -> tuple[str, dict[str, Any]]:
    """The registered component name and parameters of ``step`` (``uses`` templates filled in)."""
    spec = space.op(step.op)
    params = {**spec.fixed, **step.kwargs}
    uses = spec.uses
    if "{" in uses:
        wanted = plain_fields(uses, f"search space op {step.op!r} uses")  # no {a.b}: no attribute walks
        fields = {k: params.pop(k) for k in list(params) if k in wanted}
        uses = uses.format(**fields)
    return uses, params


def final_key(candidate: Candidate, space: SearchSpace) -> str:
    """The state key holding the final context: ``context`` after a select step, else ``hits``."""
    return "context" if any(space.op(s.op).stage == "select" for s in candidate.steps) else "hits"


#: Parameters wired from the candidate's shape, not searched: written to the flow, dropped on read-back.
_WIRING = {"llm.generate": ("context_key",)}


def _wiring(uses: str, candidate: Candidate, space: SearchSpace) -> dict[str, Any]:
    """``llm.generate`` reads its passages from ``context``; without a select step they are in ``hits``
    (the search operators ensemble/review fall back to ``hits`` themselves), so point it there."""
    return {"context_key": final_key(candidate, space)} if uses in _WIRING else {}


def candidate_flow(candidate: Candidate, space: SearchSpace, name: str | None = None) -> Flow:
    """The flow of ``candidate``: one node per step, a fan-out/fan-in for a parallel retrieval step."""
    flow = Flow(
        SearchState, name=name or f"candidate-{candidate.key()}", max_steps=4 * len(candidate.steps) + 8
    )
    previous: list[str] = [START]
    used: set[str] = set()
    for step in candidate.steps:
        if step.op == PARALLEL:
            previous = _add_parallel(flow, space, step, previous, used)
            continue
        uses, params = component_for(space, step)
        name_ = _unique(step.op, used)
        flow.add_node(name_, create(uses, {**_wiring(uses, candidate, space), **params}))
        _connect(flow, previous, name_)
        previous = [name_]
    _connect(flow, previous, END)
    return flow


def _add_parallel(
    flow: Flow, space: SearchSpace, step: Step, previous: list[str], used: set[str]
) -> list[str]:
    if len(step.arms) < 2:
        raise ConfigError(f"a parallel step needs at least two arms, got {len(step.arms)}")
    arms: list[str] = []
    for i, arm in enumerate(step.arms):
        uses, params = component_for(space, arm)
        arm_name = _unique(f"{arm.op}_arm{i}", used)
        flow.add_node(arm_name, create(uses, {**params, "branch": f"arm{i}"}))
        _connect(flow, previous, arm_name)
        arms.append(arm_name)
    join = _unique("fuse", used)
    flow.add_node(join, create("search.fuse", step.kwargs))
    flow.add_edge(arms, join)
    return [join]


def _connect(flow: Flow, sources: list[str], target: str) -> None:
    for source in sources:
        flow.add_edge(source, target)


def _unique(base: str, used: set[str]) -> str:
    name, i = base, 1
    while name in used:
        i += 1
        name = f"{base}{i}"
    used.add(name)
    return name


def compile_candidate(candidate: Candidate, space: SearchSpace) -> CompiledFlow:
    """Build and compile; a definition, registry or compile error becomes a ConfigError naming it."""
    try:
        return candidate_flow(candidate, space).compile()
    except (ConfigError, FlowCompileError, FlowDefinitionError, RegistryError, TypeError, ValueError) as e:
        raise ConfigError(f"candidate {candidate.describe()} does not compile: {e}") from e


def _op_for(space: SearchSpace, uses: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for name, spec in space.operators.items():
        if spec.uses == uses:
            return name, params
        if "{" in spec.uses:
            prefix, _, rest = spec.uses.partition("{")
            field = rest.split("}")[0]
            if uses.startswith(prefix) and uses[len(prefix) :] in spec.params.get(field, _NO).choices:
                return name, {**params, field: uses[len(prefix) :]}
    raise ConfigError(
        f"component {uses!r} is not an operator of this search space ({', '.join(space.operators)})"
    )


class _NoChoices:
    choices: tuple[Any, ...] = ()


_NO: Any = _NoChoices()


def _order(flow: Flow) -> list[str]:
    """Node names in topological order (Kahn's algorithm, ties by insertion order)."""
    preds: dict[str, set[str]] = {n: set() for n in flow.nodes}
    for edge in flow.edges:
        if edge.target in preds:
            preds[edge.target].update(s for s in edge.sources if s in preds)
    done: list[str] = []
    while len(done) < len(preds):
        ready = [n for n in preds if n not in done and preds[n] <= set(done)]
        if not ready:
            raise ConfigError(f"flow {flow.name!r} has a cycle; search candidates are acyclic pipelines")
        done.append(ready[0])
    return done


def candidate_from_flow(flow: Flow, space: SearchSpace) -> Candidate:
    """Read a flow built from search operators back into a candidate (arms + ``search.fuse`` -> parallel)."""
    steps: list[Step] = []
    arms: list[Step] = []
    for name in _order(flow):
        ref = component_ref(flow.nodes[name].fn)
        if ref is None:
            raise ConfigError(f"node {name!r} is not a registered component; candidates use only operators")
        dropped = {*space.op_fixed_keys(ref.name), *_WIRING.get(ref.name, ())}
        params = {k: v for k, v in ref.params.items() if k not in dropped}
        if ref.name == "search.fuse":
            steps.append(Step.make(PARALLEL, params, arms))
            arms = []
            continue
        branch = params.pop("branch", None)
        op, params = _op_for(space, ref.name, params)
        (arms if branch else steps).append(Step.make(op, params))
    if arms:
        raise ConfigError("parallel retrieval arms without a search.fuse join")
    return Candidate(tuple(steps))
