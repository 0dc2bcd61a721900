"""Prices per model and the Usage (tokens + cost) of one call.

Prices are USD per million tokens, (prompt, completion). The table is configurable: :func:`set_price` in
code, or a JSON file ``{"model": [prompt_per_m, completion_per_m]}`` named by ``$RAGLOOM_PRICES``. Unknown
models cost 0 (local and self-hosted models are free to call); a prefix match lets
``gpt-4o-mini-2024-07-18`` use the ``gpt-4o-mini`` price.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ragloom.core.errors import ConfigError
from ragloom.core.types import Usage

#: Published list prices (USD per 1M tokens), for estimates only; override: set_price / $RAGLOOM_PRICES.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}

_prices: dict[str, tuple[float, float]] = dict(DEFAULT_PRICES)
_env_loaded: str | None = None
_lock = threading.Lock()


def set_price(model: str, prompt_per_million: float, completion_per_million: float) -> None:
    """Set (or override) the price of ``model`` in USD per million prompt / completion tokens."""
    if prompt_per_million < 0 or completion_per_million < 0:
        raise ConfigError(
            f"price of {model!r} must be >= 0, got {prompt_per_million}, {completion_per_million}"
        )
    with _lock:
        _prices[model] = (float(prompt_per_million), float(completion_per_million))


def load_prices(path: str | Path) -> None:
    """Merge a JSON price file ``{"model": [prompt_per_m, completion_per_m], ...}`` into the table."""
    try:
        data = json.loads(Path(path).read_text())
        items = [(str(m), float(p[0]), float(p[1])) for m, p in data.items()]
    except (OSError, ValueError, TypeError, IndexError, AttributeError) as e:
        raise ConfigError(
            f'price file {path}: expected {{"model": [prompt_usd_per_1M, completion_usd_per_1M]}}: {e}'
        ) from e
    for model, p, c in items:
        set_price(model, p, c)


def _load_env_prices() -> None:
    global _env_loaded
    path = os.environ.get("RAGLOOM_PRICES")
    if path and path != _env_loaded:
        _env_loaded = path
        load_prices(path)


def price_of(model: str) -> tuple[float, float]:
    """(prompt, completion) USD per million tokens of ``model``; longest-prefix match; unknown -> (0, 0)."""
    _load_env_prices()
    if model in _prices:
        return _prices[model]
    best = max((m for m in _prices if model.startswith(m)), key=len, default=None)
    return _prices[best] if best else (0.0, 0.0)


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    p, c = price_of(model)
    return (prompt_tokens * p + completion_tokens * c) / 1_000_000


def make_usage(model: str, prompt_tokens: int, completion_tokens: int) -> Usage:
    """The Usage of one call, priced with the table."""
    return Usage(
        int(prompt_tokens), int(completion_tokens), cost_usd(model, prompt_tokens, completion_tokens), 1
    )
