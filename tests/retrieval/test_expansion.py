"""Second-pass retrieval steps (the former search.multihop / search.prf): pure kernels, then the registered
nodes in a real flow over a real index, and their place in workflow search's space."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragloom.agents.search import flow_edits, read_seed
from ragloom.core.errors import ConfigError
from ragloom.core.registry import create
from ragloom.core.types import Chunk, Hit
from ragloom.eval.datasets import load_dataset
from ragloom.eval.files_index import resources_for_dataset
from ragloom.flows import RunContext
from ragloom.retrieval.expansion import bring_up, expansion_terms, mention_links, rrf_hits

QA = Path(__file__).resolve().parents[2] / "examples" / "flows" / "qa.yaml"


def _hit(doc: str, n: int = 0, score: float = 1.0) -> Hit:
    return Hit(Chunk(f"{doc} text {n}", doc, 10 * n, 10 * n + 10), score)


def test_mention_links_follow_titles_case_insensitively_and_never_to_self() -> None:
    chunks = [
        Chunk("Paris is the capital of FRANCE.", "p", 0, 31, metadata={"title": "Paris"}),
        Chunk("France is a country; Paris again.", "f", 0, 33, metadata={"title": "France"}),
        Chunk("It is in Europe.", "f", 33, 49, metadata={"title": "France"}),
        Chunk("Untitled text about Paris.", "u", 0, 26),
        Chunk("Ox and Paris.", "o", 0, 13, metadata={"title": "Ox"}),  # a title under 4 characters: no link
    ]
    links = mention_links(chunks)
    assert links == {"p": ["f"], "f": ["p"], "u": ["p"], "o": ["p"]}


def test_bring_up_keeps_the_head_adds_new_documents_and_keeps_the_length() -> None:
    hits = [_hit("a"), _hit("a", 1), _hit("b"), _hit("c"), _hit("d")]
    second = [_hit("b"), _hit("x"), _hit("y"), _hit("z")]
    out = bring_up(hits, second, keep=1, extra=2)
    assert [h.doc_id for h in out] == ["a", "b", "x", "a", "c"]  # b was already there: it moves up
    assert len(out) == len(hits)
    assert [h.doc_id for h in bring_up([_hit("a")], [_hit("x")], keep=1, extra=1)] == ["a", "x"]
    assert bring_up(hits, [], keep=2, extra=2) == [hits[0], hits[2], hits[1], hits[3], hits[4]]


def test_expansion_terms_and_rrf_hits() -> None:
    texts = ["Checkpoint checkpoint WAL pages", "the checkpoint runs when pages grow"]
    assert expansion_terms("When does the WAL grow?", texts, 2) == ["checkpoint", "pages"]
    fused = rrf_hits([[_hit("a"), _hit("b")], [_hit("b"), _hit("c")]], 2)
    assert [h.doc_id for h in fused] == ["b", "a"] and fused[0].score > fused[1].score


@pytest.fixture
def bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A two-hop question: the question names the film; only the film's page names its director's page."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "bridge"
    (root / "qrels").mkdir(parents=True)
    docs = [
        ("film", "Night Harbour", "Night Harbour is a 1961 film directed by Odile Varenne."),
        ("dir", "Odile Varenne", "Odile Varenne was born in Lyon in 1920 and studied painting."),
        ("x1", "Harbour Lights", "Harbour Lights is a lighthouse museum on the northern coast."),
        ("x2", "Night Trains", "Night trains cross the continent every evening."),
        ("x3", "Cinema in 1961", "Many films of 1961 were shot in colour."),
    ]
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs)
    )
    q = "Where was the director of Night Harbour born?"
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": q}))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tfilm\t1\nq1\tdir\t1\n")
    return root


def test_multihop_and_prf_nodes_run_over_a_real_index(bridge: Path) -> None:
    data = load_dataset(bridge)
    resources, _ = resources_for_dataset(data, bridge)
    question = data.queries["q1"]
    first = resources["retriever"].retrieve(question, 5)
    assert first[0].doc_id == "film"
    node = create("retrieval.multihop", {"seeds": 1, "keep": 1})
    without = [h for h in first if h.doc_id != "dir"][:3]
    out = node({"question": question, "hits": without}, RunContext(resources=resources))
    assert [h.doc_id for h in out["hits"]][:2] == ["film", "dir"]  # the film's page names the director
    assert len(out["hits"]) == len(without)
    prf = create("retrieval.prf", {"docs": 1, "terms": 4})
    again = prf({"question": question, "hits": first}, RunContext(resources=resources))["hits"]
    assert len(again) == len(first) and {h.doc_id for h in again} <= set(data.corpus)
    with pytest.raises(ConfigError, match="no run resource 'index'"):
        node({"question": question, "hits": first}, RunContext())
    with pytest.raises(ConfigError, match="seeds must be >= 1"):
        create("retrieval.multihop", {"seeds": 0})


def test_they_are_in_the_search_space_as_in_place_steps() -> None:
    described = {e.describe() for e in flow_edits(read_seed(QA))}
    assert {"rerank: uses retrieval.multihop", "rerank: uses retrieval.prf"} <= described
