"""Client mode against a REAL chroma server (`chroma run`) started on 127.0.0.1 by the test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_vector_stores import check_store_contract, random_vectors

from ragloom.core.errors import ConfigError
from ragloom.retrieval.chroma_store import ChromaVectorStore

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_executable() -> str:
    local = Path(sys.executable).with_name("chroma")
    found = str(local) if local.exists() else shutil.which("chroma")
    if found is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not installed")
    return found


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    proc = subprocess.Popen(
        [chroma_executable(), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # poll the heartbeat until the server answers (bounded; not a timing assertion)
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("chroma server did not answer its heartbeat within 60 s")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_client_mode_store_contract(chroma_server):
    check_store_contract(ChromaVectorStore.connect("127.0.0.1", chroma_server, collection="contract"))


def test_client_mode_sees_data_across_connections(chroma_server):
    first = ChromaVectorStore.connect("127.0.0.1", chroma_server, collection="shared")
    vectors = random_vectors(5, seed=3)
    first.add([f"s{i}" for i in range(5)], vectors, [{"n": i} for i in range(5)])
    second = ChromaVectorStore.connect("127.0.0.1", chroma_server, collection="shared")
    assert len(second) == 5
    assert second.query(vectors[2], 1)[0][0] == "s2"


def test_index_on_a_chroma_server(chroma_server, tiny_docs, embedder, tmp_path):
    from ragloom.retrieval.index import Index

    url = f"http://127.0.0.1:{chroma_server}"
    index = Index.build(tmp_path / "idx", tiny_docs, embedder=embedder, vector_store=url)
    assert len(index.store) == len(tiny_docs)
    reopened = Index.open(tmp_path / "idx", embedder)
    assert reopened.dense().retrieve("capital of France", 1)[0].doc_id == "paris"


def test_no_server_is_a_clear_error():
    with pytest.raises(ConfigError, match="no chroma server answers"):
        ChromaVectorStore.connect("127.0.0.1", free_port())
