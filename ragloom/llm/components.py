"""Registered LLM components for flows: ``llm.generate`` (grounded answer with citations) and
``llm.rewrite_query``.

Both take the LLM from the run's resources (``invoke(..., context={"llm": llm})``) and fall back to the
embedded :func:`~ragloom.llm.local.default_llm`, so a YAML flow runs offline with no configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.core.protocols import LLM
from ragloom.core.registry import register
from ragloom.core.state_access import read_key
from ragloom.core.streaming import token_listener
from ragloom.core.types import Message
from ragloom.flows import RunContext, node

Node = Callable[[Any, RunContext], dict[str, Any]]

#: Put after the passages, before the question: small local models follow an instruction in the user turn far
#: better than a system prompt (SmolLM2-135M listed every passage with a system prompt, cited one without).
GENERATE_INSTRUCTION = (
    "Answer in one sentence using the context above, then cite the passage number like [2]."
)
REWRITE_SYSTEM = (
    "Rewrite the user's question as a short keyword search query. Reply with the query only, on one line."
)
_CITE = re.compile(r"\[(\d+)\]")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    ["the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "was", "were", "be", "it", "that", "this"]
)


def llm_from_context(ctx: RunContext | None) -> LLM:
    """The LLM in ``ctx.resources["llm"]``, else the process-wide embedded default."""
    llm = ctx.resources.get("llm") if ctx is not None else None
    if llm is not None:
        return llm  # type: ignore[no-any-return]
    from ragloom.llm.local import default_llm

    return default_llm()


def passage_text_and_id(item: Any, index: int) -> tuple[str, str]:
    """(text, id) of a context item: a Hit, a Chunk, a dict with ``text``/``id`` or a plain string."""
    if isinstance(item, str):
        return item, str(index)
    if isinstance(item, dict):
        return str(item.get("text", "")), str(item.get("id", index))
    return str(getattr(item, "text", item)), str(getattr(item, "id", index))


def format_context(items: Sequence[Any], max_chars: int | None = None) -> str:
    """Numbered passages ``[1] text`` (1-based, the numbers the answer cites)."""
    lines = []
    for i, item in enumerate(items, 1):
        text = " ".join(passage_text_and_id(item, i)[0].split())
        lines.append(f"[{i}] {text[:max_chars] if max_chars else text}")
    return "\n".join(lines)


def cited_numbers(answer: str, n_passages: int) -> list[int]:
    """The passage numbers cited in ``answer`` as ``[n]``, in first-mention order, within 1..n_passages."""
    seen: list[int] = []
    for m in _CITE.finditer(answer):
        n = int(m.group(1))
        if 1 <= n <= n_passages and n not in seen:
            seen.append(n)
    return seen


def best_supported(answer: str, texts: Sequence[str]) -> int | None:
    """1-based number of the passage sharing the most content words with ``answer`` (None if no overlap)."""
    words = {w for w in _WORD.findall(answer.lower()) if w not in _STOP}
    scores = [len(words & set(_WORD.findall(t.lower()))) for t in texts]
    if not scores or max(scores) == 0:
        return None
    return scores.index(max(scores)) + 1


@register("llm.generate", role="generator", search={"max_tokens": [48, 80, 128]})
def generate(
    max_tokens: int = 128,
    temperature: float = 0.0,
    instruction: str = GENERATE_INSTRUCTION,
    system_prompt: str | None = None,
    question_key: str = "question",
    context_key: str = "context",
    output_key: str = "answer",
    citations_key: str = "citations",
    max_passage_chars: int | None = None,
    cite_fallback: bool = True,
    cite: str = "id",
) -> Node:
    """Answer ``question`` from the ``context`` passages with numbered citations -> ``answer``, ``citations``.

    ``citations`` lists the ids of the passages the answer cites (``[n]`` markers). When the model cites
    nothing and ``cite_fallback`` is on, the passage with the most word overlap is cited and its marker added.
    ``cite="location"`` lists where each cited passage stands instead (``R-intro.pdf p. 42, § 5.1 Arrays``,
    see :func:`ragloom.documents.citations.cite`).
    """
    if cite not in ("id", "location"):
        raise ConfigError(f"llm.generate: cite must be 'id' or 'location', got {cite!r}")

    @node(takes_context=True)
    def generate_node(state: Any, ctx: RunContext) -> dict[str, Any]:
        question = str(read_key(state, question_key, "llm.generate", ""))
        items = list(read_key(state, context_key, "llm.generate", None) or [])
        passages = [passage_text_and_id(item, i) for i, item in enumerate(items, 1)]
        user = f"Context:\n{format_context(items, max_passage_chars)}\n\n{instruction}\nQuestion: {question}"
        if not items:
            user = f"Question: {question}"
        messages = [Message("user", user)]
        if system_prompt:
            messages.insert(0, Message("system", system_prompt))
        text = _complete_or_stream(llm_from_context(ctx), messages, output_key, max_tokens, temperature)
        answer = text.strip()
        numbers = cited_numbers(answer, len(passages))
        if not numbers and cite_fallback and passages:
            best = best_supported(answer, [t for t, _ in passages])
            if best is not None:
                numbers = [best]
                answer = f"{answer} [{best}]"
        if cite == "location":
            from ragloom.documents.citations import cite as locate

            where = [locate(items[n - 1]) or passages[n - 1][1] for n in numbers]
            return {output_key: answer, citations_key: where}
        return {output_key: answer, citations_key: [passages[n - 1][1] for n in numbers]}

    return generate_node


def _complete_or_stream(
    llm: LLM, messages: list[Message], output_key: str, max_tokens: int, temperature: float
) -> str:
    """The completion's text; streamed piece by piece to an open token sink (``ragloom serve`` with
    ``stream: true``), so the client sees the answer while it is generated. A retried step streams again."""
    listener = token_listener()
    if listener is None:
        return llm.complete(messages, max_tokens=max_tokens, temperature=temperature).text
    pieces = []
    for piece in llm.stream(messages, max_tokens=max_tokens, temperature=temperature):
        pieces.append(piece)
        listener(piece, output_key)
    return "".join(pieces)


@register("llm.rewrite_query", role="query_transform")
def rewrite_query(
    max_tokens: int = 32,
    input_key: str = "question",
    output_key: str = "query",
    system_prompt: str = REWRITE_SYSTEM,
    mode: str = "rewrite",
) -> Node:
    """Rewrite ``question`` into a search query -> ``query`` (the question itself if the reply is empty).

    ``mode="expand"`` keeps the question and appends the model's reply (query expansion in the spirit of
    query2doc, Wang et al., 2023): small models often answer instead of rewriting, and a pseudo-answer still
    adds useful terms for BM25 and dense retrieval.
    """
    if mode not in ("rewrite", "expand"):
        raise ConfigError(f"llm.rewrite_query: mode must be 'rewrite' or 'expand', got {mode!r}")

    @node(takes_context=True)
    def rewrite_node(state: Any, ctx: RunContext) -> dict[str, Any]:
        question = str(read_key(state, input_key, "llm.rewrite_query", ""))
        messages = [Message("system", system_prompt), Message("user", question)]
        text = llm_from_context(ctx).complete(messages, max_tokens=max_tokens, stop=["\n"]).text
        query = text.strip().strip('"').strip()
        if mode == "expand":
            return {output_key: f"{question} {query}".strip()}
        return {output_key: query or question}

    return rewrite_node


SUPPORT_INSTRUCTION = "Is the answer fully supported by the context above? Reply with yes or no only."


@register("llm.check_support", role="critic")
def check_support(
    max_tokens: int = 4,
    question_key: str = "question",
    answer_key: str = "answer",
    context_key: str = "context",
    output_key: str = "supported",
    instruction: str = SUPPORT_INSTRUCTION,
) -> Node:
    """Review an answer: the LLM says whether the ``context`` supports it -> ``supported`` (bool).

    The verdict routes a bounded "review -> regenerate when unsupported" loop; a reply that is neither yes
    nor no counts as supported (a small model's noise must not trigger regeneration by itself)."""

    @node(takes_context=True)
    def check_support_node(state: Any, ctx: RunContext) -> dict[str, Any]:
        answer = str(read_key(state, answer_key, "llm.check_support", ""))
        question = str(read_key(state, question_key, "llm.check_support", ""))
        items = list(read_key(state, context_key, "llm.check_support", None) or [])
        user = f"Context:\n{format_context(items)}\n\nQuestion: {question}\nAnswer: {answer}\n{instruction}"
        reply = llm_from_context(ctx).complete([Message("user", user)], max_tokens=max_tokens).text
        words = _WORD.findall(reply.lower())
        return {output_key: not (words and words[0] == "no")}

    return check_support_node
