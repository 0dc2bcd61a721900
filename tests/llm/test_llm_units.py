"""Pure parts of the LLM layer: retry policy, Retry-After, JSON repair, SSE parsing, pricing, cache keys,
structured-output helpers and message conversions."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from ragloom.core.errors import ConfigError, LLMStreamError
from ragloom.core.types import Message, ToolCall
from ragloom.llm.cache import cache_key
from ragloom.llm.messages import as_messages, message_from_openai, to_openai
from ragloom.llm.pricing import cost_usd, load_prices, price_of, set_price
from ragloom.llm.retry import RetryPolicy, parse_retry_after
from ragloom.llm.sse import DONE, StreamAccumulator, parse_sse_line
from ragloom.llm.structured import extract_json, is_flat_schema
from ragloom.llm.toolcalls import ToolCallParseError, parse_tool_arguments, repair_json


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    now = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:07 GMT", now) == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


@given(st.integers(0, 20), st.floats(0.01, 5), st.floats(0.1, 60))
def test_backoff_is_bounded_by_the_doubling_cap(attempt: int, base: float, cap: float) -> None:
    policy = RetryPolicy(base=base, cap=cap)
    assert 0 <= policy.delay(attempt, rng=random.Random(attempt)) <= min(cap, base * 2**attempt)


def test_retry_after_wins_but_is_capped() -> None:
    assert RetryPolicy(max_wait=10).delay(5, retry_after=3) == 3
    assert RetryPolicy(max_wait=10).delay(0, retry_after=3600) == 10


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": 1,}', {"a": 1}),
        ('```json\n{"a": [1, 2,]}\n```', {"a": [1, 2]}),
        ('{"a": {"b": "x', {"a": {"b": "x"}}),
        ('{"q": "say \\"hi\\""', {"q": 'say "hi"'}),
        ("", {}),
    ],
)
def test_tool_arguments_repair(raw: str, expected: dict) -> None:
    assert parse_tool_arguments("t", raw) == expected


def test_tool_arguments_that_cannot_be_repaired() -> None:
    with pytest.raises(ToolCallParseError, match=r"'calc'.*not valid JSON"):
        parse_tool_arguments("calc", "two plus two")
    with pytest.raises(ToolCallParseError, match="must be a JSON object, got list"):
        parse_tool_arguments("calc", "[1, 2]")


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_repair_keeps_valid_json(obj: dict) -> None:
    text = json.dumps(obj)
    assert json.loads(repair_json(text)) == obj


def test_sse_parsing_and_accumulation() -> None:
    assert parse_sse_line(": keep-alive") is None and parse_sse_line("data: [DONE]") is DONE
    with pytest.raises(LLMStreamError, match="not JSON"):
        parse_sse_line("data: {oops")
    with pytest.raises(LLMStreamError, match="overloaded"):
        parse_sse_line('data: {"error": {"message": "overloaded"}}')
    lines = [
        'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}',
        "",
        'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", '
        '"function": {"name": "add", "arguments": "{\\"a\\": "}}]}}]}',
        'data: {"choices": [{"index": 0, "delta": {"content": "lo", "tool_calls": [{"index": 0, '
        '"function": {"arguments": "1}"}}]}, "finish_reason": "stop"}]}',
        "data: [DONE]",
        'data: {"choices": [{"index": 0, "delta": {"content": "ignored"}}]}',
    ]
    acc = StreamAccumulator()
    assert list(acc.feed_lines(iter(lines))) == ["Hel", "lo"]
    acc.finish()
    assert acc.tool_calls() == (ToolCall("c1", "add", {"a": 1}),) and acc.finish_reason == "stop"


def test_pricing_table_prefix_and_file(tmp_path) -> None:
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini") != price_of("gpt-4o")
    assert price_of("some-local-model") == (0.0, 0.0)
    set_price("my-model", 3.0, 6.0)
    assert cost_usd("my-model", 1_000_000, 500_000) == pytest.approx(6.0)
    path = tmp_path / "prices.json"
    path.write_text('{"their-model": [1, 2]}')
    load_prices(path)
    assert price_of("their-model") == (1.0, 2.0)
    path.write_text('{"bad": 3}')
    with pytest.raises(ConfigError, match="expected"):
        load_prices(path)
    with pytest.raises(ConfigError, match=">= 0"):
        set_price("x", -1, 0)


def test_cache_key_depends_on_everything_that_changes_the_answer() -> None:
    class Answer(BaseModel):
        text: str

    m = (Message("user", "hi"),)
    base = cache_key("m", m, {"max_tokens": 5})
    assert base == cache_key("m", m, {"max_tokens": 5})
    assert base != cache_key("m2", m, {"max_tokens": 5})
    assert base != cache_key("m", (Message("user", "hi!"),), {"max_tokens": 5})
    assert base != cache_key("m", m, {"max_tokens": 6})
    assert cache_key("m", m, {"response_format": Answer}) == cache_key("m", m, {"response_format": Answer})


def test_extract_json_and_flat_schemas() -> None:
    assert extract_json('Sure! ```json\n{"a": 1}\n``` done') == {"a": 1}
    assert extract_json('{"a": "b"') == {"a": "b"}
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("no json here")

    class Flat(BaseModel):
        name: str
        n: int
        ok: bool

    class Nested(BaseModel):
        inner: Flat

    assert is_flat_schema(Flat.model_json_schema()) and not is_flat_schema(Nested.model_json_schema())


def test_messages_round_trip_through_the_openai_shape() -> None:
    msgs = (
        Message("system", "s"),
        Message("assistant", "", tool_calls=(ToolCall("c1", "add", {"a": 1}),)),
        Message("tool", "3", tool_call_id="c1"),
    )
    assert tuple(message_from_openai(d) for d in to_openai(msgs)) == msgs
    assert as_messages("hi") == (Message("user", "hi"),)
    assert as_messages([{"role": "user", "content": [{"type": "text", "text": "a"}]}]) == (
        Message("user", "a"),
    )
    with pytest.raises(ConfigError, match="role 'robot'"):
        as_messages([{"role": "robot", "content": "x"}])
