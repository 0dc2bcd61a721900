"""Interop defects found with real clients: langchain-openai streamed usage, LCEL retrievers, async-only
langchain tools, tool-call usage estimates, structured output against servers that reject json_schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ragloom.core.types import Chunk, Hit, Message, Usage
from ragloom.core.usage import UsageMeter
from ragloom.llm.langchain import LangChainLLM, as_langchain, as_langchain_retriever
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.llm.structured import complete_structured
from ragloom.serve import ServerThread
from ragloom.tools.langchain import from_langchain


def test_langchain_llm_stream_records_the_servers_streamed_usage(fault_server) -> None:
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        model="m", base_url=fault_server.base_url, api_key="k", stream_usage=True, max_retries=0
    )
    with UsageMeter().measure() as meter:
        text = "".join(LangChainLLM(chat).stream("one two three"))
    assert text == "echo: one two three"
    # the server's usage chunk: 5 prompt tokens, one completion token per word (4 words)
    assert (meter.total.prompt_tokens, meter.total.completion_tokens) == (5, 4)


def test_as_langchain_stream_carries_usage_metadata(fault_server) -> None:
    chat = as_langchain(OpenAICompatibleLLM("m", fault_server.base_url, max_retries=0))
    chunks = list(chat.stream("hello there"))
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total.content == "echo: hello there"
    assert total.usage_metadata["input_tokens"] == 5 and total.usage_metadata["output_tokens"] == 3


class _ListRetriever:
    """The collaborator: a fixed ranking (the adapter, not retrieval, is under test)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, Any]]] = []

    def retrieve(self, query: str, k: int = 10, **options: Any) -> list[Hit]:
        self.calls.append((query, k, options))
        chunks = [
            Chunk("BM25 is lexical.", "a.txt", 0, 16, {"source": "a.txt", "page": 3}),
            Chunk("RRF fuses.", "b.txt", 0, 10),
        ]
        return [Hit(c, 1.0 / (i + 1)) for i, c in enumerate(chunks)][:k]


def test_langchain_retriever_adapter_pipes_into_lcel() -> None:
    from langchain_core.runnables import RunnableLambda

    inner = _ListRetriever()
    retriever = as_langchain_retriever(inner, k=2, where={"source": "a.txt"})
    chain = retriever | RunnableLambda(lambda docs: " | ".join(d.page_content for d in docs))
    assert chain.invoke("what is bm25") == "BM25 is lexical. | RRF fuses."
    docs = retriever.invoke("x")
    assert docs[0].metadata["source"] == "a.txt" and docs[0].metadata["page"] == 3
    assert docs[0].metadata["id"] == "a.txt#0-16" and docs[0].metadata["score"] == 1.0
    assert inner.calls[0] == ("what is bm25", 2, {"where": {"source": "a.txt"}})


def test_async_only_langchain_tools_work_as_ragloom_tools() -> None:
    async def lookup(term: str) -> str:
        await asyncio.sleep(0)
        return term.upper()

    lc_tool = StructuredTool.from_function(coroutine=lookup, name="lookup", description="Look a term up.")
    tool = from_langchain(lc_tool)
    assert tool.invoke({"term": "bm25"}) == "BM25"
    assert asyncio.run(tool.ainvoke({"term": "rrf"})) == "RRF"
    assert tool.observe({"term": "x"}) == (True, "X")


def test_tool_calls_without_server_usage_get_an_estimate(fault_server) -> None:
    fault_server.script({"tool_arguments": '{"a": 17, "b": 25}', "text": "", "no_usage": True})
    llm = OpenAICompatibleLLM("m", fault_server.base_url, max_retries=0)
    completion = llm.complete([Message("user", "add 17 and 25")])
    assert completion.tool_calls and completion.usage.completion_tokens > 0


class FakeLlamaCppPythonServer:
    """The collaborator: answers like llama-cpp-python's server, which fails json_schema with a 500."""

    def __init__(self) -> None:
        self.formats: list[Any] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        fmt = body.get("response_format")
        self.formats.append(fmt)
        if fmt and fmt.get("type") == "json_schema":
            return JSONResponse({"error": {"message": "Internal Server Error"}}, status_code=500)
        message = {"role": "assistant", "content": json.dumps({"city": "Paris", "population": 2100000})}
        return JSONResponse(
            {
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 9},
            }
        )


class City(BaseModel):
    city: str
    population: int


def test_structured_output_falls_back_to_json_object_when_json_schema_is_rejected() -> None:
    server = FakeLlamaCppPythonServer()
    with ServerThread(server.app) as thread:
        llm = OpenAICompatibleLLM("m", thread.url + "/v1", max_retries=0)
        city = complete_structured(llm, "Largest city of France?", City)
    assert city == City(city="Paris", population=2100000)
    assert [f and f["type"] for f in server.formats] == ["json_schema", "json_object"]


def test_usage_listeners_get_call_timing() -> None:
    from ragloom.core.usage import report_usage, reported_call_timing, usage_sink

    seen: list[tuple[float, float | None]] = []
    with usage_sink(lambda usage, model: seen.append(reported_call_timing())):
        report_usage(Usage(1, 1, 0.0, 1), "m", seconds=0.25)
    assert seen[0][1] == 0.25 and seen[0][0] > 0
