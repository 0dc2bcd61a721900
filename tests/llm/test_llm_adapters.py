"""CachedLLM, the langchain-core adapters and the llm.* flow components, over real loopback HTTP."""

from __future__ import annotations

import asyncio

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from ragloom.core.registry import create
from ragloom.core.types import Chunk, Hit, Message
from ragloom.core.usage import UsageMeter
from ragloom.flows import END, START, Flow
from ragloom.llm.cache import CachedLLM
from ragloom.llm.langchain import LangChainLLM, as_langchain
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.llm.pricing import set_price


def remote(server) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM("adapter-model", server.base_url, max_retries=0)


def test_cached_llm_answers_repeats_from_sqlite(fault_server, tmp_path) -> None:
    path = tmp_path / "cache.sqlite"
    cached = CachedLLM(remote(fault_server), path)
    first = cached.complete("What is 2+2?", max_tokens=5)
    with UsageMeter().measure() as meter:
        again = cached.complete([Message("user", "What is 2+2?")], max_tokens=5)
    assert again == first and meter.total.calls == 0 and (cached.hits, cached.misses) == (1, 1)
    cached.complete("What is 2+2?", max_tokens=6)  # other options: a miss
    assert len(fault_server.requests) == 2
    assert "".join(cached.stream("stream me")) == "echo: stream me" == "".join(cached.stream("stream me"))
    assert len(fault_server.requests) == 3
    cached.close()
    reopened = CachedLLM(remote(fault_server), path)
    assert reopened.complete("What is 2+2?", max_tokens=5) == first and len(fault_server.requests) == 3
    assert asyncio.run(reopened.acomplete("What is 2+2?", max_tokens=5)) == first


def test_our_llm_as_a_langchain_chat_model(fault_server) -> None:
    chat = as_langchain(remote(fault_server))
    ai = chat.invoke([HumanMessage("hello")])
    assert isinstance(ai, AIMessage) and ai.content == "echo: hello"
    assert ai.usage_metadata is not None and ai.usage_metadata["input_tokens"] == 11
    fault_server.script({"text": "a b c"})
    assert "".join(str(c.content) for c in chat.stream("hi")) == "a b c"
    assert asyncio.run(chat.ainvoke("async hi")).content == "echo: async hi"

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    fault_server.script({"tool_arguments": '{"a": 2, "b": 3}', "tool": "add", "text": ""})
    ai = chat.bind_tools([add]).invoke("what is 2+3?")
    assert ai.tool_calls[0]["name"] == "add" and ai.tool_calls[0]["args"] == {"a": 2, "b": 3}
    assert fault_server.requests[-1]["tools"][0]["function"]["name"] == "add"


def test_a_langchain_chat_model_as_our_llm(fault_server) -> None:
    llm = LangChainLLM(as_langchain(remote(fault_server)), model="lc-model")
    with UsageMeter().measure() as meter:
        c = llm.complete([Message("system", "be brief"), Message("user", "hi")])
    assert c.text == "echo: hi" and (c.usage.prompt_tokens, c.usage.completion_tokens) == (11, 7)
    assert meter.by_model["lc-model"].calls >= 1
    assert fault_server.requests[0]["messages"][0] == {"role": "system", "content": "be brief"}
    assert "".join(llm.stream("x y")) == "echo: x y"


def _qa_flow(params: dict) -> object:
    from pydantic import BaseModel

    class State(BaseModel):
        question: str
        context: list[Hit] = []
        answer: str = ""
        citations: list[str] = []
        query: str = ""

    flow = Flow(State, name="qa")
    flow.add_node("rewrite", create("llm.rewrite_query"))
    flow.add_node("generate", create("llm.generate", params))
    flow.add_edge(START, "rewrite")
    flow.add_edge("rewrite", "generate")
    flow.add_edge("generate", END)
    return flow.compile()


def test_generate_cites_passages_and_charges_the_step(fault_server) -> None:
    set_price("adapter-model", 1.0, 1.0)
    texts = ["Berlin is in Germany.", "Paris is the capital of France."]
    hits = [Hit(Chunk(t, f"d{i}", 0, len(t)), 1.0) for i, t in enumerate(texts)]
    fault_server.script(
        {"text": "capital France"}, {"text": "Paris [2]."}, {"text": "x"}, {"text": "It is Paris."}
    )
    compiled = _qa_flow({"max_tokens": 16})
    ctx = {"llm": remote(fault_server)}
    result = compiled.invoke({"question": "What is the capital of France?", "context": hits}, context=ctx)
    assert result.state.query == "capital France"
    assert result.state.answer == "Paris [2]." and result.state.citations == [hits[1].id]
    prompt = fault_server.requests[1]["messages"][-1]["content"]
    assert (
        "[1] Berlin is in Germany." in prompt
        and "[2] Paris" in prompt
        and fault_server.requests[1]["max_tokens"] == 16
    )
    assert [r.usage.prompt_tokens for r in result.trace] == [11, 11]
    assert result.trace.usage.cost_usd == 2 * 18 / 1e6
    fallback = compiled.invoke({"question": "Capital of France?", "context": hits}, context=ctx)
    assert fallback.state.answer == "It is Paris. [2]" and fallback.state.citations == [hits[1].id]


def test_rewrite_query_expand_mode_and_bad_mode(fault_server) -> None:
    import pytest

    from ragloom.core.errors import ConfigError
    from ragloom.flows import RunContext

    fault_server.script({"text": "Paris is the capital."})
    expand = create("llm.rewrite_query", {"mode": "expand"})
    update = expand({"question": "capital of France?"}, RunContext(resources={"llm": remote(fault_server)}))
    assert update == {"query": "capital of France? Paris is the capital."}
    assert fault_server.requests[0]["stop"] == ["\n"]
    with pytest.raises(ConfigError, match="mode must be"):
        create("llm.rewrite_query", {"mode": "hyde"})


def test_structured_output_repairs_once_then_fails_clearly(fault_server) -> None:
    import pytest
    from pydantic import BaseModel, Field

    from ragloom.core.errors import StructuredOutputError
    from ragloom.llm.structured import complete_structured

    class Answer(BaseModel):
        city: str
        confidence: float = Field(ge=0, le=1)

    fault_server.script(
        {"text": '{"city": "Paris", "confidence": 7}'},
        {"text": '```json\n{"city": "Paris", "confidence": 0.9}\n```'},
    )
    answer = complete_structured(remote(fault_server), "Capital of France?", Answer)
    assert answer == Answer(city="Paris", confidence=0.9)
    first, repair = fault_server.requests
    assert first["response_format"]["json_schema"]["name"] == "Answer"
    assert "JSON schema" in first["messages"][0]["content"]
    assert repair["messages"][-2]["content"] == '{"city": "Paris", "confidence": 7}'
    assert "confidence: Input should be less than or equal to 1" in repair["messages"][-1]["content"]
    fault_server.script(
        {"status": 400, "message": "unknown response_format"}, {"text": '{"city": "Rome", "confidence": 1}'}
    )
    assert complete_structured(remote(fault_server), "Capital of Italy?", Answer).city == "Rome"
    # json_schema rejected: the next try asks for a plain JSON object (the schema is in the prompt)
    assert fault_server.requests[-2]["response_format"]["type"] == "json_schema"
    assert fault_server.requests[-1]["response_format"] == {"type": "json_object"}
    fault_server.script({"text": "Paris!"}, {"text": "I think Paris."})
    with pytest.raises(StructuredOutputError, match="did not produce a valid Answer after 1 repair"):
        complete_structured(remote(fault_server), "Capital of France?", Answer)


def test_generate_can_cite_where_the_passages_stand(fault_server) -> None:
    meta = {"source": "R-data.pdf", "page": 15, "page_end": 15, "section": "2 Spreadsheet > 2.2 Fixed-width"}
    hits = [
        Hit(
            Chunk("read.csv reads CSV files.", "R-data.pdf", 0, 25, {**meta, "page": 12, "page_end": 12}), 1.0
        ),
        Hit(Chunk("read.fwf reads fixed-width files.", "R-data.pdf", 30, 63, meta), 1.0),
    ]
    fault_server.script({"text": "fixed width reader"}, {"text": "read.fwf [2]"})
    compiled = _qa_flow({"max_tokens": 16, "cite": "location"})
    result = compiled.invoke(
        {"question": "Which function?", "context": hits}, context={"llm": remote(fault_server)}
    )
    assert result.state.citations == ["R-data.pdf p. 15, § 2.2 Fixed-width"]
