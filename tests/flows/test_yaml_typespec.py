"""The state-type mini grammar, state specs both ways, and the `when:` router."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel, ValidationError

from ragloom.core.errors import FlowError
from ragloom.core.types import Chunk, Hit
from ragloom.flows import add, append, merge_dict
from ragloom.flows.typespec import (
    MISSING,
    FieldSpec,
    TypeSpecError,
    build_state_model,
    parse_type,
    state_spec,
    type_from_python,
)
from ragloom.flows.when import Condition, WhenRouter


@pytest.mark.parametrize(
    ("text", "canonical", "python"),
    [
        ("str", "str", str),
        ("int", "int", int),
        (" list[ str ] ", "list[str]", list[str]),
        ("dict[str,list[Hit]]", "dict[str, list[Hit]]", dict[str, list[Hit]]),
        ("Hit | None", "Hit | None", Hit | None),
        ("Optional[int]", "int | None", int | None),
        ("list[Chunk] | str | None", "list[Chunk] | str | None", list[Chunk] | str | None),
        ("Any", "Any", Any),
    ],
)
def test_parse_render_and_python_type(text: str, canonical: str, python: Any) -> None:
    expr = parse_type(text)
    assert expr.render() == canonical
    assert expr.to_python() == python
    assert type_from_python(python).render() == canonical


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("os.system", "unexpected character '.'"),
        ("__import__", "unknown type name '__import__'"),
        ("list", "needs 1 type argument"),
        ("list[str", "expected ',' or ']'"),
        ("dict[int, str]", "dict keys must be str"),
        ("list[str, int]", "takes 1 type argument"),
        ("str]", "unexpected ']'"),
        ("", "non-empty string"),
    ],
)
def test_bad_type_specs_say_what_is_allowed(text: str, needle: str) -> None:
    with pytest.raises(TypeSpecError, match=None) as info:
        parse_type(text)
    assert needle in str(info.value)


def test_built_model_validates_and_keeps_reducers_and_spec() -> None:
    fields = {
        "question": FieldSpec("str"),
        "hits": FieldSpec("list[Hit]", "append", []),
        "count": FieldSpec("int", "add", 0),
        "meta": FieldSpec("dict[str, Any]", "merge_dict", {}),
    }
    model = build_state_model("QAState", fields)
    state = model(question="q")
    assert state.hits == [] and state.count == 0  # type: ignore[attr-defined]
    assert model.model_fields["hits"].metadata == [append]
    assert model.model_fields["count"].metadata == [add]
    assert model.model_fields["meta"].metadata == [merge_dict]
    assert state_spec(model) == fields
    with pytest.raises(ValidationError):
        model(question=3)
    with pytest.raises(ValidationError):  # YAML-declared states refuse unknown keys (typos in --input)
        model(question="q", questoin="typo")


def test_spec_derived_from_python_model_and_typeddict() -> None:
    class QA(BaseModel):
        question: str
        hits: Annotated[list[Hit], append] = []
        answer: str = ""
        best: Hit | None = None

    assert state_spec(QA) == {
        "question": FieldSpec("str"),
        "hits": FieldSpec("list[Hit]", "append", []),
        "answer": FieldSpec("str", default=""),
        "best": FieldSpec("Hit | None", default=None),
    }

    class TD(TypedDict):
        n: Annotated[int, add]
        tags: list[str]

    assert state_spec(TD) == {"n": FieldSpec("int", "add"), "tags": FieldSpec("list[str]")}
    assert FieldSpec("str").to_yaml_value() == "str"
    assert FieldSpec("int", "add", 0).to_yaml_value() == {"type": "int", "reducer": "add", "default": 0}
    assert FieldSpec("int").default is MISSING


def test_inexpressible_python_state_names_the_field() -> None:
    class Odd(BaseModel):
        when: set[int] = set()

    with pytest.raises(TypeSpecError, match="state field 'when'"):
        state_spec(Odd)

    class CustomReducer(BaseModel):
        total: Annotated[int, lambda a, b: max(a, b)] = 0

    with pytest.raises(TypeSpecError, match="custom reducer"):
        state_spec(CustomReducer)


class S(BaseModel):
    n: int = 0
    tags: list[str] = []
    flag: bool = False
    name: str = ""


@pytest.mark.parametrize(
    ("op", "value", "state", "expected"),
    [
        ("==", 2, S(n=2), True),
        ("!=", 2, S(n=2), False),
        ("<", 3, S(n=2), True),
        ("<=", 2, S(n=2), True),
        (">", 2, S(n=2), False),
        (">=", 2, S(n=2), True),
        ("in", [1, 2], S(n=2), True),
        ("not in", [1, 2], S(n=2), False),
        ("truthy", None, S(flag=True), True),
        ("falsy", None, S(flag=True), False),
    ],
)
def test_condition_ops(op: str, value: Any, state: S, expected: bool) -> None:
    key = "flag" if op in ("truthy", "falsy") else "n"
    assert Condition(key, op, value).holds(state) is expected
    assert Condition(key, op, value).holds(state.model_dump()) is expected  # TypedDict states are dicts


def test_when_router_first_match_else_fanout_and_yaml() -> None:
    router = WhenRouter(
        ((Condition("n", "<", 3), "loop"), (Condition("tags", "contains", "x"), ("a", "b"))),
        default="__end__",
        source="grade",
    )
    assert router(S(n=1)) == "loop"
    assert router(S(n=5, tags=["x"])) == ["a", "b"]
    assert router(S(n=5)) == "__end__"
    assert router.targets == ["loop", "a", "b", "__end__"]
    assert router.to_yaml_dict() == {
        "when": [
            {"if": {"key": "n", "op": "<", "value": 3}, "to": "loop"},
            {"if": {"key": "tags", "op": "contains", "value": "x"}, "to": ["a", "b"]},
            {"else": "__end__"},
        ]
    }


def test_when_router_errors_are_explicit() -> None:
    no_else = WhenRouter(((Condition("n", "==", 1), "a"),), source="grade")
    with pytest.raises(FlowError, match="no when-condition matched after node 'grade'"):
        no_else(S(n=2))
    with pytest.raises(FlowError, match="state has no key 'missing'"):
        Condition("missing", "truthy").holds(S())
    with pytest.raises(FlowError, match="cannot evaluate name < 3"):
        Condition("name", "<", 3).holds(S())
    with pytest.raises(ValueError, match="unknown operator '=~'"):
        Condition("n", "=~", 1)


def test_bare_generic_suggests_a_type_that_is_accepted() -> None:
    from ragloom.flows.typespec import TypeSpecError, parse_type

    for bare in ("dict", "list", "Optional"):
        with pytest.raises(TypeSpecError) as info:
            parse_type(bare)
        suggestion = str(info.value).rsplit("e.g. ", 1)[1]
        parse_type(suggestion)  # the suggestion itself parses
