"""OpenAICompatibleEmbedder against a loopback /v1/embeddings server that embeds with the real MiniLM, and
as the dense embedder of a real index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ragloom.core.errors import ConfigError, LLMHTTPError
from ragloom.core.types import Document
from ragloom.retrieval.index import Index
from ragloom.retrieval.remote_embedder import OpenAICompatibleEmbedder
from ragloom.serve import ServerThread

pytestmark = pytest.mark.slow


class MiniLMEmbeddingsServer:
    """A TEI-like embeddings server over the real MiniLM (un-normalised rows, shuffled `index` order)."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.requests: list[dict] = []
        self.app = Starlette(routes=[Route("/v1/embeddings", self.embed, methods=["POST"])])

    async def embed(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if body["model"] == "missing":
            return JSONResponse({"error": {"message": "model not found"}}, status_code=404)
        texts = body["input"]
        vectors = self.embedder.embed(texts) * 3.0  # servers differ on normalising: the client must
        data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)]
        return JSONResponse({"object": "list", "data": data[::-1], "model": body["model"]})


@pytest.fixture(scope="module")
def server(embedder):
    app = MiniLMEmbeddingsServer(embedder)
    with ServerThread(app.app) as thread:
        thread.app = app
        yield thread


def test_remote_vectors_match_the_local_model(server, embedder) -> None:
    remote = OpenAICompatibleEmbedder("minilm", server.url + "/v1", batch_size=2)
    texts = ["late chunking", "reciprocal rank fusion", "bm25 ranking"]
    got = remote.embed(texts)
    assert got.shape == (3, 384) and remote.dim == 384
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert np.allclose(got, embedder.embed(texts), atol=1e-5)
    assert [len(r["input"]) for r in server.app.requests[-2:]] == [2, 1]  # batched
    assert remote.embed([]).shape == (0, 384)


def test_index_with_a_remote_embedder(server, tmp_path: Path) -> None:
    remote = OpenAICompatibleEmbedder("minilm", server.url + "/v1")
    docs = [
        Document("a", "The cat sat on the mat."),
        Document("b", "Stock markets fell sharply on Monday."),
    ]
    index = Index.build(tmp_path / "idx", docs, embedder=remote, chunker="sentence")
    assert index.dense().retrieve("feline on a rug", 1)[0].doc_id == "a"


def test_errors_are_clear(server) -> None:
    with pytest.raises(LLMHTTPError, match="404"):
        OpenAICompatibleEmbedder("missing", server.url + "/v1", max_retries=0).embed(["x"])
    with pytest.raises(ConfigError, match="late chunking"):
        OpenAICompatibleEmbedder("minilm", server.url + "/v1").embed_tokens("x")
