"""The search space of workflow search: typed operator parameters, operators, and candidates (genomes).

A :class:`Candidate` is a short pipeline of :class:`Step` s, ordered by *stage* (query → retrieve → expand →
rerank → select → generate → review → format). Each step names an operator of the :class:`SearchSpace`
and its parameter values; a ``parallel`` retrieval step holds two or more retrieve *arms* fused into one
ranking (the "add a branch" edit). Candidates are frozen and hashable, so the search can deduplicate them
and key caches and logs by :meth:`Candidate.key`. :mod:`ragloom.agents.search.build` turns a candidate into
a real :class:`~ragloom.flows.Flow` (and YAML).

A search-space file (``examples/search_space.yaml``) says which operators and parameter ranges are
allowed::

    seed:                       # the flow the search starts from
      - {op: retrieve, with: {method: hybrid, k: 5}}
    operators:
      retrieve:
        params:
          method: {choices: [bm25, dense, hybrid]}
          k: {int: [5, 20], step: 5}
          weight: {float: [0.0, 1.0], step: 0.1}
      rerank: {params: {method: {choices: [collaborative]}}}
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError

__all__ = [
    "OPERATOR_LIBRARY",
    "STAGES",
    "Candidate",
    "OperatorSpec",
    "ParamSpec",
    "SearchSpace",
    "Step",
    "load_space",
]

#: Stage order of a pipeline; a candidate's steps never go back to an earlier stage.
STAGES: tuple[str, ...] = ("query", "retrieve", "expand", "rerank", "select", "generate", "review", "format")


@dataclass(frozen=True)
class ParamSpec:
    """A typed parameter: ``choices`` (any values) or a numeric range ``[low, high]`` on a ``step`` grid."""

    name: str
    kind: str  # "choice" | "int" | "float"
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("choice", "int", "float"):
            raise ConfigError(
                f"parameter {self.name!r}: kind must be choice, int or float, got {self.kind!r}"
            )
        if self.kind == "choice" and not self.choices:
            raise ConfigError(f"parameter {self.name!r}: a choice parameter needs at least one choice")
        if self.kind != "choice" and (self.high < self.low or self.step <= 0):
            raise ConfigError(f"parameter {self.name!r}: need low <= high and step > 0")
        if self.kind == "int":  # a fractional grid would round to repeated values (1, 1.5, 2 -> 1, 2, 2)
            if not float(self.step).is_integer():
                raise ConfigError(
                    f"parameter {self.name!r}: an int step must be a whole number >= 1, got {self.step}"
                )
            if not (float(self.low).is_integer() and float(self.high).is_integer()):
                bounds = f"[{self.low}, {self.high}]"
                raise ConfigError(f"parameter {self.name!r}: int bounds must be whole numbers, got {bounds}")

    def values(self) -> list[Any]:
        """Every allowed value (numeric ranges on their grid), in order."""
        if self.kind == "choice":
            return list(self.choices)
        n = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        grid = [self.low + i * self.step for i in range(n)]
        return [round(v) for v in grid] if self.kind == "int" else [round(v, 6) for v in grid]

    def allows(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low - 1e-9 <= value <= self.high + 1e-9

    def sample(self, rng: random.Random) -> Any:
        return rng.choice(self.values())

    def neighbours(self, value: Any) -> list[Any]:
        """Values one mutation away: adjacent grid points for numbers, every other choice for choices."""
        grid = self.values()
        if self.kind == "choice":
            return [v for v in grid if v != value]
        nearest = min(range(len(grid)), key=lambda i: abs(grid[i] - value))
        return [grid[i] for i in (nearest - 1, nearest + 1) if 0 <= i < len(grid) and grid[i] != value]


def param_from_yaml(name: str, spec: Any, where: str) -> ParamSpec:
    """``{choices: [...]}``, ``{int: [lo, hi], step: s}``, ``{float: [lo, hi], step: s}`` or a plain list."""
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}.{name}: expected {{choices: [...]}} or {{int: [lo, hi]}}, got {spec!r}")
    try:
        if "choices" in spec:
            choices = spec["choices"]
            if not isinstance(choices, list):
                raise ConfigError(f"choices must be a list, got {choices!r}")
            return ParamSpec(name, "choice", tuple(_hashable(v) for v in choices))
        for kind in ("int", "float"):
            if kind in spec:
                bounds, step = spec[kind], spec.get("step", 1 if kind == "int" else 0.1)
                if not isinstance(bounds, list) or len(bounds) != 2:
                    raise ConfigError(f"{kind}: needs a [low, high] pair, got {bounds!r}")
                try:
                    lo, hi, step = float(bounds[0]), float(bounds[1]), float(step)
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"{kind}: [low, high] and step must be numbers, got {dict(spec)!r}"
                    ) from None
                return ParamSpec(name, kind, (), lo, hi, step)
    except ConfigError as e:  # ParamSpec's own checks do not know the file: say where the parameter is
        raise ConfigError(f"{where}.{name}: {e}") from None
    raise ConfigError(f"{where}.{name}: give choices:, int: [lo, hi] or float: [lo, hi]")


def _hashable(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


@dataclass(frozen=True)
class OperatorSpec:
    """An operator: its stage, the registered component it becomes (``uses`` may be a template such as
    ``select.{method}``), its searchable ``params``, its ``fixed`` parameters and whether it calls an LLM.
    ``required``: a candidate always has exactly one operator of this stage (retrieval).
    """

    name: str
    stage: str
    uses: str
    params: dict[str, ParamSpec] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    llm: bool = False
    required: bool = False

    def default_params(self) -> dict[str, Any]:
        """Library defaults where the space allows them, else the first allowed value."""
        out: dict[str, Any] = {}
        for name, spec in self.params.items():
            default = self.defaults.get(name)
            out[name] = default if default is not None and spec.allows(default) else spec.values()[0]
        return out

    def random_params(self, rng: random.Random) -> dict[str, Any]:
        """Every parameter drawn uniformly from its allowed values."""
        return {name: spec.sample(rng) for name, spec in self.params.items()}


@dataclass(frozen=True)
class Step:
    """One operator with its parameter values; ``arms`` only for a ``parallel`` step (fused branches)."""

    op: str
    params: tuple[tuple[str, Any], ...] = ()
    arms: tuple[Step, ...] = ()

    @classmethod
    def make(cls, op: str, params: Mapping[str, Any] | None = None, arms: Sequence[Step] = ()) -> Step:
        return cls(op, tuple(sorted((k, _hashable(v)) for k, v in (params or {}).items())), tuple(arms))

    @property
    def kwargs(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.params}

    def with_param(self, name: str, value: Any) -> Step:
        return Step.make(self.op, {**dict(self.params), name: value}, self.arms)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "with": self.kwargs}
        if self.arms:
            data["arms"] = [a.to_dict() for a in self.arms]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Step:
        if not isinstance(data, Mapping) or "op" not in data:
            raise ConfigError(f"a step must be a mapping with 'op' (and 'with'), got {data!r}")
        arms = [cls.from_dict(a) for a in data.get("arms", ())]
        return cls.make(str(data["op"]), dict(data.get("with") or {}), arms)

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        if self.arms:
            inner = " | ".join(a.describe() for a in self.arms) + (f"; {inner}" if inner else "")
        return f"{self.op}({inner})"


@dataclass(frozen=True)
class Candidate:
    """A pipeline of steps in stage order; the unit the search evaluates, deduplicates and persists."""

    steps: tuple[Step, ...]

    def key(self) -> str:
        """A short stable fingerprint (sha1 of the canonical JSON)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.steps]

    @classmethod
    def from_dict(cls, data: Sequence[Mapping[str, Any]]) -> Candidate:
        return cls(tuple(Step.from_dict(s) for s in data))

    def ops(self) -> list[str]:
        return [s.op for s in self.steps]

    def describe(self) -> str:
        return " -> ".join(s.describe() for s in self.steps)


def _lib(name: str, stage: str, uses: str, params: dict[str, ParamSpec], **kw: Any) -> OperatorSpec:
    return OperatorSpec(name, stage, uses, params, **kw)


def _choice(name: str, *values: Any) -> ParamSpec:
    return ParamSpec(name, "choice", tuple(values))


def _ints(name: str, low: int, high: int, step: int = 1) -> ParamSpec:
    return ParamSpec(name, "int", (), low, high, step)


def _floats(name: str, low: float, high: float, step: float) -> ParamSpec:
    return ParamSpec(name, "float", (), low, high, step)


#: Every operator the search knows, with its widest parameter ranges; a space file narrows them.
OPERATOR_LIBRARY: dict[str, OperatorSpec] = {
    op.name: op
    for op in (
        _lib(
            "rewrite", "query", "llm.rewrite_query", {"mode": _choice("mode", "rewrite", "expand")}, llm=True
        ),
        _lib(
            "decompose",
            "query",
            "search.decompose",
            {"max_questions": _ints("max_questions", 2, 4)},
            llm=True,
        ),
        _lib(
            "retrieve",
            "retrieve",
            "search.retrieve",
            {
                "method": _choice("method", "bm25", "dense", "hybrid", "graph"),
                "k": _ints("k", 5, 50, 5),
                "fusion": _choice("fusion", "rrf", "weighted", "dbsf"),
                "weight": _floats("weight", 0.0, 1.0, 0.1),
                "normalization": _choice("normalization", "minmax", "zscore"),
            },
            defaults={"method": "hybrid", "k": 5, "fusion": "rrf", "weight": 0.5},
            required=True,
        ),
        _lib(
            "multihop",
            "expand",
            "search.multihop",
            {
                "method": _choice("method", "bm25", "dense", "hybrid"),
                "seeds": _ints("seeds", 1, 5),
                "keep": _ints("keep", 0, 5),
                "per_hop": _ints("per_hop", 5, 30, 5),
                "link": _choice("link", "mention", "title", "lead"),
            },
            defaults={"method": "hybrid", "seeds": 2, "keep": 2, "per_hop": 10, "link": "mention"},
        ),
        _lib(
            "prf",
            "expand",
            "search.prf",
            {
                "method": _choice("method", "bm25", "dense", "hybrid"),
                "docs": _ints("docs", 1, 5),
                "terms": _ints("terms", 2, 20, 2),
            },
            defaults={"method": "bm25", "docs": 3, "terms": 8},
        ),
        _lib(
            "rerank",
            "rerank",
            "search.rerank",
            {"method": _choice("method", "collaborative", "maxsim"), "k": _ints("k", 5, 20, 5)},
            defaults={"method": "collaborative", "k": 10},
        ),
        _lib(
            "select",
            "select",
            "select.{method}",
            {
                "method": _choice("method", "topk", "greedy", "mmr", "sage"),
                "budget_tokens": _ints("budget_tokens", 256, 2048, 256),
            },
            defaults={"method": "topk", "budget_tokens": 1024},
        ),
        _lib(
            "generate", "generate", "llm.generate", {"max_tokens": _ints("max_tokens", 32, 256, 32)}, llm=True
        ),
        _lib(
            "ensemble",
            "generate",
            "search.ensemble",
            {"samples": _ints("samples", 3, 7, 2), "temperature": _floats("temperature", 0.3, 1.0, 0.1)},
            defaults={"samples": 3, "temperature": 0.7},
            llm=True,
        ),
        _lib("review", "review", "search.review", {"max_tokens": _ints("max_tokens", 32, 256, 32)}, llm=True),
        _lib("format", "format", "search.format_answer", {"style": _choice("style", "short", "sentence")}),
    )
}

#: The parallel-branch pseudo-operator: retrieve arms fused by ``search.fuse``.
PARALLEL = "parallel"
PARALLEL_PARAMS: dict[str, ParamSpec] = {
    "fusion": _choice("fusion", "rrf", "interleave"),
    "k": _ints("k", 5, 50, 5),
}


@dataclass(frozen=True)
class SearchSpace:
    """The allowed operators (narrowed library specs), the seed candidate and structural limits."""

    operators: dict[str, OperatorSpec]
    seed: Candidate
    max_arms: int = 2
    allow_branches: bool = True
    #: The metric scores answers (em, f1): every candidate keeps a generate-stage operator.
    answers: bool = False

    def __post_init__(self) -> None:
        if not any(op.required for op in self.operators.values()):
            raise ConfigError("a search space needs the 'retrieve' operator (every flow retrieves)")

    def op(self, name: str) -> OperatorSpec:
        if name == PARALLEL:
            return OperatorSpec(PARALLEL, "retrieve", "search.fuse", PARALLEL_PARAMS, required=True)
        try:
            return self.operators[name]
        except KeyError:
            raise ConfigError(
                f"operator {name!r} is not in this search space; allowed: {', '.join(self.operators)}"
            ) from None

    @property
    def uses_llm(self) -> bool:
        return any(op.llm for op in self.operators.values())

    def op_fixed_keys(self, uses: str) -> set[str]:
        """Fixed parameter names of the operator(s) built from component ``uses`` (not part of a genome)."""
        return {k for op in self.operators.values() if op.uses.split("{")[0] in uses for k in op.fixed}

    def stage_rank(self, step: Step) -> int:
        return STAGES.index(self.op(step.op).stage)


def _narrow(base: OperatorSpec, spec: Any, where: str) -> OperatorSpec:
    params = dict(base.params)
    _expect_mapping(spec, where, "{params: ..., only: [...], fixed: {...}}")
    given = spec.get("params") or {}
    _expect_mapping(given, f"{where}.params", "parameter name -> {choices: [...]} or {int: [lo, hi]}")
    _expect_mapping(spec.get("fixed") or {}, f"{where}.fixed", "parameter name -> value")
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ConfigError(f"{where}: unknown parameters {unknown}; {base.name} takes {sorted(params)}")
    for name, value in given.items():
        params[name] = param_from_yaml(name, value, where)
    only = spec.get("only")
    if only is not None and (not isinstance(only, list) or set(only) - set(params)):
        raise ConfigError(
            f"{where}.only: expected a list of {base.name}'s parameters {sorted(params)}, got {only!r}"
        )
    if only is not None:  # search just these parameters; the others stay at their defaults
        params = {
            n: p if n in only else ParamSpec(n, "choice", (base.default_params()[n],))
            for n, p in params.items()
        }
    return OperatorSpec(
        base.name,
        base.stage,
        base.uses,
        params,
        base.defaults,
        dict(spec.get("fixed") or {}),
        base.llm,
        base.required,
    )


def _expect_mapping(value: Any, where: str, shape: str) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping ({shape}), got {value!r}")


def space_from_dict(data: Mapping[str, Any], where: str = "search space") -> SearchSpace:
    """Build a space from the parsed YAML (see the module docstring)."""
    ops_data = data.get("operators")
    if not isinstance(ops_data, Mapping) or not ops_data:
        raise ConfigError(f"{where}: needs an 'operators:' mapping (operator name -> {{params: ...}})")
    operators: dict[str, OperatorSpec] = {}
    for name, spec in ops_data.items():
        if name not in OPERATOR_LIBRARY:
            raise ConfigError(f"{where}: unknown operator {name!r}; known: {', '.join(OPERATOR_LIBRARY)}")
        operators[name] = _narrow(OPERATOR_LIBRARY[name], spec or {}, f"{where}.operators.{name}")
    seed_data = data.get("seed") or [{"op": "retrieve", "with": {}}]
    if not isinstance(seed_data, list):
        raise ConfigError(
            f"{where}.seed: expected a list of steps ({{op: ..., with: {{...}}}}), got {seed_data!r}"
        )
    steps = []
    for i, raw in enumerate(seed_data):
        try:
            step = Step.from_dict(raw)
        except ConfigError as e:
            raise ConfigError(f"{where}.seed[{i}]: {e}") from None
        op = operators.get(step.op) or OPERATOR_LIBRARY.get(step.op)
        if op is None:
            raise ConfigError(f"{where}.seed: unknown operator {step.op!r}")
        steps.append(Step.make(step.op, {**op.default_params(), **step.kwargs}, step.arms))
    branches = data.get("branches", {}) or {}
    _expect_mapping(branches, f"{where}.branches", "{max_arms: N, allow: true|false}")
    try:
        max_arms = int(branches.get("max_arms", 2))
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}.branches.max_arms: expected an integer, got {branches['max_arms']!r}"
        ) from None
    space = SearchSpace(
        operators,
        Candidate(tuple(steps)),
        max_arms=max_arms,
        allow_branches=bool(branches.get("allow", True)),
    )
    from ragloom.agents.search.edits import check_candidate  # edits builds on this module

    try:  # a seed outside the space would fail its evaluation and every edit of it: say so now
        check_candidate(space.seed, space)
    except ConfigError as e:
        raise ConfigError(f"{where}.seed: {e}; the seed must be a flow of this space") from None
    return space


def load_space(path: str | Path) -> SearchSpace:
    """Read a search-space YAML file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"search space file {str(p)!r} does not exist; see examples/search_space.yaml")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:  # e.g. "line 3, column 1: expected the node content"
        mark = getattr(e, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{p}:{at}: not valid YAML ({problem})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a UTF-8 text file ({e})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: a search space file is a YAML mapping with 'operators:' (and 'seed:')")
    return space_from_dict(data, str(p))
