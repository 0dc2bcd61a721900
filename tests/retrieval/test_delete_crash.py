"""A delete killed anywhere (an exception at each stage, SIGKILL at the riskiest ones) leaves the index with
the documents or without them, every part agreeing, and the next delete finishes the job cleanly."""

from __future__ import annotations

import textwrap

import pytest
from index_crashes import Crash, crash_at, kill_at_stage

from ragloom.core.types import Document
from ragloom.retrieval.index import Index

pytestmark = pytest.mark.slow

DOCS = {
    "a": "Apples grow on trees in orchards.",
    "b": "Bees make honey from nectar.",
    "c": "Cod swim in cold seas.",
    "d": "Dolphins are marine mammals.",
}
GONE = ["a", "c"]
AFTER = {k: v for k, v in DOCS.items() if k not in GONE}

CHILD = textwrap.dedent(
    """
    import sys
    from ragloom.retrieval.index import Index

    path, block_at = sys.argv[1:3]

    def on_stage(name, info):
        if name == block_at:
            print("STAGE", name, flush=True)
            sys.stdin.readline()  # hold here until the parent kills us

    Index.open(path).delete(sys.argv[3:], on_stage=on_stage)
    print("DONE", flush=True)
    """
)


def check_consistent(path, embedder) -> dict[str, str]:
    """Every part of the index agrees: manifest, chunks, BM25, vectors, retrieval; returns its content."""
    index = Index.open(path, embedder)
    seen = {c.doc_id: c.text for c in index.chunks}
    assert seen in (DOCS, AFTER)
    assert set(index.documents) == set(seen)
    assert {c.doc_id for c in index.bm25().chunks} == set(seen)
    keys = {k for e in index.manifest.docs.values() for k in e.keys}
    assert keys <= set(index.store.ids())  # type: ignore[attr-defined]
    for mode in ("bm25", "dense", "hybrid"):
        hits = index.retriever(mode).retrieve("apples bees cod dolphins", 10)
        assert {h.doc_id for h in hits} <= set(seen), mode
        assert all(seen[h.doc_id] == h.text for h in hits)
    assert index.dense().retrieve("honey", 1)[0].doc_id == "b"
    return seen


def finish_and_check_clean(path, embedder, seen) -> None:
    index = Index.open(path, embedder)
    if seen == DOCS:
        index.delete(GONE)
    else:
        index.update([], delete_missing=False)  # a no-op update finishes an interrupted cleanup
    final = Index.open(path, embedder)
    assert {c.doc_id for c in final.chunks} == set(AFTER)
    assert sorted(final.store.ids()) == sorted(k for e in final.manifest.docs.values() for k in e.keys)  # type: ignore[attr-defined]
    assert [p.name for p in path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []
    assert len([p for p in path.iterdir() if p.name.startswith("gen-")]) == 1


@pytest.mark.parametrize("stage", ["plan", "write", "commit", "cleanup"])
@pytest.mark.parametrize("store", ["chroma", "memory"])
def test_interrupted_delete_in_process(stage, store, embedder, tmp_path):
    path = tmp_path / "idx"
    Index.build(path, [Document(i, t) for i, t in DOCS.items()], embedder=embedder, vector_store=store)
    with pytest.raises(Crash):
        Index.open(path, embedder).delete(GONE, on_stage=crash_at(stage))
    seen = check_consistent(path, embedder)
    assert seen == (DOCS if stage in ("plan", "write") else AFTER)
    finish_and_check_clean(path, embedder, seen)


@pytest.mark.integration
@pytest.mark.parametrize("stage", ["write", "commit"])
def test_sigkill_mid_delete(stage, embedder, tmp_path):
    """SIGKILL with the new generation renamed into place but uncommitted (``write``), or committed with the
    stale vectors and the old generation not yet removed (``commit``): old or new state, never a mix."""
    path = tmp_path / "idx"
    Index.build(path, [Document(i, t) for i, t in DOCS.items()], embedder=embedder)
    kill_at_stage(CHILD, tmp_path, stage, [str(path), stage, *GONE])
    seen = check_consistent(path, embedder)
    assert seen == (DOCS if stage == "write" else AFTER)
    finish_and_check_clean(path, embedder, seen)
