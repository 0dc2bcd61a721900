"""ragloom.llm: LLM clients (OpenAI-compatible over httpx, the embedded local SmolLM2, langchain adapters),
structured output, token counting, pricing and a response cache.

Names are imported lazily so that ``import ragloom.llm`` stays cheap (no torch, no langchain) until used.
"""

from __future__ import annotations

from ragloom.core.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "OpenAICompatibleLLM": "ragloom.llm.openai_compat",
    "LocalLLM": "ragloom.llm.local",
    "TokenLogprobs": "ragloom.llm.local",
    "default_llm": "ragloom.llm.local",
    "CachedLLM": "ragloom.llm.cache",
    "LangChainLLM": "ragloom.llm.langchain",
    "as_langchain": "ragloom.llm.langchain",
    "complete_structured": "ragloom.llm.structured",
    "HFTokenCounter": "ragloom.llm.tokens",
    "default_token_counter": "ragloom.llm.tokens",
    "set_price": "ragloom.llm.pricing",
    "load_prices": "ragloom.llm.pricing",
    "price_of": "ragloom.llm.pricing",
    "as_messages": "ragloom.llm.messages",
    "ToolCallParseError": "ragloom.llm.toolcalls",
    "RetryPolicy": "ragloom.llm.retry",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
