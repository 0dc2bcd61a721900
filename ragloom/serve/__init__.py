"""Serve any flow over HTTP (Starlette on uvicorn): ``ragloom serve FLOW.yaml``.

An OpenAI-compatible API (chat completions, streaming, models, embeddings) plus ``/runs`` for whole states,
hardened for clients nobody here wrote: OpenAI-shaped 4xx errors that name the field, bounded bodies and
concurrency, an optional API key (required beyond loopback), Host/Origin checks, per-run tokens, and runs
cancelled when their client goes away.

Modules: :mod:`~ragloom.serve.app` (routes), :mod:`~ragloom.serve.chat` (chat fields and answers),
:mod:`~ragloom.serve.streaming` (SSE), :mod:`~ragloom.serve.embeddings`, :mod:`~ragloom.serve.body` (safe
reading), :mod:`~ragloom.serve.guard` (auth, Host, Origin), :mod:`~ragloom.serve.limits` (slots, run tokens),
:mod:`~ragloom.serve.options` (per-request LLM options, cancellation), :mod:`~ragloom.serve.errors`,
:mod:`~ragloom.serve.server` (uvicorn in a thread).
"""

from ragloom.serve.app import FlowApp, ServeConfig, create_app, trace_payload
from ragloom.serve.guard import check_exposure, is_loopback
from ragloom.serve.server import ServerThread, serving

__all__ = [
    "FlowApp",
    "ServeConfig",
    "ServerThread",
    "check_exposure",
    "create_app",
    "is_loopback",
    "serving",
    "trace_payload",
]
