"""Client mistakes and oversized requests get 4xx JSON in OpenAI's shape, early and cheaply; a question over
the real local LLM's context (SmolLM2) is a 400 ``context_length_exceeded`` the openai SDK does not retry."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from serve_fakes import FakeLLM, qa_flow

from ragloom.serve import ServeConfig, ServerThread, serving

CHAT = {"model": "qa", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with serving(
        qa_flow(), context={"llm": FakeLLM()}, config=ServeConfig(max_question_chars=1000)
    ) as running:
        yield running


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    error = r.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error  # type: ignore[no-any-return]


def _post(server: ServerThread, body: bytes, path: str = "/v1/chat/completions") -> httpx.Response:
    return httpx.post(
        server.url + path, content=body, headers={"Content-Type": "application/json"}, timeout=10
    )


def test_bodies_over_the_limit_are_refused_before_they_are_read(server: ServerThread) -> None:
    start = time.monotonic()
    question = "x" * 10_800_000  # the 10.8 MB question that once held the server 26.7 s
    big = httpx.post(
        server.url + "/v1/chat/completions",
        json={**CHAT, "messages": [{"role": "user", "content": question}]},
    )
    assert _error(big, 413)["code"] == "request_too_large" and time.monotonic() - start < 5
    with socket.create_connection(("127.0.0.1", server.port)) as sock:  # declares 100 MB, sends 10 bytes
        sock.sendall(
            b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100000000\r\n\r\n{"questio'
        )
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 413")

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length, counted while reading
        yield b'{"question": "'
        for _ in range(40):
            yield b"y" * 65536

    chunked = httpx.post(server.url + "/runs", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413


def test_malformed_json_and_deep_nesting_are_400(server: ServerThread) -> None:
    assert "not valid JSON" in _error(_post(server, b'{"messages": [}'), 400)["message"]
    assert "UTF-8" in _error(_post(server, b'{"model": "\xff\xfe"}'), 400)["message"]
    for depth in (40, 100_000):
        nested = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
        assert "nested deeper" in _error(_post(server, nested), 400)["message"]
    assert "JSON object" in _error(_post(server, b"[1, 2]"), 400)["message"]


def test_wrong_types_and_missing_fields_name_the_field(server: ServerThread) -> None:
    cases = {
        "messages": {"model": "qa"},
        "messages[0].role": {"messages": [{"role": "wizard", "content": "x"}]},
        "messages[0]": {"messages": ["hi"]},
        "messages[0].content": {"messages": [{"role": "user", "content": 5}]},
        "stream": {**CHAT, "stream": "yes"},
        "model": {**CHAT, "model": 3},
        "stop": {**CHAT, "stop": [1]},
        "max_tokens": {**CHAT, "max_tokens": 0},
        "stream_options": {**CHAT, "stream_options": []},
        "presence_penalty": {**CHAT, "presence_penalty": 1},
    }
    for param, body in cases.items():
        assert _error(_post(server, json.dumps(body).encode()), 400)["param"] == param, param
    too_long = {**CHAT, "messages": [{"role": "user", "content": "q" * 1001}]}
    assert _error(_post(server, json.dumps(too_long).encode()), 400)["code"] == "question_too_long"
    assert _error(_post(server, b'{"question": 5}', "/runs"), 422)["code"] == "invalid_state"
    assert _error(_post(server, b'{"input": 5}', "/v1/embeddings"), 404)["code"] == "model_not_found"


def test_unknown_paths_and_methods_are_json(server: ServerThread) -> None:
    assert _error(httpx.get(server.url + "/nope"), 404)["code"] == "not_found"
    assert _error(httpx.get(server.url + "/v1/chat/completions"), 405)["code"] == "method_not_allowed"
    assert _error(httpx.delete(server.url + "/runs"), 405)["type"] == "invalid_request_error"
    assert _error(httpx.post(server.url + "/v1/models", json={}), 405)["code"] == "method_not_allowed"


@pytest.mark.slow
def test_a_question_over_the_local_llms_context_is_a_400_not_retried() -> None:
    from ragloom.llm.local import default_llm

    llm = default_llm().load()
    requests: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [requests.append]})
    question = "word " * 3000  # ~3,000 tokens: over SmolLM2's 2,048-token window, under the 32k-char limit
    with serving(qa_flow("local", max_tokens=16), context={"llm": llm}) as server:
        sdk = openai.OpenAI(
            base_url=server.url + "/v1", api_key="unused", http_client=http
        )  # default retries
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as too_long:
                sdk.chat.completions.create(
                    model="local", messages=[{"role": "user", "content": question}], stream=stream
                )
            assert too_long.value.code == "context_length_exceeded" and too_long.value.param == "messages"
            assert "context_window=2048" in too_long.value.message
    assert len(requests) == 2  # one per call: a 400 is not retried


def test_an_upstream_servers_context_error_is_passed_on_as_400() -> None:
    """ragloom serve in front of an OpenAI-compatible server that says the prompt is over its context."""
    from ragloom.core.errors import ContextLengthExceededError
    from ragloom.llm.openai_compat import OpenAICompatibleLLM

    class TinyContextLLM(FakeLLM):
        def _words(self, messages, options):  # type: ignore[no-untyped-def]
            raise ContextLengthExceededError("prompt of 9000 tokens exceeds context_window=2048")

    with serving(qa_flow("upstream"), context={"llm": TinyContextLLM()}) as upstream:
        llm = OpenAICompatibleLLM("upstream", upstream.url + "/v1", max_retries=0)
        with serving(qa_flow(), context={"llm": llm}) as server:
            sdk = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.BadRequestError) as too_long:
                sdk.chat.completions.create(model="qa", messages=[{"role": "user", "content": "long"}])
    assert too_long.value.code == "context_length_exceeded"
    assert "context_window=2048" in too_long.value.message
