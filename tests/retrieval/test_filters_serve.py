"""``ragloom serve`` takes a per-request ``where``: in a chat request body and in a run's state; a malformed
filter is answered 400 naming field and operator, before the flow runs (a real server on loopback, httpx)."""

from __future__ import annotations

import httpx
import pytest

from ragloom.core.types import Document
from ragloom.flows import Flow
from ragloom.retrieval.index import Index
from ragloom.serve import serving

pytestmark = pytest.mark.slow

TEXTS = {
    "r/intro.pdf": "R vectors and arrays: the basic data structures of the R language.",
    "r/io.pdf": "read.fwf reads fixed-width formatted files into an R data frame.",
    "sql/select.html": "SQLite SELECT statements join rows of two tables; R users call it via DBI.",
    "sql/wal.html": "Write-ahead logging in SQLite: the WAL journal mode and checkpoints.",
}

FLOW = """\
name: scoped-search
state:
  question: str
  hits: {{type: "list[Hit]", default: []}}
  where: {{type: "dict[str, Any] | None", default: null}}
  answer: {{type: str, default: ""}}
nodes:
  find: {{uses: retrieval.index, with: {{path: "{index}", k: 2, mode: bm25}}}}
edges:
  - {{from: START, to: find}}
  - {{from: find, to: END}}
"""


@pytest.fixture
def compiled(embedder, tmp_path):
    docs = [Document(i, t, {"source": i}) for i, t in TEXTS.items()]
    Index.build(tmp_path / "idx", docs, embedder=embedder, vector_store="memory")
    return Flow.from_yaml(FLOW.format(index=tmp_path / "idx")).compile()


def doc_ids(state: dict) -> set[str]:
    return {h["chunk"]["doc_id"] for h in state["hits"]}


def test_where_in_chat_and_runs_requests(compiled):
    question = "R data structures SQLite"
    with serving(compiled) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        chat = {"messages": [{"role": "user", "content": question}]}
        free = client.post("/v1/chat/completions", json=chat).json()["ragloom"]["state"]
        assert doc_ids(free) & {"r/intro.pdf", "r/io.pdf"}

        scoped = {**chat, "where": {"source": {"$glob": "sql/*"}}}
        answer = client.post("/v1/chat/completions", json=scoped)
        assert answer.status_code == 200, answer.text
        assert doc_ids(answer.json()["ragloom"]["state"]) == {"sql/select.html", "sql/wal.html"}

        run = client.post("/runs", json={"question": question, "where": {"source": {"$prefix": "r"}}})
        assert run.status_code == 200, run.text
        assert doc_ids(run.json()["state"]) == {"r/intro.pdf", "r/io.pdf"}

        for path, body in (("/v1/chat/completions", chat), ("/runs", {"question": question})):
            bad = client.post(path, json={**body, "where": {"page": {"$gte": "two"}}})
            assert bad.status_code == 400, bad.text
            message = bad.json()["error"]["message"]
            assert "'page'" in message and "'$gte'" in message
