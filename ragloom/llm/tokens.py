"""Token counting in the tokenizer budgets are counted in (by default, the local LLM's own: SmolLM2).

``default_token_counter()`` is process-wide and cheap after the first call: the GGUF tokenizer is converted
once and cached on disk (see :mod:`ragloom.llm.gguf_cache`); later processes read its ``tokenizer.json``
with the ``tokenizers`` library directly (~0.1 s, no transformers import).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ragloom.core.types import Message


class HFTokenCounter:
    """A :class:`~ragloom.core.protocols.TokenCounter` over any transformers (or ``tokenizers``) tokenizer."""

    def __init__(self, tokenizer: Any, name: str = "") -> None:
        self.tokenizer = tokenizer
        self.name = name or getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens (what a passage adds to a prompt)."""
        if not text:
            return 0
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""
        tok = self.tokenizer
        if type(tok).__module__.startswith("tokenizers"):  # a raw `tokenizers.Tokenizer`
            return list(tok.encode(text, add_special_tokens=False).ids)
        return list(tok.encode(text, add_special_tokens=False))

    def count_messages(self, messages: Sequence[Message]) -> int:
        """Prompt tokens of a chat, with the chat template when the tokenizer has one."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            dicts = [{"role": m.role, "content": m.content} for m in messages]
            ids = tok.apply_chat_template(dicts, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return len(ids)
        return len(self.encode(render_chatml(messages)))

    def __repr__(self) -> str:
        return f"HFTokenCounter({self.name!r})"


DEFAULT_SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def render_chatml(messages: Sequence[Message], system_default: str = DEFAULT_SYSTEM_PROMPT) -> str:
    """The ChatML prompt SmolLM2's chat template renders (with the generation prompt), without jinja."""
    parts = []
    if messages and messages[0].role != "system" and system_default:
        parts.append(f"<|im_start|>system\n{system_default}<|im_end|>\n")
    parts += [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


_default: HFTokenCounter | None = None
_lock = threading.Lock()


def default_token_counter() -> HFTokenCounter:
    """The process-wide counter in the SmolLM2 tokenizer (the embedded default LLM's own tokens)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                from ragloom.llm.gguf_cache import SMOLLM2_NAME, fast_tokenizer

                _default = HFTokenCounter(fast_tokenizer(), name=SMOLLM2_NAME)
    return _default
