"""``ragloom serve`` driven by real third-party clients: the official ``openai`` SDK and ``langchain-openai``
(a real uvicorn server on loopback; the flow's LLM is the FakeLLM collaborator, the embedder the real
MiniLM)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from serve_fakes import CliServer, FakeLLM, chat_flow, qa_flow

from ragloom.serve import ServeConfig, ServerThread, serving

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def embedder() -> Any:
    from ragloom.retrieval.embedders import default_embedder

    return default_embedder()


@pytest.fixture
def fake() -> FakeLLM:
    return FakeLLM()


@pytest.fixture
def server(fake: FakeLLM, embedder: Any) -> Iterator[ServerThread]:
    with serving(qa_flow(), context={"llm": fake}, embedder=embedder) as running:
        yield running


def client(server: ServerThread, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=options.pop("api_key", "unused"), max_retries=0)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_openai_sdk_create_stream_and_models(server: ServerThread) -> None:
    sdk = client(server)
    done = sdk.chat.completions.create(model="qa", messages=ask("Who is Scrooge?"))
    assert done.choices[0].message.content == "You asked: Who is Scrooge?"
    assert done.choices[0].finish_reason == "stop" and done.model == "qa" and done.usage is not None
    assert done.usage.completion_tokens == 5 and done.usage.total_tokens > 4
    chunks = list(
        sdk.chat.completions.create(
            model="qa", messages=ask("Who is Marley?"), stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You asked: Who is Marley?"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    models = sdk.models.list().data
    assert [m.id for m in models] == ["qa", "sentence-transformers/all-MiniLM-L6-v2"]
    assert all(isinstance(m.created, int) and m.created > 1_700_000_000 for m in models)
    assert sdk.models.retrieve("qa").owned_by == "ragloom"
    assert sdk.models.retrieve(MINILM).id == MINILM


def test_request_options_reach_the_flows_llm(server: ServerThread, fake: FakeLLM) -> None:
    sdk = client(server)
    short = sdk.chat.completions.create(
        model="qa", messages=ask("one two three four"), max_tokens=3, temperature=0.7, stop=["zzz"], seed=7
    )
    assert short.choices[0].message.content == "You asked: one"
    assert fake.calls[-1] == {"max_tokens": 3, "temperature": 0.7, "stop": ["zzz"], "seed": 7}
    stopped = sdk.chat.completions.create(model="qa", messages=ask("red green blue"), stop="green")
    assert stopped.choices[0].message.content.strip() == "You asked: red"
    assert fake.calls[-1]["max_tokens"] == 256  # the node's own option where the request sets none


def test_openai_sdk_error_types(server: ServerThread) -> None:
    sdk = client(server)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.chat.completions.create(model="gpt-4o", messages=ask("hi"))
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4o")
    refused = {
        "n": {"n": 2},
        "tools": {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        "response_format": {"response_format": {"type": "json_object"}},
        "temperature": {"temperature": 5},
        "max_tokens": {"max_tokens": "many"},
        "logprobs": {"logprobs": True},
    }
    for param, extra in refused.items():
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.chat.completions.create(model="qa", messages=ask("hi"), **extra)
        assert bad.value.param == param, (param, bad.value.body)
    with pytest.raises(openai.BadRequestError) as empty:
        sdk.chat.completions.create(model="qa", messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as image:
        parts = [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]
        sdk.chat.completions.create(model="qa", messages=[{"role": "user", "content": parts}])  # type: ignore[misc,list-item]
    assert image.value.param == "messages[0].content[0].type"
    with pytest.raises(openai.BadRequestError) as turns:  # earlier turns, but the flow has no `messages` key
        history = [*ask("first"), {"role": "assistant", "content": "ok"}, *ask("second")]
        sdk.chat.completions.create(model="qa", messages=history)  # type: ignore[arg-type]
    assert turns.value.param == "messages" and "messages" in turns.value.message
    # unknown fields are ignored, as OpenAI does; a system message is accepted
    ok = sdk.chat.completions.create(
        model="qa", messages=[{"role": "system", "content": "be brief"}, *ask("hi")], extra_body={"x_new": 1}
    )
    assert ok.choices[0].message.content == "You asked: hi"


def test_system_messages_and_earlier_turns_reach_a_flow_with_messages() -> None:
    with serving(chat_flow()) as server:
        history = [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"},
        ]
        reply = client(server).chat.completions.create(model="chatty", messages=history)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "system:be brief | user:first | assistant:ok | user:second"


def test_openai_sdk_embeddings(server: ServerThread, embedder: Any) -> None:
    sdk = client(server)
    texts = ["Scrooge is a miser.", "Marley is dead."]
    floats = sdk.embeddings.create(model=MINILM, input=texts, encoding_format="float")
    base64 = sdk.embeddings.create(model=MINILM, input=texts)  # the SDK asks for base64
    expected = embedder.embed(texts)
    for answer in (floats, base64):
        got = np.array([d.embedding for d in answer.data])
        assert got.shape == (2, 384) and np.allclose(got, expected, atol=1e-5)
        assert answer.usage.prompt_tokens > 0 and answer.model == MINILM
    one = sdk.embeddings.create(model=MINILM, input="Scrooge")
    assert len(one.data) == 1 and one.data[0].index == 0
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError) as bad:
        sdk.embeddings.create(model=MINILM, input=[[1, 2, 3]])
    assert bad.value.param == "input[0]"


def test_api_key_and_authentication_error(fake: FakeLLM) -> None:
    with serving(qa_flow(), context={"llm": fake}, config=ServeConfig(api_key="s3cret")) as server:
        with pytest.raises(openai.AuthenticationError):
            client(server, api_key="wrong").chat.completions.create(model="qa", messages=ask("hi"))
        with pytest.raises(openai.AuthenticationError):
            client(server, api_key="wrong").models.list()
        assert fake.calls == []
        ok = client(server, api_key="s3cret").chat.completions.create(model="qa", messages=ask("hi"))
        assert ok.choices[0].message.content == "You asked: hi"


def test_a_saturated_server_answers_429_with_retry_after() -> None:
    slow = FakeLLM(delay_s=0.5)
    config = ServeConfig(max_concurrency=1, max_queue=0)
    with serving(qa_flow(), context={"llm": slow}, config=config) as server:
        sdk = client(server)
        first = threading.Thread(target=lambda: sdk.chat.completions.create(model="qa", messages=ask("slow")))
        first.start()
        deadline = time.monotonic() + 5
        while not slow.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(openai.RateLimitError) as busy:
            sdk.chat.completions.create(model="qa", messages=ask("second"))
        assert busy.value.response.headers["retry-after"] == "1"
        first.join()
        assert sdk.chat.completions.create(model="qa", messages=ask("later")).choices[0].message.content


def test_langchain_openai_chat_and_embeddings(server: ServerThread, embedder: Any) -> None:
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    chat = ChatOpenAI(model="qa", base_url=server.url + "/v1", api_key="unused", max_retries=0)  # type: ignore[arg-type]
    assert chat.invoke("Who is Scrooge?").content == "You asked: Who is Scrooge?"
    streamed = "".join(str(c.content) for c in chat.stream("Who is Marley?"))
    assert streamed == "You asked: Who is Marley?"
    limited = ChatOpenAI(
        model="qa", base_url=server.url + "/v1", api_key="unused", max_retries=0, max_tokens=2
    )  # type: ignore[arg-type,call-arg]
    assert limited.invoke("a b c d").content == "You asked:"
    embeddings = OpenAIEmbeddings(
        model=MINILM,
        base_url=server.url + "/v1",
        api_key="unused",  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    docs = embeddings.embed_documents(["Scrooge is a miser.", "Marley is dead."])
    assert np.allclose(np.array(docs), embedder.embed(["Scrooge is a miser.", "Marley is dead."]), atol=1e-5)
    assert np.allclose(embeddings.embed_query("Scrooge"), embedder.embed(["Scrooge"])[0], atol=1e-5)


@pytest.mark.integration
def test_ragloom_serve_with_an_index_serves_its_embedder(
    tmp_path: Path, echo_yaml: Path, embedder: Any
) -> None:
    from ragloom.core.types import Document
    from ragloom.retrieval.index import Index

    docs = [Document("a", "Scrooge is a miser."), Document("b", "Marley is dead.")]
    Index.build(tmp_path / "idx", docs, embedder=embedder, vector_store="memory")
    server = CliServer(echo_yaml, "--index", str(tmp_path / "idx")).wait(timeout=180)
    try:
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        assert [m.id for m in sdk.models.list().data] == ["echo", MINILM]
        got = sdk.embeddings.create(model=MINILM, input=["Scrooge"]).data[0].embedding
        assert np.allclose(got, embedder.embed(["Scrooge"])[0], atol=1e-5)
        reply = sdk.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "You asked: hi"
    finally:
        server.stop()
