"""OpenTelemetry spans of flow runs: the in-memory exporter (tree, attributes) and OTLP/HTTP on loopback."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Annotated, Any, ClassVar

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from ragloom.core.types import Usage
from ragloom.core.usage import report_usage
from ragloom.flows import END, START, Flow, append, node
from ragloom.flows.observers import has_observers
from ragloom.flows.otel import instrument, traces_url, uninstrument


class State(BaseModel):
    question: str = ""
    notes: Annotated[list[str], append] = []
    answer: str = ""


class FakeLLMCall:
    """The collaborator: reports one LLM call's usage the way ragloom's LLM clients do (timed)."""

    def __call__(self, tokens_in: int, tokens_out: int) -> None:
        time.sleep(0.003)  # the "call" takes 3 ms, of which it reports 2 as the model's time
        report_usage(Usage(tokens_in, tokens_out, 0.001, 1), "fake-model", seconds=0.002)


def _flow() -> Any:
    llm = FakeLLMCall()
    failures = {"n": 0}

    def left(state: State) -> dict:
        llm(30, 5)
        return {"notes": ["left"]}

    def right(state: State) -> dict:
        return {"notes": ["right"]}

    @node(retries=1, backoff=0.0)
    def flaky(state: State) -> dict:
        failures["n"] += 1
        if failures["n"] == 1:
            raise RuntimeError("transient")
        return {"notes": ["flaky"]}

    def inner(state: State) -> dict:
        llm(7, 3)
        return {"answer": " ".join(state.notes)}

    sub = Flow(State, name="sub")
    sub.add_node(inner)
    sub.add_edge(START, "inner")
    sub.add_edge("inner", END)

    flow = Flow(State, name="traced")
    flow.add_node(left)
    flow.add_node(right)
    flow.add_node(flaky)
    flow.add_node("answer", sub.compile())
    flow.add_edge(START, "left")
    flow.add_edge(START, "right")
    flow.add_edge(["left", "right"], "flaky")
    flow.add_edge("flaky", "answer")
    flow.add_edge("answer", END)
    return flow.compile()


@pytest.fixture
def memory_spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        uninstrument()


def test_span_tree_covers_run_steps_branches_retries_subflows_and_llm_calls(memory_spans) -> None:
    result = _flow().invoke({"question": "q"})
    spans = memory_spans.get_finished_spans()
    by_name: dict[str, list[Any]] = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    (run,) = by_name["flow traced"]
    assert run.parent is None and run.attributes["ragloom.run_id"] == result.run_id
    assert run.attributes["ragloom.status"] == "done"
    assert (
        run.attributes["gen_ai.usage.input_tokens"] == 37
        and run.attributes["gen_ai.usage.output_tokens"] == 8
    )
    run_id = run.context.span_id
    for name in ("step left", "step right", "step answer"):
        (span,) = by_name[name]
        assert span.parent.span_id == run_id
    flaky = sorted(by_name["step flaky"], key=lambda s: s.attributes["ragloom.attempt"])
    assert [s.attributes["ragloom.attempt"] for s in flaky] == [1, 2]  # each retry attempt is a span
    assert not flaky[0].status.is_ok and flaky[1].status.is_ok
    (inner,) = by_name["step inner"]  # the subflow's step nests under its node's span
    assert inner.parent.span_id == by_name["step answer"][0].context.span_id
    chats = by_name["chat fake-model"]
    assert len(chats) == 2
    parents = {c.parent.span_id for c in chats}
    assert parents == {by_name["step left"][0].context.span_id, inner.context.span_id}
    left_chat = next(c for c in chats if c.parent.span_id == by_name["step left"][0].context.span_id)
    assert left_chat.attributes["gen_ai.operation.name"] == "chat"
    assert left_chat.attributes["gen_ai.request.model"] == "fake-model"
    assert left_chat.attributes["gen_ai.usage.input_tokens"] == 30
    assert left_chat.attributes["ragloom.cost_usd"] == pytest.approx(0.001)
    assert left_chat.end_time - left_chat.start_time == pytest.approx(2_000_000, abs=1_000)
    for s in spans:  # children lie within their parents in time
        if s.parent is not None:
            parent = next(p for p in spans if p.context.span_id == s.parent.span_id)
            assert parent.start_time <= s.start_time and s.end_time <= parent.end_time + 1_000


def test_failed_run_is_an_error_span(memory_spans) -> None:
    def boom(state: State) -> dict:
        raise ValueError("no")

    flow = Flow(State, name="failing")
    flow.add_node(boom)
    flow.add_edge(START, "boom")
    flow.add_edge("boom", END)
    with pytest.raises(Exception, match="no"):
        flow.compile().invoke({})
    (run,) = [s for s in memory_spans.get_finished_spans() if s.name == "flow failing"]
    assert run.attributes["ragloom.status"] == "error" and not run.status.is_ok


def test_off_means_no_observer() -> None:
    uninstrument()
    assert not has_observers()


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append((self.path, self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_otlp_http_export_reaches_a_loopback_receiver() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        exporter = instrument(f"http://127.0.0.1:{server.server_port}")
        _flow().invoke({"question": "q"})
        exporter.provider.force_flush()
    finally:
        uninstrument()
        server.shutdown()
    assert _Receiver.bodies and all(path == "/v1/traces" for path, _ in _Receiver.bodies)
    names = set()
    for _, body in _Receiver.bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "ragloom"
            for scope in resource.scope_spans:
                names |= {s.name for s in scope.spans}
    assert {"flow traced", "step left", "step inner", "chat fake-model"} <= names


def test_endpoint_urls() -> None:
    assert traces_url("http://h:4318") == "http://h:4318/v1/traces"
    assert traces_url("http://h:4318/v1/traces/") == "http://h:4318/v1/traces"
    with pytest.raises(Exception, match="http"):
        traces_url("h:4318")
