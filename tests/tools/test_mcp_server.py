"""`ragloom mcp` driven by the official MCP SDK client: an index's search and a flow as tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from ragloom.core.types import Document
from ragloom.retrieval.index import Index

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS = [
    Document(
        "bm25.txt",
        "BM25 ranks documents by term frequency and inverse document frequency.",
        {"source": "bm25.txt"},
    ),
    Document(
        "rrf.txt", "Reciprocal rank fusion merges rankings by summing 1 / (k + rank).", {"source": "rrf.txt"}
    ),
    Document(
        "late.txt",
        "Late chunking embeds the whole document, then pools token vectors per chunk.",
        {"source": "late.txt"},
    ),
]

FLOW = """
name: echo
state:
  question: str
  answer: {type: str, default: ''}
nodes:
  say:
    uses: flows.template
    with: {template: 'you asked: {question}', output_key: answer}
edges:
  - {from: START, to: say}
  - {from: say, to: END}
"""


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mcp-index") / "idx"
    Index.build(path, DOCS, chunker="sentence")
    return path


def _ragloom(*args: str) -> StdioServerParameters:
    code = "from ragloom.cli import main; main()"
    return StdioServerParameters(command=sys.executable, args=["-c", code, "mcp", *args])


async def _session_calls(params: StdioServerParameters, calls: list[tuple[str, dict]]) -> tuple[list, list]:
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = (await session.list_tools()).tools
        results = [await session.call_tool(name, args) for name, args in calls]
        return tools, results


def test_sdk_client_searches_the_index_and_runs_a_flow(index_dir: Path, tmp_path: Path) -> None:
    flow = tmp_path / "echo.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    calls = [
        ("search", {"query": "how does reciprocal rank fusion work", "k": 2}),
        ("echo", {"question": "what is BM25?"}),
        ("search", {"query": "x", "k": 0}),  # a client mistake: an error result, not a dead server
        ("search", {"query": "token vectors pooled per chunk", "k": 1}),
    ]
    tools, results = anyio.run(
        _session_calls, _ragloom("--index", str(index_dir), "--flow", str(flow)), calls
    )
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"search", "echo"}
    assert set(by_name["search"].input_schema["properties"]) == {"query", "k", "where"}
    hits = json.loads(results[0].content[0].text)
    assert len(hits) == 2 and hits[0]["doc_id"] == "rrf.txt" and hits[0]["source"] == "rrf.txt"
    assert json.loads(results[1].content[0].text) == {"answer": "you asked: what is BM25?"}
    assert results[2].is_error and "k must be between 1 and 100" in results[2].content[0].text
    assert json.loads(results[3].content[0].text)[0]["doc_id"] == "late.txt"  # still serving after the error


def test_mcp_without_index_or_flow_is_refused() -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", "from ragloom.cli import main; main()", "mcp"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "give an index" in proc.stderr
