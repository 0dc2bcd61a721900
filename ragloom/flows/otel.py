"""OpenTelemetry export of flow runs: a span per run, per step (attempt) and per LLM call.

Spans follow the GenAI semantic conventions for LLM calls (``gen_ai.operation.name``, ``gen_ai.request.model``
``gen_ai.usage.input_tokens`` / ``output_tokens``) plus ``ragloom.cost_usd``. They are built when a run ends,
from its trace, with the recorded wall-clock times, so nesting is exact (subflow steps under their node,
parallel branches as siblings, each retry attempt its own span) and a run without telemetry costs nothing.

Enable with :func:`instrument` (Python), ``ragloom --otel-endpoint URL ...`` or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` environment variables (OTLP over
HTTP/protobuf). Needs the ``otel`` extra.
"""

from __future__ import annotations

import os
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.flows.observers import RunEnd, add_run_observer, remove_run_observer
from ragloom.flows.trace import LLMCall, StepRecord

__all__ = ["OTelExporter", "endpoint_from_env", "instrument"]

_INSTALL_HINT = "OpenTelemetry export needs the `otel` extra: pip install 'ragloom[otel]'"
_NS = 1_000_000_000


def endpoint_from_env() -> str | None:
    """The OTLP traces endpoint the standard environment variables configure, if any."""
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return base.rstrip("/") + "/v1/traces" if base else None


class OTelExporter:
    """Turns finished runs into spans on a tracer (from ``tracer_provider`` or the global provider)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError as e:
            raise ConfigError(_INSTALL_HINT) from e
        provider = tracer_provider or trace.get_tracer_provider()
        from ragloom import __version__

        self._tracer = provider.get_tracer("ragloom", __version__)
        self.provider = provider

    def __call__(self, end: RunEnd) -> None:
        self.export(end)

    def export(self, end: RunEnd) -> None:
        """One run span with its step spans (and theirs) below it."""
        from opentelemetry.trace import Status, StatusCode

        records = end.trace.records
        start = min((r.start for r in records), default=0.0)
        finish = max((r.end for r in records), default=start)
        usage = end.trace.usage
        span = self._tracer.start_span(
            f"flow {end.flow}",
            start_time=_ns(start) if records else None,
            attributes={
                "ragloom.flow": end.flow,
                "ragloom.run_id": end.run_id,
                "ragloom.status": end.status,
                "ragloom.steps": len(records),
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.completion_tokens,
                "ragloom.cost_usd": usage.cost_usd,
            },
        )
        if end.status == "error":
            span.set_status(Status(StatusCode.ERROR, end.error or "run failed"))
        for record in records:
            self._step(record, span)
        span.end(end_time=_ns(finish) if records else None)

    def _step(self, record: StepRecord, parent: Any) -> None:
        from opentelemetry.trace import Status, StatusCode, set_span_in_context

        attributes: dict[str, Any] = {
            "ragloom.node": record.node,
            "ragloom.step": record.step,
            "ragloom.attempt": record.attempt,
            "ragloom.cached": record.cached,
            "ragloom.changed": list(record.changed),
            "gen_ai.usage.input_tokens": record.usage.prompt_tokens,
            "gen_ai.usage.output_tokens": record.usage.completion_tokens,
            "ragloom.cost_usd": record.usage.cost_usd,
            "ragloom.llm_calls": record.usage.calls,
        }
        span = self._tracer.start_span(
            f"step {record.node}",
            context=set_span_in_context(parent),
            start_time=_ns(record.start),
            attributes=attributes,
        )
        if record.error:
            span.set_status(Status(StatusCode.ERROR, record.error))
        for child in record.children:
            self._step(child, span)
        for call in _own_calls(record):
            self._llm_call(call, record, span)
        span.end(end_time=_ns(max(record.end, record.start)))

    def _llm_call(self, call: LLMCall, record: StepRecord, parent: Any) -> None:
        from opentelemetry.trace import SpanKind, set_span_in_context

        started = call.end - call.seconds if call.seconds is not None else record.start
        span = self._tracer.start_span(
            f"chat {call.model}".strip(),
            context=set_span_in_context(parent),
            kind=SpanKind.CLIENT,
            start_time=_ns(max(started, record.start)),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": call.model,
                "gen_ai.usage.input_tokens": call.usage.prompt_tokens,
                "gen_ai.usage.output_tokens": call.usage.completion_tokens,
                "ragloom.cost_usd": call.usage.cost_usd,
                "ragloom.timed": call.seconds is not None,
            },
        )
        span.end(end_time=_ns(call.end))


def _own_calls(record: StepRecord) -> list[LLMCall]:
    """A subflow node's record is charged its children's calls too (usage adds up); each call is one span,
    under the innermost step that made it."""
    if not record.children:
        return record.llm_calls
    nested: set[LLMCall] = set()
    stack = list(record.children)
    while stack:
        child = stack.pop()
        nested.update(child.llm_calls)
        stack.extend(child.children)
    return [c for c in record.llm_calls if c not in nested]


def traces_url(endpoint: str) -> str:
    """``http://host:4318`` or the full ``.../v1/traces`` URL: the OTLP/HTTP traces URL either way."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"OTLP endpoint must be an http(s) URL like http://127.0.0.1:4318, got {endpoint!r}"
        )
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


def _ns(seconds: float) -> int:
    return int(seconds * _NS)


_installed: OTelExporter | None = None


def instrument(
    endpoint: str | None = None, tracer_provider: Any = None, service_name: str = "ragloom"
) -> OTelExporter:
    """Export every run from now on. With ``tracer_provider`` spans go there (e.g. an in-memory exporter in
    tests); otherwise a provider is made that sends OTLP/HTTP to ``endpoint`` (or the OTEL_ variables).
    Calling it again replaces the previous exporter."""
    global _installed
    if tracer_provider is None:
        tracer_provider = _otlp_provider(endpoint or endpoint_from_env(), service_name)
    exporter = OTelExporter(tracer_provider)
    if _installed is not None:
        remove_run_observer(_installed)
    _installed = exporter
    add_run_observer(exporter)
    return exporter


def uninstrument() -> None:
    """Stop exporting (flushes the provider when it can)."""
    global _installed
    if _installed is not None:
        remove_run_observer(_installed)
        flush = getattr(_installed.provider, "force_flush", None)
        if callable(flush):
            flush()
        _installed = None


def _otlp_provider(endpoint: str | None, service_name: str) -> Any:
    if not endpoint:
        raise ConfigError(
            "OpenTelemetry export needs an endpoint: --otel-endpoint http://HOST:4318/v1/traces or "
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://HOST:4318"
        )
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:
        raise ConfigError(_INSTALL_HINT) from e
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint))))
    import atexit

    atexit.register(provider.shutdown)  # flush what is batched when the command ends
    return provider
