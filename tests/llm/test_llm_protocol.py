"""Every LLM implementation satisfies the LLM protocol (structural check; behaviour is tested per client)."""

from __future__ import annotations

import ragloom.llm
from ragloom.core.protocols import LLM, TokenCounter
from ragloom.llm.cache import CachedLLM
from ragloom.llm.langchain import LangChainLLM, as_langchain
from ragloom.llm.local import LocalLLM
from ragloom.llm.openai_compat import OpenAICompatibleLLM
from ragloom.llm.tokens import HFTokenCounter


def test_every_client_is_an_llm(tmp_path) -> None:
    remote = OpenAICompatibleLLM("m", "http://127.0.0.1:9/v1")
    local = LocalLLM()  # not loaded: construction is free
    clients = [remote, local, CachedLLM(remote, tmp_path / "c.sqlite"), LangChainLLM(as_langchain(remote))]
    assert all(isinstance(c, LLM) for c in clients)
    assert isinstance(local, TokenCounter) and isinstance(HFTokenCounter(object()), TokenCounter)


def test_public_names_resolve() -> None:
    for name in ragloom.llm.__all__:
        assert getattr(ragloom.llm, name) is not None
