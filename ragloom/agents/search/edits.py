"""Edits of a candidate: parameter mutations and structural edits, always yielding valid, compilable flows.

- ``param``: one parameter to a neighbouring value (adjacent grid point, or another choice);
- ``insert`` / ``remove`` / ``replace``: an operator added at its stage, dropped, or swapped for another
  operator of the same stage;
- ``branch`` / ``unbranch``: a retrieve step becomes two fused retrieval arms (a parallel fan-out/fan-in
  in the flow), or a parallel step collapses back to one arm.

:func:`neighbours` lists every edit of a candidate whose result passes :func:`check_candidate` *and*
compiles (:func:`ragloom.agents.search.build.compile_candidate`), in a seeded random order; the search never
evaluates a flow that does not compile. Results are canonicalised (parameters that do nothing for a step,
such as a fusion method of a BM25-only retrieval, are reset) so equivalent flows share one key.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from ragloom.agents.search.build import compile_candidate
from ragloom.agents.search.space import PARALLEL, STAGES, Candidate, SearchSpace, Step
from ragloom.core.errors import ConfigError

__all__ = ["Edit", "apply_edit", "canonical", "check_candidate", "neighbours", "random_candidate"]

#: Stages that hold at most one operator (expansion may chain several).
_SINGLE = {"query", "retrieve", "rerank", "select", "generate", "review", "format"}
_HYBRID_ONLY = ("fusion", "weight", "normalization")


@dataclass(frozen=True)
class Edit:
    """One edit: what it does (``kind``), a human description and the candidate it leads to."""

    kind: str
    description: str
    result: Candidate


def canonical_step(step: Step, space: SearchSpace) -> Step:
    """Reset parameters that have no effect (fusion settings off hybrid; normalization under rrf)."""
    params = step.kwargs
    if step.op in ("retrieve", "multihop", "prf") and step.op in space.operators:
        defaults = space.op(step.op).default_params()
        if params.get("method") != "hybrid":
            params.update({k: defaults[k] for k in _HYBRID_ONLY if k in params})
        elif params.get("fusion") == "rrf" and "normalization" in params:
            params["normalization"] = defaults["normalization"]
        if step.op == "multihop" and params.get("link") == "mention" and "per_hop" in params:
            params["per_hop"] = defaults["per_hop"]
    arms = tuple(canonical_step(a, space) for a in step.arms)
    return Step.make(step.op, params, arms)


def canonical(candidate: Candidate, space: SearchSpace) -> Candidate:
    return Candidate(tuple(canonical_step(s, space) for s in candidate.steps))


def check_candidate(candidate: Candidate, space: SearchSpace) -> None:
    """Raise ConfigError unless ``candidate`` is a well-formed pipeline of this space."""
    ranks = [space.stage_rank(s) for s in candidate.steps]
    if ranks != sorted(ranks):
        raise ConfigError(f"steps out of stage order ({' -> '.join(candidate.ops())}); order is {STAGES}")
    stages = [space.op(s.op).stage for s in candidate.steps]
    if stages.count("retrieve") != 1:
        raise ConfigError("a candidate needs exactly one retrieval step (retrieve or parallel)")
    for stage in _SINGLE:
        if stages.count(stage) > 1:
            raise ConfigError(f"at most one {stage} operator per candidate")
    if len(set(candidate.ops())) != len(candidate.ops()):
        raise ConfigError("an operator appears twice")
    if ("review" in stages or "format" in stages) and "generate" not in stages:
        raise ConfigError("review/format need a generate-stage operator (generate or ensemble)")
    if space.answers and "generate" not in stages:  # it would score 0 at no cost: a cheap, useless winner
        raise ConfigError("the metric scores answers: a candidate needs a generate-stage operator")
    for step in candidate.steps:
        _check_params(step, space)


def _check_params(step: Step, space: SearchSpace) -> None:
    spec = space.op(step.op)
    for name, value in step.params:
        if name not in spec.params:
            raise ConfigError(f"{step.op}: unknown parameter {name!r}; it takes {sorted(spec.params)}")
        if not spec.params[name].allows(value):
            raise ConfigError(f"{step.op}: {name}={value!r} is outside the space's range")
    if step.op == PARALLEL:
        if not 2 <= len(step.arms) <= max(space.max_arms, 2):
            raise ConfigError(f"a parallel step needs 2..{space.max_arms} arms")
        for arm in step.arms:
            if arm.op != "retrieve":
                raise ConfigError("parallel arms must be retrieve operators")
            _check_params(arm, space)


def _replace_step(c: Candidate, i: int, step: Step | None) -> Candidate:
    steps = list(c.steps)
    if step is None:
        del steps[i]
    else:
        steps[i] = step
    return Candidate(tuple(steps))


def _param_edits(c: Candidate, space: SearchSpace) -> Iterator[tuple[str, str, Candidate]]:
    for i, step in enumerate(c.steps):
        spec = space.op(step.op)
        for name, value in step.params:
            for new in spec.params[name].neighbours(value):
                yield (
                    "param",
                    f"{step.op}.{name}: {value} -> {new}",
                    _replace_step(c, i, step.with_param(name, new)),
                )
        for j, arm in enumerate(step.arms):
            arm_spec = space.op(arm.op)
            for name, value in arm.params:
                for new in arm_spec.params[name].neighbours(value):
                    arms = list(step.arms)
                    arms[j] = arm.with_param(name, new)
                    edited = Step.make(step.op, step.kwargs, arms)
                    yield "param", f"arm{j}.{name}: {value} -> {new}", _replace_step(c, i, edited)


def _structural_edits(c: Candidate, space: SearchSpace) -> Iterator[tuple[str, str, Candidate]]:
    present = set(c.ops())
    for name, spec in space.operators.items():
        if name in present or spec.required:
            continue
        step = Step.make(name, spec.default_params())
        rank = STAGES.index(spec.stage)
        at = sum(1 for s in c.steps if space.stage_rank(s) <= rank)
        yield "insert", f"insert {name}", Candidate((*c.steps[:at], step, *c.steps[at:]))
        for i, old in enumerate(c.steps):
            if space.op(old.op).stage == spec.stage and not space.op(old.op).required:
                yield "replace", f"replace {old.op} with {name}", _replace_step(c, i, step)
    for i, old in enumerate(c.steps):
        if not space.op(old.op).required:
            yield "remove", f"remove {old.op}", _replace_step(c, i, None)
    yield from _branch_edits(c, space)


def _branch_edits(c: Candidate, space: SearchSpace) -> Iterator[tuple[str, str, Candidate]]:
    for i, step in enumerate(c.steps):
        if step.op == "retrieve" and space.allow_branches:
            methods = space.op("retrieve").params["method"].values()
            k = step.kwargs.get("k", 5)
            for other in methods:
                if other == step.kwargs.get("method"):
                    continue
                arm = step.with_param("method", other)
                fusion_k = k if PARALLEL_K_OK(space, k) else 5
                par = Step.make(PARALLEL, {"fusion": "rrf", "k": fusion_k}, [step, arm])
                yield (
                    "branch",
                    f"branch retrieve into {step.kwargs.get('method')} | {other}",
                    _replace_step(c, i, par),
                )
        if step.op == PARALLEL:
            for j, arm in enumerate(step.arms):
                kept = arm.with_param("k", step.kwargs.get("k", arm.kwargs.get("k", 5)))
                yield "unbranch", f"keep only arm{j} ({arm.kwargs.get('method')})", _replace_step(c, i, kept)


def PARALLEL_K_OK(space: SearchSpace, k: int) -> bool:
    return space.op(PARALLEL).params["k"].allows(k)


def _valid(c: Candidate, space: SearchSpace) -> bool:
    try:
        check_candidate(c, space)
        compile_candidate(c, space)
    except ConfigError:
        return False
    return True


def neighbours(candidate: Candidate, space: SearchSpace, rng: random.Random | None = None) -> list[Edit]:
    """Every valid edit of ``candidate`` (distinct results, never itself), shuffled by ``rng``."""
    seen = {canonical(candidate, space).key()}
    out: list[Edit] = []
    for kind, text, result in [*_param_edits(candidate, space), *_structural_edits(candidate, space)]:
        result = canonical(result, space)
        key = result.key()
        if key in seen:
            continue
        seen.add(key)
        if _valid(result, space):
            out.append(Edit(kind, text, result))
    if rng is not None:
        rng.shuffle(out)
    return out


def apply_edit(candidate: Candidate, edit: Edit) -> Candidate:
    """The edit's result (edits carry it; kept as a function for symmetry with the MCTS problem API)."""
    return edit.result


def random_candidate(space: SearchSpace, rng: random.Random, tries: int = 50) -> Candidate:
    """A uniformly built random pipeline: one retrieval step (sometimes branched), each optional stage
    present with probability 1/2 (a random operator of it), every parameter random."""
    for _ in range(tries):
        steps: list[Step] = []
        for stage in STAGES:
            ops = [o for o in space.operators.values() if o.stage == stage]
            if not ops:
                continue
            if stage == "retrieve":
                steps.append(_random_retrieval(space, rng))
                continue
            for op in rng.sample(ops, len(ops)):
                if rng.random() < 0.5 and (
                    stage not in _SINGLE or not any(space.op(s.op).stage == stage for s in steps)
                ):
                    steps.append(Step.make(op.name, op.random_params(rng)))
        c = canonical(Candidate(tuple(steps)), space)
        if _valid(c, space):
            return c
    return space.seed


def _random_retrieval(space: SearchSpace, rng: random.Random) -> Step:
    spec = space.op("retrieve")
    step = Step.make("retrieve", spec.random_params(rng))
    if space.allow_branches and rng.random() < 0.25:
        arm = Step.make("retrieve", spec.random_params(rng))
        return Step.make(PARALLEL, space.op(PARALLEL).random_params(rng), [step, arm])
    return step
