"""The harness end to end on slices of the real datasets, pipelines from YAML, and ``ragloom eval``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.core.errors import ConfigError
from ragloom.eval.build import build_pipeline
from ragloom.eval.datasets import load_dataset
from ragloom.eval.harness import evaluate
from ragloom.eval.pipelines import load_pipeline_spec, pipeline_spec


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _slice(src: Path, dst: Path, n_queries: int, n_docs: int) -> Path:
    """A BEIR folder with the first ``n_queries`` judged queries, their gold documents and distractors."""
    qrels_lines = (src / "qrels" / "test.tsv").read_text().splitlines()[1:]
    qids = list(dict.fromkeys(line.split("\t")[0] for line in qrels_lines))[:n_queries]
    keep_q = set(qids)
    qrels = [line for line in qrels_lines if line.split("\t")[0] in keep_q]
    gold = {line.split("\t")[1] for line in qrels}
    corpus = _read_jsonl(src / "corpus.jsonl")
    docs = [d for d in corpus if d["_id"] in gold]
    docs += [d for d in corpus if d["_id"] not in gold][: max(0, n_docs - len(docs))]
    (dst / "qrels").mkdir(parents=True)
    _write_jsonl(dst / "corpus.jsonl", docs)
    _write_jsonl(dst / "queries.jsonl", [q for q in _read_jsonl(src / "queries.jsonl") if q["_id"] in keep_q])
    (dst / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(qrels) + "\n")
    for extra in ("answers.jsonl", "spans.jsonl"):
        if (src / extra).is_file():
            _write_jsonl(dst / extra, [r for r in _read_jsonl(src / extra) if r["_id"] in keep_q])
    return dst


@pytest.fixture(scope="module")
def hotpot_slice(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _slice(shared_data / "hotpotqa-300", tmp_path_factory.mktemp("hp") / "hotpot-slice", 40, 200)


def test_bm25_end_to_end_on_a_hotpotqa_slice(hotpot_slice: Path) -> None:
    dataset = load_dataset(hotpot_slice)
    assert (len(dataset.corpus), len(dataset.queries)) == (200, 40)
    result = evaluate(build_pipeline(pipeline_spec("bm25")), dataset, keep_per_query=True)
    m = result.metrics
    assert set(m) == {"nDCG@10", "MRR@10", "R@2", "R@5", "R@10", "R@100"}
    assert m["R@5"] > 0.7 and m["nDCG@10"] > 0.6  # full-set anchor R@5 0.782; a 200-doc slice is easier
    assert m["R@2"] <= m["R@5"] <= m["R@10"] <= m["R@100"] <= 1.0
    assert len(result.per_query) == 40 and result.index_docs_per_s > 0
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p95


def test_span_hit_on_long_documents_with_auto_chunking(shared_data: Path, tmp_path: Path) -> None:
    folder = _slice(shared_data / "squad-articles-a", tmp_path / "squad-slice", 60, 3)
    dataset = load_dataset(folder)
    pipe = build_pipeline(pipeline_spec("bm25"))
    result = evaluate(pipe, dataset)
    assert pipe.corpus is not None and pipe.corpus.chunker.uses == "paragraph"  # long documents get chunked
    assert len(pipe.corpus.chunks) > 3 * len(dataset.corpus)
    m = result.metrics
    assert m["span-hit@1"] <= m["span-hit@5"] <= m["span-hit@10"]
    assert m["span-hit@1"] > 0.5  # full-set BM25 anchor with paragraphs: 0.762
    assert result.config["chunker"] == {"uses": "paragraph", "with": {"max_words": 200}}


def test_a_document_with_the_query_id_is_not_counted(tmp_path: Path) -> None:
    (tmp_path / "qrels").mkdir()
    _write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "q1", "text": "why do cats purr so much"},  # the query itself, as in ArguAna
            {"_id": "d1", "text": "cats purr when content, and purr to heal"},
            {"_id": "d2", "text": "dogs bark"},
        ],
    )
    _write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q1", "text": "why do cats purr"}])
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\t1\n")
    result = evaluate(build_pipeline(pipeline_spec("bm25")), load_dataset(tmp_path))
    assert result.metrics["MRR@10"] == 1.0  # q1 ranked first by BM25 but dropped; d1 is rank 1


def test_pipeline_yaml_round_trip_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text(
        "name: mine\nchunker: {uses: chunking.window, with: {words: 50}}\n"
        "retrievers: [bm25, {uses: retrieval.dense, with: {late_chunking: true}}]\n"
        "fusion: {method: weighted, weights: [0.3, 0.7], normalization: zscore}\n"
        "reranker: {uses: retrieval.rerank.maxsim, depth: 20}\n"
    )
    spec = load_pipeline_spec(good)
    assert spec.name == "mine" and spec.chunker is not None and spec.chunker.params == {"words": 50}
    assert [r.uses for r in spec.retrievers] == ["bm25", "dense"] and spec.rerank_depth == 20
    assert spec.to_dict()["fusion"]["weights"] == [0.3, 0.7]
    bad_weights = tmp_path / "w.yaml"
    bad_weights.write_text("retrievers: [bm25, dense]\nfusion: {weights: [1]}\n")
    with pytest.raises(ConfigError, match=r"fusion.weights: 1 weights for 2 retrievers"):
        load_pipeline_spec(bad_weights)
    with pytest.raises(ConfigError, match=r"retrievers\[0\]: unknown component 'splade'"):
        pipeline_spec_text(tmp_path, "retrievers: [splade]\n")
    with pytest.raises(ConfigError, match=r"x.yaml:2:\d+: invalid YAML"):
        pipeline_spec_text(tmp_path, "retrievers: [bm25\nname: {\n")
    with pytest.raises(ConfigError, match=r"unknown pipeline 'nope'; choose one of .*hybrid"):
        pipeline_spec("nope")


def pipeline_spec_text(folder: Path, text: str) -> object:
    path = folder / "x.yaml"
    path.write_text(text)
    return load_pipeline_spec(path)


def test_cli_eval_prints_a_table_and_writes_json(hotpot_slice: Path, tmp_path: Path) -> None:
    from ragloom.cli import app

    out = tmp_path / "out" / "r.json"
    args = ["eval", str(hotpot_slice), "--pipeline", "bm25", "--json", str(out), "--limit", "10"]
    result = CliRunner().invoke(app, [*args, "--split", "all", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.output and "latency p95 ms" in result.output
    data = json.loads(out.read_text())
    assert data["n_queries"] == 10 and len(data["per_query"]) == 10 and data["config"]["name"] == "bm25"
    bad = CliRunner().invoke(app, ["eval", str(tmp_path / "missing"), "--no-progress"])
    assert bad.exit_code == 2 and "not a folder" in bad.output


@pytest.mark.slow
def test_dense_and_hybrid_with_real_embeddings(shared_data: Path, tmp_path: Path) -> None:
    from ragloom.eval.build import IndexCache

    dataset = load_dataset(_slice(shared_data / "hotpotqa-300", tmp_path / "tiny", 4, 16))
    cache = IndexCache()  # the two pipelines share one embedding pass over the 16 documents
    for name in ("dense", "hybrid"):
        pipe = build_pipeline(pipeline_spec(name), cache=cache)
        result = evaluate(pipe, dataset)
        assert result.metrics["R@10"] >= 0.75, (name, result.metrics)
        hits = pipe.retrieve(dataset.queries[next(iter(dataset.queries))], 5)
        assert len(hits) <= 5 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_public_surface_resolves() -> None:
    import ragloom.eval as public

    assert all(getattr(public, name) is not None for name in public.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = public.nope


def test_write_json_writes_non_finite_numbers_as_null(tmp_path: Path) -> None:
    """Zero measured time gives ``inf`` rates; ``Infinity``/``NaN`` are not JSON, so they are written null."""
    from ragloom.eval.harness import EvalResult

    def strict(constant: str) -> None:
        raise ValueError(f"not valid JSON: {constant}")

    result = EvalResult(
        dataset="d",
        pipeline="p",
        split="all",
        n_queries=0,
        n_docs=1,
        metrics={"R@5": float("nan"), "MRR@10": 0.5},
        index_seconds=0.0,
        index_docs_per_s=float("inf"),
        latency_ms_p50=0.0,
        latency_ms_p95=0.0,
        queries_per_s=float("-inf"),
        config={"weights": [1.0, float("nan")]},
        per_query={"q1": {"R@5": float("inf")}},
    )
    path = tmp_path / "out" / "result.json"
    result.write_json(path)
    data = json.loads(path.read_text(encoding="utf-8"), parse_constant=strict)
    assert data["index_docs_per_s"] is None and data["queries_per_s"] is None
    assert data["metrics"] == {"R@5": None, "MRR@10": 0.5}
    assert data["config"] == {"weights": [1.0, None]} and data["per_query"] == {"q1": {"R@5": None}}
    assert result.index_docs_per_s == float("inf")  # only the file changes, not the result object
