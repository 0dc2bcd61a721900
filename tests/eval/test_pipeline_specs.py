"""Pipeline YAML validation: every bad value is a ConfigError naming the key, found when the file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.core.errors import ConfigError
from ragloom.eval.pipelines import load_pipeline_spec


@pytest.mark.parametrize(
    "text,where",
    [
        ("retrievers: [bm25]\ncandidates: abc\n", r"candidates"),
        ("retrievers: [bm25]\ncandidates: 0\n", r"candidates"),
        ("retrievers: [bm25]\nreranker: {uses: maxsim, depth: x}\n", r"reranker.depth"),
        ("retrievers: [bm25]\nreranker: {uses: maxsim, depth: -3}\n", r"reranker.depth"),
        ("retrievers: [bm25, dense]\nfusion: {weights: 0.5}\n", r"fusion.weights"),
        ("retrievers: [bm25, dense]\nfusion: {weights: [a, 1]}\n", r"fusion.weights"),
        ("retrievers: [bm25, dense]\nfusion: 5\n", r"fusion"),
        (
            "retrievers: [bm25, dense]\nfusion: {method: weighted, normalization: zz}\n",
            r"fusion.normalization",
        ),
        ("retrievers: [bm25, dense]\nfusion: {rrf_k: -1}\n", r"fusion.rrf_k"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"bad\.{where}"):
        load_pipeline_spec(path)
