"""Retrieval pipelines for evaluation: a spec (chunker, retrievers, fusion, reranker), by name or from YAML.

A :class:`PipelineSpec` is plain data; :func:`build_pipeline` turns it into a :class:`RetrievalPipeline` that
indexes documents in memory (BM25 on bm25s, dense on an exact numpy store) and answers ``retrieve``. Named
pipelines are registered in the component registry under kind ``"pipeline"`` (``pipeline.bm25``,
``pipeline.hybrid``, …), so ``ragloom eval --pipeline hybrid`` and a YAML file describe the same objects.

YAML shape (every key optional except ``retrievers``; component names are the registry's, with or without
their room prefix: ``bm25`` or ``retrieval.bm25``, ``window`` or ``chunking.window``)::

    name: my-hybrid
    chunker: {uses: paragraph, with: {max_words: 200}}   # or "auto" (default) or "document"
    retrievers:
      - {uses: bm25, with: {k1: 1.2, b: 0.75}}
      - {uses: dense, with: {late_chunking: true}}
    fusion: {method: weighted, weights: [0.4, 0.6], normalization: zscore}
    reranker: {uses: maxsim, with: {first_stage_weight: 0.5}, depth: 30}
    candidates: 100
    title: true                                        # prepend document titles (default)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.registry import create, names, register

__all__ = [
    "RERANKERS",
    "RETRIEVERS",
    "ComponentSpec",
    "PipelineSpec",
    "load_pipeline_spec",
    "pipeline_spec",
]

RETRIEVERS = ("bm25", "dense", "graph")
RERANKERS = ("maxsim", "collaborative", "llm", "cross_encoder")
FUSIONS = ("rrf", "weighted", "dbsf", "confidence", "auto")
_PREFIXES = ("retrieval.rerank.", "retrieval.", "chunking.")


@dataclass(frozen=True)
class ComponentSpec:
    """A component by short name (``bm25``, ``window``, ``maxsim``) with its constructor parameters."""

    uses: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PipelineSpec:
    """Everything that defines a retrieval pipeline; ``to_dict`` writes it back as the YAML shape.

    ``chunker``: None means "auto" (paragraph chunks when documents are long, whole documents otherwise).
    ``fusion``: for several retrievers (``method``, ``weights``, ``normalization``, ``rrf_k``).
    ``rerank_depth``: how many fused candidates the reranker sees. ``title``: None = auto.
    """

    name: str
    retrievers: tuple[ComponentSpec, ...]
    chunker: ComponentSpec | None = None
    fusion: dict[str, Any] = field(default_factory=lambda: {"method": "rrf"})
    reranker: ComponentSpec | None = None
    rerank_depth: int = 10
    candidates: int = 100
    title: bool | None = None

    def with_fusion(self, **fusion: Any) -> PipelineSpec:
        return replace(self, fusion={**self.fusion, **fusion})

    def to_dict(self) -> dict[str, Any]:
        def comp(c: ComponentSpec | None) -> Any:
            return None if c is None else {"uses": c.uses, "with": dict(c.params)}

        return {
            "name": self.name,
            "chunker": comp(self.chunker) or "auto",
            "retrievers": [comp(r) for r in self.retrievers],
            "fusion": dict(self.fusion),
            "reranker": None
            if self.reranker is None
            else {**comp(self.reranker), "depth": self.rerank_depth},
            "candidates": self.candidates,
            "title": "auto" if self.title is None else self.title,
        }


def _short(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _component(value: Any, where: str, allowed: Sequence[str] | None) -> ComponentSpec:
    if isinstance(value, str):
        value = {"uses": value}
    if not isinstance(value, Mapping) or "uses" not in value:
        raise ConfigError(
            f"{where}: expected a name or a mapping with 'uses:' (and optional 'with:'), got {value!r}"
        )
    extra = set(value) - {"uses", "with", "depth"}
    if extra:
        raise ConfigError(f"{where}: unknown keys {sorted(extra)}; allowed: uses, with")
    uses = _short(str(value["uses"]))
    if allowed is not None and uses not in allowed:
        raise ConfigError(f"{where}: unknown component {value['uses']!r}; choose one of {', '.join(allowed)}")
    params = value.get("with") or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}.with: expected a mapping of parameters, got {params!r}")
    return ComponentSpec(uses, dict(params))


def _chunker(value: Any, where: str) -> ComponentSpec | None:
    if value is None or value == "auto":
        return None
    from ragloom.retrieval.chunkers import CHUNKERS

    return _component(value, f"{where}.chunker", list(CHUNKERS))


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: expected a positive integer, got {value!r}")
    return value


def _fusion(value: Any, where: str, n_retrievers: int) -> dict[str, Any]:
    if value is not None and not isinstance(value, str | Mapping):
        raise ConfigError(
            f"{where}.fusion: expected a method name or a mapping (method, weights, ...), got {value!r}"
        )
    fusion = {"method": value} if isinstance(value, str) else dict(value or {"method": "rrf"})
    unknown = set(fusion) - {"method", "weights", "normalization", "rrf_k"}
    if unknown:
        raise ConfigError(
            f"{where}.fusion: unknown keys {sorted(unknown)}; allowed: method, weights, normalization, rrf_k"
        )
    fusion.setdefault("method", "rrf")
    if fusion["method"] not in FUSIONS:
        raise ConfigError(f"{where}.fusion.method: {fusion['method']!r} is not one of {', '.join(FUSIONS)}")
    weights = fusion.get("weights")
    if weights is not None:
        if not isinstance(weights, list) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights
        ):
            raise ConfigError(f"{where}.fusion.weights: expected a list of numbers >= 0, got {weights!r}")
        if len(weights) != n_retrievers:
            raise ConfigError(f"{where}.fusion.weights: {len(weights)} weights for {n_retrievers} retrievers")
    from ragloom.retrieval.fusion import NORMALIZATIONS

    normalization = fusion.get("normalization", "minmax")
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            f"{where}.fusion.normalization: {normalization!r} is not one of {', '.join(NORMALIZATIONS)}"
        )
    rrf_k = fusion.get("rrf_k", 60)
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or rrf_k < 0:
        raise ConfigError(f"{where}.fusion.rrf_k: expected an integer >= 0, got {rrf_k!r}")
    return fusion


def pipeline_spec_from_dict(data: Mapping[str, Any], where: str = "pipeline") -> PipelineSpec:
    """Validate the YAML shape (module docstring) into a spec; errors name the offending key."""
    allowed = {"name", "chunker", "retrievers", "fusion", "reranker", "candidates", "title"}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    raw = data.get("retrievers")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}.retrievers: give a non-empty list, e.g. [bm25, dense]")
    retrievers = tuple(_component(r, f"{where}.retrievers[{i}]", RETRIEVERS) for i, r in enumerate(raw))
    reranker = data.get("reranker")
    title = data.get("title", "auto")
    if title not in ("auto", True, False, None):
        raise ConfigError(f"{where}.title: use true, false or auto, got {title!r}")
    return PipelineSpec(
        name=str(data.get("name") or where),
        retrievers=retrievers,
        chunker=_chunker(data.get("chunker"), where),
        fusion=_fusion(data.get("fusion"), where, len(retrievers)),
        reranker=None if reranker is None else _component(reranker, f"{where}.reranker", RERANKERS),
        rerank_depth=_positive_int(reranker.get("depth", 10), f"{where}.reranker.depth")
        if isinstance(reranker, Mapping)
        else 10,
        candidates=_positive_int(data.get("candidates", 100), f"{where}.candidates"),
        title=None if title in ("auto", None) else bool(title),
    )


def load_pipeline_spec(path: str | Path) -> PipelineSpec:
    """Read a PIPELINE.yaml file; YAML syntax errors name the line and column."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{file}: cannot read pipeline file ({e})") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{file}{where}: invalid YAML ({getattr(e, 'problem', e)})") from e
    if not isinstance(data, Mapping):
        raise ConfigError(f"{file}: a pipeline file must hold a mapping (name, chunker, retrievers, ...)")
    return pipeline_spec_from_dict(data, where=str(data.get("name") or file.stem))


def pipeline_spec(name_or_path: str | Path) -> PipelineSpec:
    """A named pipeline (``bm25``, ``pipeline.hybrid``…) or a ``.yaml``/``.yml`` file."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return load_pipeline_spec(text)
    full = text if text.startswith("pipeline.") else f"pipeline.{text}"
    if full not in names("pipeline"):
        _register_builtins()
    if full not in names("pipeline"):
        valid = ", ".join(n.removeprefix("pipeline.") for n in names("pipeline"))
        raise ConfigError(f"unknown pipeline {text!r}; choose one of {valid}, or pass a PIPELINE.yaml file")
    spec = create(full)
    if not isinstance(spec, PipelineSpec):
        raise ConfigError(f"registry entry {full!r} did not make a PipelineSpec")
    return spec


# -- named pipelines -------------------------------------------------------------------------------------
_BM25 = ComponentSpec("bm25")
_DENSE = ComponentSpec("dense")
_DENSE_LATE = ComponentSpec("dense", {"late_chunking": True})
_DENSE_AUTO = ComponentSpec("dense", {"late_chunking": "auto"})
#: "auto": the fusion is chosen per index on the dataset's dev split, each arm alone among the candidates
#: (ragloom.eval.fusion_choice; benchmarks/fusion_default.py). The previous default, z-score 0.4/0.6 tuned on
#: four dev sets together, lost to dense alone where BM25 is weak. Dense vectors by late chunking where
#: documents are chunked ("auto").
DEFAULT_HYBRID_FUSION: dict[str, Any] = {"method": "auto"}
#: The previous global default, kept for comparisons (benchmarks/fusion_default.py).
OLD_HYBRID_FUSION: dict[str, Any] = {"method": "weighted", "normalization": "zscore", "weights": [0.4, 0.6]}
#: Reranker mixing weights chosen on the same dev splits (MaxSim's first-stage weight; collaborative weight).
MAXSIM_FIRST_STAGE_WEIGHT = 0.0
COLLAB_WEIGHT = 0.0

_NAMED: dict[str, dict[str, Any]] = {
    "bm25": {"retrievers": (_BM25,)},
    "dense": {"retrievers": (_DENSE,)},
    "dense-late": {"retrievers": (_DENSE_LATE,)},
    "graph": {"retrievers": (ComponentSpec("graph"),)},
    "hybrid": {"retrievers": (_BM25, _DENSE_AUTO), "fusion": DEFAULT_HYBRID_FUSION},
    "hybrid-rrf": {"retrievers": (_BM25, _DENSE_AUTO), "fusion": {"method": "rrf"}},
    "hybrid+maxsim": {
        "retrievers": (_BM25, _DENSE_AUTO),
        "fusion": DEFAULT_HYBRID_FUSION,
        "reranker": ComponentSpec("maxsim", {"first_stage_weight": MAXSIM_FIRST_STAGE_WEIGHT}),
        "rerank_depth": 10,
    },
    "hybrid+collab": {
        "retrievers": (_BM25, _DENSE_AUTO),
        "fusion": DEFAULT_HYBRID_FUSION,
        "reranker": ComponentSpec("collaborative", {"collab_weight": COLLAB_WEIGHT}),
        "rerank_depth": 10,
    },
}
_LATE_TAGS = {False: "", True: " (late chunking)", "auto": " (late chunking where chunked)"}
_registered = False


def _register_builtins() -> None:
    """Register the named pipelines (idempotent) under kind ``pipeline``."""
    global _registered
    if _registered:
        return
    _registered = True
    for short, fields in _NAMED.items():
        factory = _named_factory(short, fields)
        register(f"pipeline.{short}", kind="pipeline")(factory)


def _named_factory(short: str, fields: dict[str, Any]) -> Any:
    def make(**overrides: Any) -> PipelineSpec:
        return replace(PipelineSpec(name=short, **fields), **overrides)

    make.__doc__ = f"Evaluation pipeline {short!r}: {_describe(fields)}."
    make.__name__ = f"pipeline_{short.replace('-', '_').replace('+', '_')}"
    return make


def _describe(fields: dict[str, Any]) -> str:
    parts = [
        " + ".join(r.uses + _LATE_TAGS[r.params.get("late_chunking", False)] for r in fields["retrievers"])
    ]
    if len(fields["retrievers"]) > 1:
        parts.append(f"fused by {fields['fusion']['method']}")
    if fields.get("reranker"):
        parts.append(f"reranked by {fields['reranker'].uses}")
    return ", ".join(parts)


_register_builtins()
