"""The ``--llm-base-url`` / ``--llm-model`` pair of the commands that run LLM nodes, checked as CLI flags."""

from __future__ import annotations

from typing import Any

from ragloom.core.errors import ConfigError


def remote_llm(base_url: str | None, model: str | None) -> Any:
    """An OpenAICompatibleLLM for the two flags; one without the other names the missing flag."""
    if base_url and not model:
        raise ConfigError(
            f"--llm-base-url {base_url} needs --llm-model NAME (the model's name on that server, e.g. "
            "--llm-model qwen2.5-7b-instruct)"
        )
    if model and not base_url:
        raise ConfigError(
            f"--llm-model {model} needs --llm-base-url URL (e.g. --llm-base-url http://127.0.0.1:8000/v1)"
        )
    from ragloom.llm.openai_compat import OpenAICompatibleLLM

    return OpenAICompatibleLLM(model, base_url)
