"""State updates: types are checked per key, unknown keys and bad returns are refused, conflicting writes
are detected, reducers merge."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel, Field

from ragloom.core.errors import ConflictingWriteError, StateUpdateError
from ragloom.core.types import Chunk, Hit
from ragloom.flows import END, START, Flow, add, append, merge_dict, replace


class QA(BaseModel):
    question: str
    hits: Annotated[list[Hit], append] = []
    score: float = 0.0
    tags: list[str] = []
    k: Annotated[int, Field(ge=1)] = 3


def one_node(state_type: type, fn: Any) -> Any:
    flow = Flow(state_type, name="one")
    flow.add_node("writer", fn)
    flow.add_edge(START, "writer")
    flow.add_edge("writer", END)
    return flow.compile()


def test_wrong_type_names_node_key_and_expected_type() -> None:
    with pytest.raises(StateUpdateError) as info:
        one_node(QA, lambda s: {"question": 42}).invoke({"question": "q"})
    msg = str(info.value)
    assert "node 'writer'" in msg
    assert "question=42" in msg and "type int" in msg
    assert "expects str" in msg
    assert info.value.trace.nodes == ["writer"]  # type: ignore[attr-defined]


def test_wrong_element_type_in_generic_list() -> None:
    with pytest.raises(StateUpdateError, match=r"node 'writer'.*'tags' expects list\[str\]"):
        one_node(QA, lambda s: {"tags": ["ok", 3]}).invoke({"question": "q"})


def test_constraint_from_annotated_field_is_enforced() -> None:
    with pytest.raises(StateUpdateError, match=r"'k' expects int"):
        one_node(QA, lambda s: {"k": 0}).invoke({"question": "q"})


def test_int_is_accepted_for_float_key() -> None:
    result = one_node(QA, lambda s: {"score": 1}).invoke({"question": "q"})
    assert result.state.score == 1.0 and isinstance(result.state.score, float)


def test_reducer_result_is_checked_against_key_type() -> None:
    hit = Hit(Chunk("text", "d", 0, 4), 1.0)
    result = one_node(QA, lambda s: {"hits": [hit]}).invoke({"question": "q"})
    assert result.state.hits == [hit]
    with pytest.raises(StateUpdateError, match=r"node 'writer'.*'hits' expects list\[.*Hit\]"):
        one_node(QA, lambda s: {"hits": ["not a hit"]}).invoke({"question": "q"})


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(
        StateUpdateError, match=r"node 'writer' wrote unknown state key 'answr'.*\['hits', 'k'"
    ):
        one_node(QA, lambda s: {"answr": "x"}).invoke({"question": "q"})


def test_non_dict_return() -> None:
    with pytest.raises(StateUpdateError, match=r"node 'writer' returned str; a node must return a dict"):
        one_node(QA, lambda s: "oops").invoke({"question": "q"})


def test_invalid_run_input() -> None:
    with pytest.raises(StateUpdateError, match="input of the run does not fit state QA"):
        one_node(QA, lambda s: None).invoke({"question": 1.5})


def test_typed_dict_input_and_update_checks() -> None:
    class T(TypedDict, total=False):
        count: int
        notes: Annotated[dict[str, str], merge_dict]

    compiled = one_node(T, lambda s: {"count": s["count"] + 1, "notes": {"b": "2"}})
    assert compiled.invoke({"count": 1, "notes": {"a": "1"}}).state == {
        "count": 2,
        "notes": {"a": "1", "b": "2"},
    }
    with pytest.raises(StateUpdateError, match=r"node 'input'.*'count' expects int"):
        compiled.invoke({"count": "one"})


def test_conflicting_writes_name_key_and_both_nodes() -> None:
    class C(BaseModel):
        answer: str = ""

    flow = Flow(C)
    flow.add_node("left", lambda s: {"answer": "L"})
    flow.add_node("right", lambda s: {"answer": "R"})
    for name in ("left", "right"):
        flow.add_edge(START, name)
        flow.add_edge(name, END)
    with pytest.raises(ConflictingWriteError) as info:
        flow.compile().invoke({})
    msg = str(info.value)
    assert "'left' and 'right' both wrote state key 'answer' in step 1" in msg
    assert "reducer" in msg


def test_reducer_failure_is_a_state_update_error() -> None:
    class N(BaseModel):
        total: Annotated[int, add] = 0

    with pytest.raises(StateUpdateError, match=r"node 'writer': reducer 'add' of state key 'total' failed"):
        one_node(N, lambda s: {"total": "x"}).invoke({})


def test_reducers_as_functions() -> None:
    assert append(None, 1) == [1]
    assert append([1], (2, 3)) == [1, 2, 3]
    assert add(None, 2) == 2 and add(2, 3) == 5 and add("a", "b") == "ab"
    assert merge_dict({"a": 1}, {"a": 2, "b": 3}) == {"a": 2, "b": 3}
    assert replace(1, 2) == 2
    old = [1]
    append(old, 2)
    assert old == [1]  # reducers never mutate the current value


def test_node_sees_pydantic_state_object() -> None:
    seen: list[Any] = []

    def look(state: QA) -> None:
        seen.append(state)

    one_node(QA, look).invoke({"question": "why"})
    assert isinstance(seen[0], QA)
    assert seen[0].question == "why" and seen[0].hits == [] and seen[0].k == 3
    assert seen[0].model_dump()["question"] == "why"


def test_nested_model_key_accepts_a_dict() -> None:
    class Address(BaseModel):
        city: str

    class P(BaseModel):
        address: Address | None = None

    result = one_node(P, lambda s: {"address": {"city": "Oslo"}}).invoke({})
    assert result.state.address == Address(city="Oslo")
    with pytest.raises(StateUpdateError, match="'address' expects"):
        one_node(P, lambda s: {"address": {"town": "Oslo"}}).invoke({})
