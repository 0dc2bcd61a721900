"""Opening a data file never runs code: a crafted pickle (``__reduce__`` -> ``os.system("touch MARKER")``) is
put in every kind of file ragloom reads; loading must not create the marker and must fail clearly (or, for a
cache, treat the entry as a miss).
"""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from pydantic import BaseModel

from ragloom.core.errors import ConfigError, IndexError_
from ragloom.core.types import Chunk, Completion, Hit, Message, Usage
from ragloom.flows import END, START, Flow
from ragloom.flows.sqlite_checkpoint import SQLiteCheckpointer
from ragloom.flows.step_log import decode_rows, encode_row


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


def _evil_object_array(marker: Path) -> np.ndarray:
    arr = np.empty(1, dtype=object)
    arr[0] = Payload(marker)
    return arr


# -- checkpoints ------------------------------------------------------------------------------------------
class Doc(BaseModel):
    title: str
    tags: tuple[str, ...] = ()


class RichState(BaseModel):
    question: str = ""
    hits: list[Hit] = []
    messages: list[Message] = []
    usage: Usage = Usage()
    doc: Doc | None = None
    blob: bytes = b""
    pairs: dict[int, tuple[str, float]] = {}


def _rich_flow() -> Flow:
    def fill(state: RichState) -> dict[str, Any]:
        chunk = Chunk("Paris is in France.", "d1", 0, 19, {"page": 3})
        return {
            "hits": [Hit(chunk, 0.5, "bm25")],
            "messages": [Message("user", state.question), Message("assistant", "Paris")],
            "usage": Usage(10, 2, 0.0, 1),
            "doc": Doc(title="geo", tags=("a", "b")),
            "blob": b"\x00\x80\xff",
            "pairs": {1: ("x", 0.25)},
        }

    flow = Flow(RichState, name="rich")
    flow.add_node("fill", fill)
    flow.add_node("after", lambda s: {})
    flow.add_edge(START, "fill")
    flow.add_edge("fill", "after")
    flow.add_edge("after", END)
    return flow


def _stored_payloads(db: Path) -> list[bytes]:
    """Every checkpoint payload committed to a SQLite checkpoint file (segments of step-log records)."""
    with sqlite3.connect(db) as conn:
        blobs = conn.execute("SELECT rows FROM segments").fetchall()
    return [row[4] for (blob,) in blobs for row in decode_rows(blob)]


def _tamper(db: Path, payload: bytes) -> None:
    """What an attacker who can write the file does: every stored checkpoint payload replaced."""
    with sqlite3.connect(db) as conn:
        for run_id, seq, blob in conn.execute("SELECT run_id, seq, rows FROM segments").fetchall():
            rows = b"".join(encode_row((*row[:4], payload)) for row in decode_rows(blob))
            conn.execute("UPDATE segments SET rows = ? WHERE run_id = ? AND seq = ?", (rows, run_id, seq))


def test_checkpoint_round_trips_ragloom_types_as_json(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SQLiteCheckpointer(path)
    compiled = _rich_flow().compile(checkpointer=store, interrupt_before=["after"])
    compiled.invoke({"question": "capital?"}, run_id="r1")
    store.commit()
    reopened = _rich_flow().compile(checkpointer=SQLiteCheckpointer(path), interrupt_before=["after"])
    state = reopened.get_state("r1")
    assert state.hits == [Hit(Chunk("Paris is in France.", "d1", 0, 19, {"page": 3}), 0.5, "bm25")]
    assert state.messages[1] == Message("assistant", "Paris") and state.usage == Usage(10, 2, 0.0, 1)
    assert state.doc == Doc(title="geo", tags=("a", "b")) and state.blob == b"\x00\x80\xff"
    assert state.pairs == {1: ("x", 0.25)}
    payload = _stored_payloads(path)[0]
    assert payload.startswith(b"RLJ1") and b"\x80" not in payload[:2]  # JSON, not a pickle
    assert reopened.resume("r1").status == "done"


def test_pickled_checkpoint_row_is_refused_not_run(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SQLiteCheckpointer(path)
    _rich_flow().compile(checkpointer=store, interrupt_before=["after"]).invoke(
        {"question": "q"}, run_id="r1"
    )
    store.commit()
    _tamper(path, pickle.dumps(Payload(marker)))  # the attacker replaces the checkpoints with a pickle
    with sqlite3.connect(path) as db:  # and adds one in the per-step table of files written before segments
        db.execute(
            "INSERT INTO checkpoints VALUES ('r2', 1, 'running', 'f', ?)", (pickle.dumps(Payload(marker)),)
        )
    again = _rich_flow().compile(checkpointer=SQLiteCheckpointer(path), interrupt_before=["after"])
    for run_id in ("r1", "r2"):
        with pytest.raises(ConfigError, match=r"is pickled.*serde='pickle'"):
            again.resume(run_id)
    assert not marker.exists()


def test_checkpoint_naming_an_undeclared_class_is_refused(tmp_path: Path, marker: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SQLiteCheckpointer(path)
    _rich_flow().compile(checkpointer=store, interrupt_before=["after"]).invoke({}, run_id="r")
    store.commit()
    evil = {"__rl__": "obj", "type": "subprocess:Popen", "fields": {"args": ["touch", str(marker)]}}
    doc = [{"question": evil}, {"__rl__": "tuple", "items": ["after"]}, {}, []]
    _tamper(path, b"RLJ1" + json.dumps(doc).encode())
    with pytest.raises(ConfigError, match="not a declared state type"):
        SQLiteCheckpointer(path).latest("r")
    assert not marker.exists()


def test_pickle_is_an_explicit_opt_in_with_a_warning(tmp_path: Path) -> None:
    with pytest.warns(RuntimeWarning, match="opening a tampered file runs code"):
        cp = SQLiteCheckpointer(tmp_path / "p.sqlite", serde="pickle")
    compiled = _rich_flow().compile(checkpointer=cp, interrupt_before=["after"])
    compiled.invoke({"question": "q"}, run_id="p")
    assert compiled.get_state("p").usage == Usage(10, 2, 0.0, 1)


# -- indexes ----------------------------------------------------------------------------------------------
def _graph_folder(folder: Path, names: np.ndarray) -> Path:
    from ragloom.retrieval.graph.graph_index import _FORMAT
    from ragloom.retrieval.graph.records import GraphSettings

    folder.mkdir()
    meta = {"format": _FORMAT, "settings": GraphSettings().to_dict(), "docs": {}, "doc_chunks": {}}
    (folder / "settings.json").write_text(json.dumps(meta))
    (folder / "records.jsonl").write_text("")
    np.savez(folder / "entities.npz", names=names, vectors=np.zeros((len(names), 4), dtype=np.float32))
    (folder / "synonyms.json").write_text("{}")
    (folder / "graph.json").write_text(json.dumps(nx.node_link_data(nx.Graph(), edges="links")))
    return folder


def test_graph_index_entities_npz_with_a_pickle_is_refused(tmp_path: Path, marker: Path) -> None:
    from ragloom.retrieval.graph.graph_index import GraphIndex

    good = GraphIndex.load(_graph_folder(tmp_path / "good", np.array(["paris", "france"], dtype=str)))
    assert good.entity_names == ["paris", "france"]
    folder = _graph_folder(tmp_path / "evil", _evil_object_array(marker))
    with pytest.raises(IndexError_, match=r"entities\.npz.*rebuild"):
        GraphIndex.load(folder)
    assert not marker.exists()


def test_bm25_index_with_a_pickled_array_is_refused(tmp_path: Path, marker: Path) -> None:
    from ragloom.retrieval.bm25 import BM25Retriever

    chunks = [Chunk(t, f"d{i}", 0, len(t)) for i, t in enumerate(["paris is in france", "rome is in italy"])]
    folder = BM25Retriever(chunks).save(tmp_path / "bm25")
    assert BM25Retriever.load(folder).retrieve("rome", 1)[0].doc_id == "d1"
    for npy in (folder / "bm25s").glob("*.npy"):
        np.save(npy, _evil_object_array(marker), allow_pickle=True)
    with pytest.raises(IndexError_, match="unreadable"):
        BM25Retriever.load(folder)
    assert not marker.exists()


def test_vector_store_with_a_pickled_array_is_refused(tmp_path: Path, marker: Path) -> None:
    from ragloom.retrieval.memory_store import InMemoryVectorStore

    path = tmp_path / "vectors.npz"
    np.savez(path, matrix=_evil_object_array(marker), ids=np.array(["a"]), metadata=np.array("[{}]"))
    with pytest.raises(IndexError_, match="unreadable"):
        InMemoryVectorStore.load(path)
    assert not marker.exists()


@pytest.mark.slow
def test_chroma_hnsw_metadata_pickle_is_not_run(tmp_path: Path, marker: Path) -> None:
    """chromadb keeps ``index_metadata.pickle`` beside its HNSW files; its (Rust) reader refuses globals."""
    import chromadb

    client = chromadb.PersistentClient(str(tmp_path / "chroma"))
    collection = client.get_or_create_collection("evil-test")
    rng = np.random.default_rng(0)
    collection.add(ids=[str(i) for i in range(1200)], embeddings=rng.random((1200, 4)).tolist())
    del collection, client
    written = list((tmp_path / "chroma").glob("*/index_metadata.pickle"))
    assert written, "chromadb no longer writes index_metadata.pickle: update this test"
    for path in written:
        path.write_bytes(pickle.dumps(Payload(marker)))
    reader = (  # a fresh process: this one's client keeps the segment in memory
        "import chromadb\n"
        f"c = chromadb.PersistentClient({str(tmp_path / 'chroma')!r}).get_collection('evil-test')\n"
        "try:\n    c.query(query_embeddings=[[0.1, 0.2, 0.3, 0.4]], n_results=2); print('read')\n"
        "except Exception as e:\n    print('refused', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=120)
    assert "refused" in done.stdout and "pickle" in done.stdout, done.stdout + done.stderr
    assert not marker.exists()


# -- caches -----------------------------------------------------------------------------------------------
def test_eval_late_chunk_cache_with_a_pickle_is_a_miss(tmp_path: Path, marker: Path) -> None:
    from ragloom.eval.build import _load_npy

    path = tmp_path / "entry.npy"
    np.save(path, _evil_object_array(marker), allow_pickle=True)
    assert _load_npy(path) is None
    assert not marker.exists()


class FakeLLM:
    """The collaborator of the cache under test: answers every prompt with "fresh"."""

    model = "fake"

    def complete(self, messages: Any, **options: Any) -> Completion:
        return Completion("fresh", Usage(1, 1, 0.0, 1))


def test_llm_cache_entry_with_a_pickle_is_a_miss(tmp_path: Path, marker: Path) -> None:
    from ragloom.llm.cache import CachedLLM

    cached = CachedLLM(FakeLLM(), tmp_path / "llm.sqlite")  # type: ignore[arg-type]
    assert cached.complete([Message("user", "hi")]).text == "fresh"
    with sqlite3.connect(tmp_path / "llm.sqlite") as db:
        db.execute("UPDATE responses SET completion = ?", (pickle.dumps(Payload(marker)),))
    with pytest.warns(UserWarning, match="unreadable cache entry"):
        assert cached.complete([Message("user", "hi")]).text == "fresh"
    assert not marker.exists()


@pytest.mark.slow
def test_embedding_cache_blob_with_a_pickle_is_never_unpickled(tmp_path: Path, marker: Path) -> None:
    from ragloom.retrieval.embedders import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(cache_dir=tmp_path)
    first = embedder.embed(["hello world"])
    with sqlite3.connect(tmp_path / "embeddings.sqlite") as db:
        db.execute("UPDATE vectors SET vec = ?", (pickle.dumps(Payload(marker)),))
    again = SentenceTransformerEmbedder(cache_dir=tmp_path).embed(["hello world"])
    assert np.allclose(first, again, atol=1e-5)  # the raw float32 blob had the wrong size: recomputed
    assert not marker.exists()


def test_the_cli_refuses_an_old_pickled_checkpoint_and_says_how_to_opt_in(
    tmp_path: Path, marker: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    flow = Path(__file__).resolve().parents[1] / "examples" / "flows" / "loop_counter.yaml"
    db = tmp_path / "runs.sqlite"
    cli = CliRunner()
    monkeypatch.setenv("RAGLOOM_CHECKPOINT_SERDE", "pickle")  # an old file: pickled rows
    with pytest.warns(RuntimeWarning, match="pickled"):
        assert cli.invoke(app, ["run", str(flow), "--checkpoint", str(db)]).exit_code == 0
    run_id = sqlite3.connect(db).execute("SELECT run_id FROM segments").fetchone()[0]
    _tamper(db, pickle.dumps(Payload(marker)))
    monkeypatch.delenv("RAGLOOM_CHECKPOINT_SERDE")
    result = cli.invoke(app, ["run", str(flow), "--checkpoint", str(db), "--resume", run_id])
    assert result.exit_code != 0 and "is pickled" in result.output
    assert "RAGLOOM_CHECKPOINT_SERDE=pickle" in result.output
    assert not marker.exists()
