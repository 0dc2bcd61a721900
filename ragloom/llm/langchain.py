"""The langchain-core boundary, both ways: any ``BaseChatModel`` as our LLM, and our LLMs as a chat model.

Why at the edge: the rest of ragloom speaks :class:`Message`/:class:`Completion`; only this module imports
langchain-core, so it stays an ecosystem bridge rather than a dependency of the core.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from ragloom.core.protocols import LLM
from ragloom.core.types import Completion, Message, ToolCall, Usage
from ragloom.core.usage import UsageMeter
from ragloom.llm.messages import as_messages, tool_to_openai
from ragloom.llm.usage import report, usage_from_server


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for m in messages:
        if m.role == "system":
            out.append(SystemMessage(m.content))
        elif m.role == "user":
            out.append(HumanMessage(m.content))
        elif m.role == "tool":
            out.append(ToolMessage(m.content, tool_call_id=m.tool_call_id or ""))
        else:
            calls = [
                {"name": c.name, "args": c.arguments, "id": c.id, "type": "tool_call"} for c in m.tool_calls
            ]
            out.append(AIMessage(m.content, tool_calls=calls))
    return out


def from_langchain(messages: Sequence[BaseMessage]) -> tuple[Message, ...]:
    out = []
    for m in messages:
        text = m.text if isinstance(m.text, str) else str(m.content)
        if isinstance(m, SystemMessage):
            out.append(Message("system", text))
        elif isinstance(m, ToolMessage):
            out.append(Message("tool", text, tool_call_id=m.tool_call_id))
        elif isinstance(m, AIMessage):
            calls = tuple(ToolCall(c.get("id") or "", c["name"], dict(c["args"])) for c in m.tool_calls)
            out.append(Message("assistant", text, tool_calls=calls))
        else:
            out.append(Message("user", text))
    return tuple(out)


class LangChainLLM:
    """Any langchain ``BaseChatModel`` as a ragloom :class:`~ragloom.core.protocols.LLM`."""

    supports_tools = True
    supports_response_format = False

    def __init__(self, chat_model: BaseChatModel, model: str | None = None) -> None:
        self.chat_model = chat_model
        self._model = model or str(
            getattr(chat_model, "model_name", None)
            or getattr(chat_model, "model", None)
            or chat_model._llm_type
        )

    @property
    def model(self) -> str:
        return self._model

    def __repr__(self) -> str:
        return f"LangChainLLM({type(self.chat_model).__name__}, model={self._model!r})"

    def _runnable(self, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        opts = dict(options)
        tools = opts.pop("tools", None)
        runnable: Any = self.chat_model
        if tools:
            runnable = self.chat_model.bind_tools([tool_to_openai(t) for t in tools])
        return runnable, {k: v for k, v in opts.items() if v is not None}

    def _completion(
        self, msgs: Sequence[Message], ai: BaseMessage, started: float | None = None
    ) -> Completion:
        text = ai.text if isinstance(ai.text, str) else str(ai.content)
        usage = report(
            usage_from_server(self._model, _server_usage(ai), msgs, text, None), self._model, started
        )
        calls = tuple(
            ToolCall(c.get("id") or f"call_{i}", c["name"], dict(c["args"]))
            for i, c in enumerate(getattr(ai, "tool_calls", None) or ())
        )
        finish = (getattr(ai, "response_metadata", None) or {}).get("finish_reason")
        return Completion(text, usage, calls, self._model, finish)

    def complete(self, messages: Sequence[Message], **options: Any) -> Completion:
        msgs = as_messages(messages)
        runnable, kwargs = self._runnable(options)
        started = time.perf_counter()
        return self._completion(msgs, runnable.invoke(to_langchain(msgs), **kwargs), started)

    async def acomplete(self, messages: Sequence[Message], **options: Any) -> Completion:
        msgs = as_messages(messages)
        runnable, kwargs = self._runnable(options)
        started = time.perf_counter()
        return self._completion(msgs, await runnable.ainvoke(to_langchain(msgs), **kwargs), started)

    def stream(self, messages: Sequence[Message], **options: Any) -> Iterator[str]:
        """Text deltas; the usage reported is the chat model's streamed ``usage_metadata`` when it sends one
        (OpenAI-compatible servers do with ``stream_usage``), else a local count."""
        msgs = as_messages(messages)
        runnable, kwargs = self._runnable(options)
        started = time.perf_counter()
        parts: list[str] = []
        total: Any = None
        for chunk in runnable.stream(to_langchain(msgs), **kwargs):
            total = chunk if total is None else total + chunk
            if chunk.text:
                parts.append(chunk.text)
                yield chunk.text
        self._report_stream(msgs, parts, total, started)

    async def astream(self, messages: Sequence[Message], **options: Any) -> AsyncIterator[str]:
        msgs = as_messages(messages)
        runnable, kwargs = self._runnable(options)
        started = time.perf_counter()
        parts: list[str] = []
        total: Any = None
        async for chunk in runnable.astream(to_langchain(msgs), **kwargs):
            total = chunk if total is None else total + chunk
            if chunk.text:
                parts.append(chunk.text)
                yield chunk.text
        self._report_stream(msgs, parts, total, started)

    def _report_stream(self, msgs: Sequence[Message], parts: list[str], total: Any, started: float) -> None:
        server = _server_usage(total) if total is not None else None
        report(usage_from_server(self._model, server, msgs, "".join(parts), None), self._model, started)


def _server_usage(ai: Any) -> dict[str, int] | None:
    """The chat model's own token counts (``usage_metadata``), in OpenAI's names; None when it sent none."""
    meta = getattr(ai, "usage_metadata", None)
    if not meta or meta.get("input_tokens") is None:
        return None
    return {
        "prompt_tokens": int(meta["input_tokens"]),
        "completion_tokens": int(meta.get("output_tokens") or 0),
    }


class RagloomChatModel(BaseChatModel):
    """A ragloom LLM where langchain expects a chat model (``as_langchain(llm)``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    llm: Any

    @property
    def _llm_type(self) -> str:
        return f"ragloom:{self.llm.model}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.llm.model}

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, **({"stop": stop} if stop else {})}

    def _result(self, c: Completion) -> ChatResult:
        calls = [{"name": t.name, "args": t.arguments, "id": t.id, "type": "tool_call"} for t in c.tool_calls]
        u = c.usage
        meta = {
            "input_tokens": u.prompt_tokens,
            "output_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens,
        }
        msg = AIMessage(
            c.text,
            tool_calls=calls,
            usage_metadata=meta,
            response_metadata={"finish_reason": c.finish_reason},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)], llm_output={"model": c.model})

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(self.llm.complete(from_langchain(messages), **self._options(stop, kwargs)))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        c = await self.llm.acomplete(from_langchain(messages), **self._options(stop, kwargs))
        return self._result(c)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """Deltas, then one empty chunk carrying ``usage_metadata`` (what the wrapped LLM reported)."""
        deltas = iter(self.llm.stream(from_langchain(messages), **self._options(stop, kwargs)))
        meter = UsageMeter()
        while True:
            with meter.measure():  # per next(): a context variable must not stay set across a yield
                delta = next(deltas, None)
            if delta is None:
                break
            if run_manager:
                run_manager.on_llm_new_token(delta)
            yield ChatGenerationChunk(message=AIMessageChunk(content=delta))
        yield _usage_chunk(meter.total)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        deltas = aiter(self.llm.astream(from_langchain(messages), **self._options(stop, kwargs)))
        meter = UsageMeter()
        while True:
            with meter.measure():
                delta = await anext(deltas, None)
            if delta is None:
                break
            if run_manager:
                await run_manager.on_llm_new_token(delta)
            yield ChatGenerationChunk(message=AIMessageChunk(content=delta))
        yield _usage_chunk(meter.total)


def _usage_chunk(usage: Usage) -> ChatGenerationChunk:
    meta = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=meta))  # type: ignore[arg-type]


def as_langchain(llm: LLM) -> BaseChatModel:
    """Our ``llm`` as a langchain ``BaseChatModel`` (invoke, stream, batch, bind_tools, callbacks)."""
    return RagloomChatModel(llm=llm)


__all__ = ["LangChainLLM", "RagloomChatModel", "as_langchain", "from_langchain", "to_langchain"]


def as_langchain_retriever(retriever: Any, k: int = 5, **options: Any) -> Any:
    """Any ragloom retriever (``index.hybrid()``, BM25, dense, graph) as a langchain ``BaseRetriever``, so it
    pipes into LCEL (``as_langchain_retriever(index.hybrid()) | format_docs | prompt | model``).

    Each hit becomes a ``Document`` whose metadata holds ``id``, ``doc_id``, ``score``, ``start``/``end`` and
    the chunk's own metadata (source, page, section when the index has them); ``options`` (e.g. ``where``)
    go to every ``retrieve`` call.
    """
    from langchain_core.retrievers import BaseRetriever

    class RagloomRetriever(BaseRetriever):
        """A ragloom retriever behind langchain's retriever interface."""

        def _get_relevant_documents(self, query: str, *, run_manager: Any = None) -> list[Any]:
            return [_hit_document(h) for h in retriever.retrieve(query, k, **options)]

    return RagloomRetriever()


def _hit_document(hit: Any) -> Any:
    from langchain_core.documents import Document as LCDocument

    chunk = hit.chunk
    metadata = {**chunk.metadata, "id": hit.id, "doc_id": hit.doc_id, "score": float(hit.score)}
    metadata |= {"start": chunk.start, "end": chunk.end}
    return LCDocument(page_content=hit.text, metadata=metadata, id=hit.id)
