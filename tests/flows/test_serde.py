"""Typed JSON for checkpoints: values round-trip, and only allowlisted classes are ever rebuilt."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk, Completion, Hit, Message, ToolCall, Usage
from ragloom.flows.serde import decode, dumps, encode, loads, register_annotation_types


@dataclass(frozen=True)
class Note:
    text: str
    when: dt.date


class Card(BaseModel):
    notes: list[Note] = []


class Unlisted(BaseModel):
    x: int = 0


VALUES: list[Any] = [
    None,
    True,
    3,
    2.5,
    "ü",
    [1, [2, (3, 4)]],
    (1, "a", None),
    {1: "int key", (2, 3): "tuple key"},
    {"__rl__": "not a tag", "x": 1},
    {"a", "b"},
    frozenset({1}),
    b"\x00\xff",
    dt.datetime(2026, 12, 4, 19, 30, tzinfo=dt.UTC),
    dt.date(2026, 1, 2),
    Hit(Chunk("t", "d", 0, 1, {"k": [1, 2]}), 0.25, "bm25"),
    Message("assistant", "", tool_calls=(ToolCall("c1", "search", {"q": "x"}),)),
    Completion("hi", Usage(1, 2, 0.5, 1), logprobs=(-0.1,)),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_round_trip(value: Any) -> None:
    assert loads(dumps({"v": value}, "json"), "json", "test") == {"v": value}


def test_declared_user_types_round_trip_and_undeclared_are_refused() -> None:
    register_annotation_types([list[Card]])  # what building a state schema with `cards: list[Card]` does
    card = Card(notes=[Note("n", dt.date(2026, 1, 1))])
    assert decode(json.loads(json.dumps(encode(card)))) == card
    with pytest.raises(ConfigError, match="not a declared state type"):
        decode(encode(Unlisted(x=1)))


def test_bad_tags_and_values_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="unknown value tag 'exec'"):
        decode({"__rl__": "exec", "code": "print(1)"})
    with pytest.raises(ConfigError, match="malformed 'bytes'"):
        decode({"__rl__": "bytes", "b64": "***"})
    with pytest.raises(ConfigError, match="not a declared state type"):
        decode({"__rl__": "obj", "type": "ragloom.core.types:_private", "fields": {}})
    with pytest.raises(TypeError, match="no JSON form"):
        encode(object())


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        [1.5, float("inf"), None],
        {"deep": [{"x": -float("inf")}], "none": None},
        2**70,
        [-(2**64), "null"],
        "\u2028 ü \U0001f600",
    ],
    ids=["nan", "inf-in-list", "nested-neg-inf", "big-int", "big-neg-int", "unicode"],
)
def test_values_the_fast_writer_cannot_hold_go_through_the_json_module(value: Any) -> None:
    """orjson writes NaN/inf as null and refuses integers beyond 64 bits: those documents must still
    round-trip exactly (NaN compared via repr)."""
    got = loads(dumps({"v": value}, "json"), "json", "test")["v"]
    assert repr(got) == repr(value)


def test_the_checkpoint_writer_writes_the_bytes_of_the_general_path() -> None:
    from ragloom.flows.checkpoint import Checkpoint
    from ragloom.flows.checkpoint_doc import dumps_checkpoint, encode_doc
    from ragloom.flows.control import Interrupt, Send
    from ragloom.flows.trace import StepRecord

    child = StepRecord("inner", 1, 1.0, 2.0, ("y",))
    records = (
        StepRecord("a", 3, 1.5, 2.5, ("x",), None, Usage(), 1, False, (child,)),
        StepRecord("b", 3, 1.5, 2.75, (), "ValueError: boom", Usage(3, 4, 0.01, 1), 2, True),
    )
    checkpoints = [
        Checkpoint("r", 0, {}, ()),
        Checkpoint(
            "r", 3, {"x": 1, "t": (1, 2), "n": float("nan")}, ("a",), {2: ("a", "b")}, records=records
        ),
        Checkpoint(
            "r",
            4,
            {"x": 1},
            ("a", Send("b", {"doc": 1})),
            status="interrupted",
            records=records,
            interrupts=(Interrupt("a@4", "a", {"ask": 4}),),
        ),
    ]
    for cp in checkpoints:
        assert dumps_checkpoint(cp, "json") == dumps(encode_doc(cp), "json")


def test_is_flat_is_false_for_anything_the_fast_writer_would_change() -> None:
    from ragloom.flows.serde import is_flat

    assert is_flat({"a": 1, "b": "x", "c": None, "d": 1.5, "e": True})
    for value in (
        {"a": float("nan")},
        {"a": float("-inf")},
        {"a": (1,)},
        {1: 1},
        {"__rl__": 1},
        [1],
        {"a": [1]},
    ):
        assert not is_flat(value), value
