"""The ``auto`` fusion is chosen per index on dev, arms alone included, so on dev it never loses to an arm."""

from __future__ import annotations

from pathlib import Path

from ragloom.core.types import Chunk, Hit
from ragloom.eval.build import build_pipeline
from ragloom.eval.datasets import load_dataset
from ragloom.eval.fusion_choice import FALLBACK, choose_fusion, fuse_runs
from ragloom.eval.harness import evaluate
from ragloom.eval.pipelines import pipeline_spec


def _hits(*docs: str) -> list[Hit]:
    return [Hit(Chunk(d, d, 0, len(d)), float(len(docs) - i)) for i, d in enumerate(docs)]


def test_the_choice_is_never_worse_on_dev_than_the_better_arm_and_ties_prefer_fusion() -> None:
    # dense finds the relevant "g" (in first place, by a hair), bm25 puts "x" far ahead and never sees "g"
    bm25 = [Hit(Chunk("x", "x", 0, 1), 100.0)] + [Hit(Chunk(f"n{i}", f"n{i}", 0, 1), 1.0) for i in range(30)]
    dense = [Hit(Chunk("g", "g", 0, 1), 0.51)] + [
        Hit(Chunk(f"m{i}", f"m{i}", 0, 1), 0.5 - i / 100) for i in range(30)
    ]
    runs = {f"q{i}": [bm25, dense] for i in range(3)}
    fusion, means = choose_fusion(runs, lambda q, hits: float(hits[0].doc_id == "g"))
    assert means["weighted zscore [0.5, 0.5]"] == 0.0 and means["weighted zscore [0.0, 1.0]"] == 1.0
    assert means[f"weighted zscore {fusion['weights']}"] == max(means.values()) == 1.0
    both = {"q": [_hits("g", "x"), _hits("g", "y")]}
    assert choose_fusion(both, lambda q, hits: float(hits[0].doc_id == "g"))[0]["weights"] == [0.5, 0.5]
    assert choose_fusion({}, lambda q, h: 0.0) == (FALLBACK, {})


def test_an_arm_alone_keeps_its_own_run() -> None:
    bm25, dense = _hits("a", "b"), _hits("c", "d")
    assert (
        fuse_runs({"method": "weighted", "normalization": "zscore", "weights": [0.0, 1.0]}, [bm25, dense], 5)
        == dense
    )
    assert len(fuse_runs({"method": "rrf"}, [bm25, dense], 3)) == 3


def test_the_hybrid_pipeline_tunes_on_dev_and_says_what_it_chose(tiny: Path) -> None:
    dataset = load_dataset(tiny)
    pipe = build_pipeline(pipeline_spec("hybrid"))
    result = evaluate(pipe, dataset.split("test"), split="test", top_k=10, tune_on=dataset)
    chosen = result.config["fusion_chosen"]
    assert chosen["on"] == "4 dev queries, nDCG@10" and chosen["fusion"]["method"] in ("weighted", "rrf")
    assert result.metrics["nDCG@10"] > 0.5
