"""What the retrieval benchmark runs: its datasets, their primary metrics and the pipelines of each phase.

Split out of ``retrieval.py`` so that dev tuning (``retrieval_tuning.py``), test measurements
(``retrieval_measure.py``) and the report (``retrieval_report.py``) share one definition of the datasets,
the retrieval depth and the pipeline specs instead of each restating them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ragloom.core.paths import data_dir
from ragloom.core.types import Document
from ragloom.eval.build import IndexCache, RetrievalPipeline, build_pipeline
from ragloom.eval.datasets import Dataset, indexable_documents, load_dataset
from ragloom.eval.harness import body_offsets
from ragloom.eval.pipelines import ComponentSpec, PipelineSpec
from ragloom.retrieval.embedders import SentenceTransformerEmbedder

DATASETS = ("scifact", "msmarco-5k", "hotpotqa-300", "squad-articles-a")
PRIMARY = {
    "scifact": "nDCG@10",
    "msmarco-5k": "nDCG@10",
    "hotpotqa-300": "R@5",
    "squad-articles-a": "span-hit@1",
}
SHOWN = ("nDCG@10", "R@2", "R@5", "MRR@10", "span-hit@1", "span-hit@5")
DEPTH = 100
BM25 = ComponentSpec("bm25")
W200 = ComponentSpec("window", {"words": 200})


@dataclass
class Bench:
    """One dataset: its dev/test splits, indexable documents and shared indexes."""

    name: str
    dev: Dataset
    test: Dataset
    docs: list[Document]
    offsets: dict[str, int]
    cache: IndexCache = field(default_factory=IndexCache)

    @property
    def chunked(self) -> bool:
        """Whether the harness's auto rule chunks this corpus (late chunking only matters then)."""
        from ragloom.eval.build import resolve_chunker

        return resolve_chunker(None, self.docs).uses != "document"


@dataclass
class Models:
    embedder: SentenceTransformerEmbedder
    query_embedder: SentenceTransformerEmbedder


def load_bench(name: str, limit: int | None) -> Bench:
    dataset = load_dataset(data_dir() / name)
    docs = indexable_documents(dataset, with_title=True)
    return Bench(
        name, dataset.split("dev").limit(limit), dataset.split("test").limit(limit), docs, body_offsets(docs)
    )


def pipeline(bench: Bench, models: Models, spec: PipelineSpec) -> RetrievalPipeline:
    pipe = build_pipeline(spec, models.embedder, models.query_embedder, cache=bench.cache)
    pipe.index(bench.docs)
    return pipe


def single(name: str, retriever: ComponentSpec, chunker: ComponentSpec | None = None) -> PipelineSpec:
    return PipelineSpec(name=name, retrievers=(retriever,), chunker=chunker)


def dense_spec(late: bool) -> ComponentSpec:
    return ComponentSpec("dense", {"late_chunking": True} if late else {})


def hybrid_spec(
    name: str, best: dict[str, Any], bench: Bench, chunker: ComponentSpec | None = None
) -> PipelineSpec:
    """BM25 + dense fused as chosen on dev; dense uses late chunking when chosen and the corpus is chunked."""
    fusion = {k: v for k, v in best.items() if k != "late"}
    late = bool(best["late"]) and (chunker is not None or bench.chunked)
    return PipelineSpec(name=name, retrievers=(BM25, dense_spec(late)), chunker=chunker, fusion=fusion)


def test_specs(bench: Bench, best: dict[str, Any], late_everywhere: bool) -> list[PipelineSpec]:
    """First-stage pipelines on the test split (dense-late only on chunked corpora unless asked)."""
    specs = [single("bm25", BM25), single("dense", dense_spec(False))]
    if bench.chunked or late_everywhere:
        specs.append(single("dense-late", dense_spec(True)))
    specs.append(hybrid_spec("hybrid", best, bench))
    if bench.name == "squad-articles-a":  # the late-chunking bar's boundaries: 200-word windows
        specs += [
            single("bm25 [w200]", BM25, W200),
            single("dense [w200]", dense_spec(False), W200),
            single("dense-late [w200]", dense_spec(True), W200),
            hybrid_spec("hybrid [w200]", best, bench, W200),
        ]
    return specs


def rerank_specs(
    bench: Bench, best: dict[str, Any], rerank: dict[str, float], depth: int
) -> list[PipelineSpec]:
    maxsim = ComponentSpec("maxsim", {"first_stage_weight": rerank["maxsim"], "cache_size": 4096})
    collab = ComponentSpec("collaborative", {"collab_weight": rerank["collaborative"]})
    return [
        replace(hybrid_spec("hybrid+maxsim", best, bench), reranker=maxsim, rerank_depth=depth),
        replace(hybrid_spec("hybrid+collab", best, bench), reranker=collab, rerank_depth=depth),
    ]
