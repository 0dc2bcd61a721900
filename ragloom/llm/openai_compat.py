"""``OpenAICompatibleLLM``: chat completions over httpx against OpenAI, vLLM, Ollama, llama.cpp's server, ….

Why one client: all of them speak ``POST {base_url}/chat/completions``. The client adds what a pipeline
needs around that call: timeouts, retries with exponential backoff + jitter on 429/5xx/connection errors
(honouring ``Retry-After``), a clear :class:`LLMHTTPError` carrying the server's own message for other
errors, SSE streaming that detects truncated streams, tool calls (with JSON repair), and usage + cost
reported to the flow trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any

import httpx

from ragloom.core.errors import ConfigError, LLMError, LLMHTTPError, LLMStreamError, LLMTimeoutError
from ragloom.core.protocols import TokenCounter
from ragloom.core.streaming import token_listener
from ragloom.core.types import Completion, Message
from ragloom.llm.messages import as_messages, to_openai, tool_call_from_openai, tool_to_openai
from ragloom.llm.retry import RetryPolicy, is_retryable_status, parse_retry_after
from ragloom.llm.sse import StreamAccumulator
from ragloom.llm.usage import report, usage_from_server

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI ``error.message``, FastAPI ``detail``, or raw text)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500].strip() or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err:
            return str(err)[:500]
    return str(body)[:500]


class _Retry(Exception):
    """Internal: this attempt failed in a retryable way; ``error`` is raised if no attempts are left."""

    def __init__(self, error: LLMError, retry_after: float | None = None) -> None:
        self.error, self.retry_after = error, retry_after


class OpenAICompatibleLLM:
    """An :class:`~ragloom.core.protocols.LLM` for any OpenAI-compatible chat-completions server.

    ``model``, ``base_url`` and ``api_key`` default to ``$RAGLOOM_LLM_MODEL``/``$OPENAI_MODEL``,
    ``$RAGLOOM_LLM_BASE_URL``/``$OPENAI_BASE_URL`` (else OpenAI) and
    ``$RAGLOOM_LLM_API_KEY``/``$OPENAI_API_KEY``.
    ``timeout`` bounds each attempt (seconds); ``max_retries`` extra attempts follow retryable failures.
    """

    supports_tools = True
    supports_response_format = True

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_cap: float = 20.0,
        max_retry_wait: float = 60.0,
        default_options: dict[str, Any] | None = None,
        token_counter: TokenCounter | None = None,
        headers: dict[str, str] | None = None,
        stream_usage: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        seed: int | None = None,
    ) -> None:
        model = model or _env("RAGLOOM_LLM_MODEL", "OPENAI_MODEL")
        if not model:
            raise ConfigError("OpenAICompatibleLLM needs a model: pass model=... or set $RAGLOOM_LLM_MODEL")
        self._model = model
        self.base_url = (
            base_url or _env("RAGLOOM_LLM_BASE_URL", "OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self.api_key = api_key or _env("RAGLOOM_LLM_API_KEY", "OPENAI_API_KEY")
        self.timeout = httpx.Timeout(timeout, connect=min(connect_timeout, timeout))
        self.retry = RetryPolicy(max_retries, backoff_base, backoff_cap, max_retry_wait)
        self.default_options = dict(default_options or {})
        self.token_counter = token_counter
        self.stream_usage = stream_usage
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key}"
        self._transport = transport
        self._sleep = sleep or time.sleep
        self._rng = random.Random(seed)
        self._client: httpx.Client | None = None

    @property
    def model(self) -> str:
        return self._model

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM(model={self._model!r}, base_url={self.base_url!r})"

    # ---- request building and response parsing (shared by sync and async) ----

    def payload(self, messages: Sequence[Message], options: dict[str, Any], stream: bool) -> dict[str, Any]:
        """The JSON body of a chat-completions request."""
        opts = {**self.default_options, **options}
        body: dict[str, Any] = {"model": opts.pop("model", self._model), "messages": to_openai(messages)}
        if opts.get("tools"):
            body["tools"] = [tool_to_openai(t) for t in opts.pop("tools")]
        fmt = opts.pop("response_format", None)
        if fmt is not None:
            body["response_format"] = response_format_to_openai(fmt)
        body.update({k: v for k, v in opts.items() if v is not None})
        if stream:
            body["stream"] = True
            if self.stream_usage:
                body["stream_options"] = {"include_usage": True}
        return body

    def parse(
        self, data: dict[str, Any], messages: Sequence[Message], started: float | None = None
    ) -> Completion:
        """A Completion (with usage reported) from a non-streaming response body."""
        try:
            choice = data["choices"][0]
            msg = choice.get("message") or {}
        except (KeyError, IndexError, TypeError) as e:
            raise LLMError(f"{self.url} answered without choices[0].message: {str(data)[:300]}") from e
        text = msg.get("content") or ""
        # report before parsing tool calls: a malformed call raises, but its tokens were spent
        spent = text + _raw_calls_text(msg.get("tool_calls"))
        usage = usage_from_server(self._model, data.get("usage"), messages, spent, self.token_counter)
        report(usage, self._model, started)
        calls = tuple(tool_call_from_openai(c) for c in msg.get("tool_calls") or ())
        logprobs = None
        lp = choice.get("logprobs")
        if isinstance(lp, dict) and lp.get("content"):
            logprobs = tuple(float(t.get("logprob", 0.0)) for t in lp["content"])
        model = data.get("model") or self._model
        return Completion(text, usage, calls, model, choice.get("finish_reason"), logprobs)

    def _check(self, response: httpx.Response) -> None:
        """Raise _Retry for retryable statuses and LLMHTTPError for other errors."""
        status = response.status_code
        if status < 400:
            return
        msg = server_message(response)
        error = LLMHTTPError(f"{self.url} answered HTTP {status}: {msg}{_hint(status)}", status)
        if is_retryable_status(status):
            raise _Retry(error, parse_retry_after(response.headers.get("Retry-After")))
        raise error

    def _transport_error(self, e: Exception) -> _Retry:
        if isinstance(e, httpx.TimeoutException):
            t = self.timeout.read
            return _Retry(
                LLMTimeoutError(
                    f"{self.url} did not answer within {t} s ({type(e).__name__}); "
                    "raise timeout=... or check the server"
                )
            )
        return _Retry(
            LLMHTTPError(f"could not reach {self.url}: {type(e).__name__}: {e}; is the server running?")
        )

    def _give_up(self, attempt: int, r: _Retry) -> float:
        """The wait before the next attempt, or raise the final error when no attempts are left."""
        if attempt >= self.retry.max_retries:
            raise r.error
        return self.retry.delay(attempt, r.retry_after, self._rng)

    # ---- sync ----

    def _sync_client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.timeout, headers=self._headers, transport=self._transport
            )
        return self._client

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        started = time.perf_counter()
        msgs = as_messages(messages)
        listener = token_listener()  # a streamed flow run (stream(mode="tokens")) sees every call's tokens
        if listener is not None and not options.get("tools") and not options.get("response_format"):
            pieces = self._streamed(msgs, self.payload(msgs, options, stream=True), started)
            while True:
                try:
                    listener(next(pieces), "")
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
        body = self.payload(msgs, options, stream=False)
        attempt = 0
        while True:
            try:
                response = self._sync_client().post(self.url, json=body)
                self._check(response)
                return self.parse(_json(response, self.url), msgs, started)
            except httpx.TransportError as e:
                r = self._transport_error(e)
            except _Retry as e:
                r = e
            self._sleep(self._give_up(attempt, r))
            attempt += 1

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        """Yield text deltas; failures before the first delta are retried, a cut-off stream raises."""
        started = time.perf_counter()
        msgs = as_messages(messages)
        yield from self._streamed(msgs, self.payload(msgs, options, stream=True), started)

    def _streamed(
        self, msgs: Sequence[Message], body: dict[str, Any], started: float | None = None
    ) -> Generator[str, None, Completion]:
        """The deltas of one streamed request, then (as the generator's value) the whole Completion."""
        attempt = 0
        while True:
            acc = StreamAccumulator()
            try:
                with self._sync_client().stream("POST", self.url, json=body) as response:
                    if response.status_code >= 400:
                        response.read()
                    self._check(response)
                    yield from acc.feed_lines(response.iter_lines())
                break
            except httpx.TransportError as e:
                if acc.text:
                    raise LLMStreamError(
                        f"the stream from {self.url} broke mid-answer: {type(e).__name__}"
                    ) from e
                r = self._transport_error(e)
            except _Retry as e:
                r = e
            self._sleep(self._give_up(attempt, r))
            attempt += 1
        return self._finish_stream(acc, msgs, started)

    def _finish_stream(
        self, acc: StreamAccumulator, msgs: Sequence[Message], started: float | None = None
    ) -> Completion:
        acc.finish()
        text = "".join(acc.text)
        calls = acc.tool_calls()
        spent = text + _calls_text(calls)  # a tool-call-only answer still costs its arguments' tokens
        usage = usage_from_server(self._model, acc.usage, msgs, spent, self.token_counter)
        report(usage, self._model, started)
        return Completion(text, usage, calls, acc.model or self._model, acc.finish_reason)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ---- async (a client per call: an httpx.AsyncClient is bound to the event loop that made it) ----

    def _async_client(self) -> httpx.AsyncClient:
        transport = self._transport if isinstance(self._transport, httpx.AsyncBaseTransport) else None
        return httpx.AsyncClient(timeout=self.timeout, headers=self._headers, transport=transport)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        started = time.perf_counter()
        msgs = as_messages(messages)
        body = self.payload(msgs, options, stream=False)
        attempt = 0
        async with self._async_client() as client:
            while True:
                try:
                    response = await client.post(self.url, json=body)
                    self._check(response)
                    return self.parse(_json(response, self.url), msgs, started)
                except httpx.TransportError as e:
                    r = self._transport_error(e)
                except _Retry as e:
                    r = e
                await asyncio.sleep(self._give_up(attempt, r))
                attempt += 1

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        started = time.perf_counter()
        msgs = as_messages(messages)
        body = self.payload(msgs, options, stream=True)
        attempt = 0
        async with self._async_client() as client:
            while True:
                acc = StreamAccumulator()
                try:
                    async with client.stream("POST", self.url, json=body) as response:
                        if response.status_code >= 400:
                            await response.aread()
                        self._check(response)
                        async for delta in _afeed(acc, response.aiter_lines()):
                            yield delta
                    break
                except httpx.TransportError as e:
                    if acc.text:
                        raise LLMStreamError(f"the stream from {self.url} broke mid-answer: {e!r}") from e
                    r = self._transport_error(e)
                except _Retry as e:
                    r = e
                await asyncio.sleep(self._give_up(attempt, r))
                attempt += 1
        self._finish_stream(acc, msgs, started)


async def _afeed(acc: StreamAccumulator, lines: AsyncIterator[str]) -> AsyncIterator[str]:
    buffered: list[str] = []
    async for line in lines:
        buffered.append(line)
        for delta in acc.feed_lines(iter(buffered)):
            yield delta
        buffered.clear()
        if acc.done:
            return


def _json(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as e:
        raise LLMError(
            f"{url} answered HTTP {response.status_code} with a non-JSON body: {response.text[:200]!r}"
        ) from e
    if not isinstance(data, dict):
        raise LLMError(f"{url} answered with JSON that is not an object: {str(data)[:200]}")
    return data


def _hint(status: int) -> str:
    return {
        401: " (check the API key: api_key=... or $OPENAI_API_KEY)",
        403: " (the API key is not allowed to use this model)",
        404: " (check base_url, which should end in /v1, and the model name)",
        413: " (the prompt is too long for this server)",
        422: " (the server rejected the request body; check the options passed)",
    }.get(status, "")


def _calls_text(calls: Sequence[Any]) -> str:
    """What the model generated for its tool calls (names and JSON arguments), for local token counts."""
    return "".join(f"{c.name}{json.dumps(c.arguments, separators=(',', ':'))}" for c in calls)


def _raw_calls_text(raw: Any) -> str:
    """Names and argument strings of tool calls as sent (before parsing, which may fail)."""
    if not isinstance(raw, list):
        return ""
    parts = []
    for call in raw:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            parts.append(f"{fn.get('name') or ''}{fn.get('arguments') or ''}")
    return "".join(parts)


def response_format_to_openai(fmt: Any) -> dict[str, Any]:
    """``response_format``: an OpenAI dict as is, or a pydantic model class -> a ``json_schema`` format."""
    if isinstance(fmt, dict):
        return fmt
    schema_fn = getattr(fmt, "model_json_schema", None)
    if callable(schema_fn):
        return {"type": "json_schema", "json_schema": {"name": fmt.__name__, "schema": schema_fn()}}
    raise ConfigError(f"response_format must be a dict or a pydantic model class, got {fmt!r}")
