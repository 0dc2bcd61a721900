"""An index killed mid-build stays usable: it opens with the old content or the new, never a mix or error."""

from __future__ import annotations

import json
import textwrap

import pytest
from index_crashes import Crash, crash_at, kill_at_stage

from ragloom.core.types import Document
from ragloom.retrieval.index import Index

pytestmark = pytest.mark.slow

OLD = {
    "a": "Apples grow on trees in orchards.",
    "b": "Bees make honey from nectar.",
    "c": "Cod swim in cold seas.",
}
NEW = {"a": "Avocados ripen after they are picked.", "b": OLD["b"], "d": "Dolphins are marine mammals."}

CHILD = textwrap.dedent(
    """
    import json, sys
    from ragloom.core.types import Document
    from ragloom.retrieval.index import Index

    path, block_at, docs_file = sys.argv[1:4]
    docs = [Document(i, t) for i, t in json.load(open(docs_file)).items()]

    def on_stage(name, info):
        if name == block_at:
            print("STAGE", name, flush=True)
            sys.stdin.readline()  # hold here until the parent kills us

    Index.open(path).update(docs, on_stage=on_stage)
    print("DONE", flush=True)
    """
)


def content(index: Index) -> dict[str, str]:
    return {c.doc_id: c.text for c in index.chunks}


def check_consistent(path, embedder) -> dict[str, str]:
    """Open the index and check every part agrees: chunk store, BM25, dense; returns its content."""
    index = Index.open(path, embedder)
    seen = content(index)
    assert seen in (OLD, NEW)
    for mode in ("bm25", "dense", "hybrid"):
        for hit in index.retriever(mode).retrieve("apples avocados bees cod dolphins", 5):
            assert seen[hit.doc_id] == hit.text, mode
    assert index.dense().retrieve("honey", 1)[0].doc_id == "b"
    return seen


def finish_and_check_clean(path, embedder) -> None:
    index = Index.open(path, embedder)
    index.update([Document(i, t) for i, t in NEW.items()])
    assert content(Index.open(path, embedder)) == NEW
    assert sorted(index.store.ids()) == sorted(k for e in index.manifest.docs.values() for k in e.keys)
    leftovers = [p.name for p in path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []
    assert len([p for p in path.iterdir() if p.name.startswith("gen-")]) == 1


@pytest.mark.parametrize("stage", ["embed", "write", "commit", "cleanup"])
@pytest.mark.parametrize("store", ["chroma", "memory"])
def test_interrupted_update_in_process(stage, store, embedder, tmp_path):
    path = tmp_path / "idx"
    Index.build(path, [Document(i, t) for i, t in OLD.items()], embedder=embedder, vector_store=store)
    with pytest.raises(Crash):
        Index.open(path, embedder).update([Document(i, t) for i, t in NEW.items()], on_stage=crash_at(stage))
    expected = OLD if stage in ("embed", "write") else NEW
    assert check_consistent(path, embedder) == expected
    finish_and_check_clean(path, embedder)


@pytest.mark.integration
def test_sigkill_during_indexing(embedder, tmp_path):
    """SIGKILL after the new vectors went into chroma and the new generation folder was renamed into place,
    just before the manifest commit: the most the old index can be disturbed."""
    stage = "write"
    path = tmp_path / "idx"
    Index.build(path, [Document(i, t) for i, t in OLD.items()], embedder=embedder)
    docs_file = tmp_path / "new.json"
    docs_file.write_text(json.dumps(NEW), encoding="utf-8")
    kill_at_stage(CHILD, tmp_path, stage, [str(path), stage, str(docs_file)])
    assert check_consistent(path, embedder) == OLD
    finish_and_check_clean(path, embedder)
