"""read_key / read_str: the same answers and errors for dict, pydantic and dataclass states."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import pytest
from pydantic import BaseModel

from ragloom.core.errors import StateUpdateError
from ragloom.core.state_access import read_key, read_str


class QA(BaseModel):
    question: str = "why?"
    hits: list[str] | None = None


@dataclass
class DataQA:
    question: str = "why?"
    hits: list[str] | None = None


# a read-only Mapping (not a dict) used to be read by attribute: every key looked absent
STATES = [
    {"question": "why?", "hits": None},
    QA(),
    DataQA(),
    MappingProxyType({"question": "why?", "hits": None}),
]


@pytest.mark.parametrize("state", STATES, ids=["dict", "pydantic", "dataclass", "mapping"])
def test_present_keys_are_read_and_absent_ones_fall_back_to_the_default(state: object) -> None:
    assert read_key(state, "question", "x.node") == "why?"
    assert read_key(state, "hits", "x.node") is None
    assert read_key(state, "answer", "x.node", None) is None
    assert read_key(state, "answer", "x.node", "") == ""
    assert read_str(state, "question", "x.node", "the question") == "why?"


@pytest.mark.parametrize("state", STATES, ids=["dict", "pydantic", "dataclass", "mapping"])
def test_errors_name_the_component_the_key_and_the_parameter(state: object) -> None:
    missing = r"x\.node node: the state has no key 'answer'; set input_key= to yours"
    with pytest.raises(StateUpdateError, match=missing):
        read_key(state, "answer", "x.node")
    with pytest.raises(StateUpdateError, match=r"no value for 'hits' \(it is None\); set hits_key= to yours"):
        read_key(state, "hits", "x.node", param="hits_key", allow_none=False)
    with pytest.raises(StateUpdateError, match=r"'hits' must hold the question \(str\), got NoneType"):
        read_str(state, "hits", "x.node", "the question")
