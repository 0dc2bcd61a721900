"""Arithmetic precision of a local embedder: float32, or bfloat16 where the CPU multiplies it in hardware.

Why: on a CPU with Intel AMX (``amx_bf16``), MiniLM under bf16 autocast embedded docs-a chunks 2.2-3.7x
faster than float32 on one core, with every sentence vector within cosine 0.99994 of the float32 one (256
docs-a chunks; retrieval quality in ``benchmarks/results/embed_precision.json``). Without AMX, bf16 is
emulated or slower, so ``auto`` keeps float32 there. Only sentence vectors use it; token vectors (late
chunking, MaxSim) stay float32.

The precision is part of an embedder's identity (:func:`embedder_identity`): the vector cache and an index
manifest keep bf16 and float32 vectors apart, so an index is queried in the precision it was built with.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError

__all__ = [
    "PRECISIONS",
    "PRECISION_ENV",
    "autocast",
    "bf16_copy",
    "embedder_identity",
    "native_bf16",
    "resolve_precision",
    "split_identity",
]

PRECISIONS = ("auto", "fp32", "bf16")
#: Environment variable that overrides ``precision="auto"`` (``fp32`` or ``bf16``).
PRECISION_ENV = "RAGLOOM_EMBED_PRECISION"
_SUFFIX = "@bf16"


def native_bf16() -> bool:
    """True when the CPU has AMX bf16 tiles (the only bf16 hardware measured to pay off here)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "amx_bf16" in info


def resolve_precision(precision: str, device: str) -> str:
    """``fp32`` or ``bf16`` for a requested ``precision`` on ``device``; ``auto`` (unless
    ``$RAGLOOM_EMBED_PRECISION`` says otherwise) picks bf16 only on a CPU with AMX. An unknown value is a
    ConfigError naming the choices."""
    if precision not in PRECISIONS:
        raise ConfigError(f"embedder precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced:
        if forced not in PRECISIONS:
            raise ConfigError(f"{PRECISION_ENV}={forced!r} is not one of {', '.join(PRECISIONS)}")
        if forced != "auto":
            return forced
    return "bf16" if str(device).startswith("cpu") and native_bf16() else "fp32"


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager[Any]:
    """The torch autocast context of ``precision`` (a no-op for fp32)."""
    if precision != "bf16":
        return contextlib.nullcontext()
    import torch

    return torch.autocast(str(device).split(":")[0], dtype=torch.bfloat16)


def bf16_copy(model: Any) -> Any:
    """A copy of ``model`` whose Linear layers hold bf16 weights, to run under :func:`autocast`.

    Autocast casts every Linear weight to bf16 on every call (measured: +6 ms on a single query); a copy
    that stores them in bf16 computes the same vectors without that cost. Everything else (embeddings,
    LayerNorm) stays float32, as autocast keeps it.
    """
    import copy

    import torch

    clone = copy.deepcopy(model)
    for module in clone.modules():
        if isinstance(module, torch.nn.Linear):
            module.to(torch.bfloat16)
    return clone


def embedder_identity(embedder: Any) -> str:
    """What an index records as its embedder: the model name, plus ``@bf16`` for bf16 vectors."""
    identity = getattr(embedder, "identity", None)
    return str(identity) if identity else str(embedder.model_name)


def split_identity(identity: str) -> tuple[str, str]:
    """``(model_name, precision)`` of a recorded embedder identity."""
    if identity.endswith(_SUFFIX):
        return identity[: -len(_SUFFIX)], "bf16"
    return identity, "fp32"


def identity_of(model_name: str, precision: str) -> str:
    """The identity of ``model_name`` computed in ``precision``."""
    return model_name + _SUFFIX if precision == "bf16" else model_name
