"""State field types written as text in YAML flows, parsed by a tiny grammar (never ``eval``).

A flow file declares its state as ``key: "list[Hit]"`` or ``key: {type: "int", reducer: add, default: 0}``.
This module turns such specs into a pydantic model (``pydantic.create_model``) and, the other way round,
derives the spec of a Python-declared state model so that ``Flow.to_yaml`` can write it back. Parsing is a
hand-written recursive descent over a fixed vocabulary, so a flow file cannot name arbitrary Python types.

Grammar::

    type    := primary ("|" primary)*
    primary := NAME | NAME "[" type ("," type)* "]"
    NAME    := str | int | float | bool | Any | None | Hit | Chunk | Document | Message | Usage
             | list | dict | Optional
"""

from __future__ import annotations

import functools
import operator
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, create_model

from ragloom.core.errors import FlowDefinitionError
from ragloom.core.types import Chunk, Document, Hit, Message, Usage

#: Scalar and record names a spec may use, mapped to the Python type they stand for.
SCALARS: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "Any": Any,
    "None": type(None),
    "Hit": Hit,
    "Chunk": Chunk,
    "Document": Document,
    "Message": Message,
    "Usage": Usage,
}
#: Generic names and how many type arguments they take.
GENERICS: dict[str, int] = {"list": 1, "dict": 2, "Optional": 1}
#: Reducer names a YAML state field may use (the objects live in ``ragloom.flows``).
REDUCER_NAMES: tuple[str, ...] = ("replace", "append", "add", "merge_dict")

#: A valid example of each generic, for error messages (``dict`` alone is not a type here).
_EXAMPLES: dict[str, str] = {"list": "list[str]", "dict": "dict[str, Any]", "Optional": "Optional[str]"}

MISSING: Any = object()  # marks "no default": the field is required

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[\[\],|]))")


@dataclass(frozen=True)
class TypeExpr:
    """A parsed type: ``name`` with type arguments (``list[str]`` -> TypeExpr("list", (TypeExpr("str"),)))."""

    name: str
    args: tuple[TypeExpr, ...] = ()

    def render(self) -> str:
        """The canonical text of this type (``Optional[X]`` is written ``X | None``)."""
        if self.name == "|":
            return " | ".join(a.render() for a in self.args)
        if not self.args:
            return self.name
        return f"{self.name}[{', '.join(a.render() for a in self.args)}]"

    def to_python(self) -> Any:
        """The Python type this expression stands for."""
        if self.name == "|":
            return _union([a.to_python() for a in self.args])
        if self.name == "list":
            return list[self.args[0].to_python()]  # type: ignore[misc]
        if self.name == "dict":
            return dict[self.args[0].to_python(), self.args[1].to_python()]  # type: ignore[misc]
        return SCALARS[self.name]


def _union(members: list[Any]) -> Any:
    return functools.reduce(operator.or_, members)


class TypeSpecError(ValueError):
    """A type spec does not parse; the message says which token and what is allowed."""


def parse_type(text: str) -> TypeExpr:
    """Parse ``text`` into a TypeExpr; raise TypeSpecError naming the bad token and the allowed names."""
    if not isinstance(text, str) or not text.strip():
        raise TypeSpecError(f"a type must be a non-empty string such as 'str' or 'list[Hit]', got {text!r}")
    tokens = _tokenize(text)
    expr, pos = _parse_union(tokens, 0, text)
    if pos != len(tokens):
        raise TypeSpecError(f"unexpected {tokens[pos]!r} in type {text!r}")
    return expr


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise TypeSpecError(f"unexpected character {text[pos:].strip()[0]!r} in type {text!r}")
        tokens.append(m.group("name") or m.group("punct"))
        pos = m.end()
    return tokens


def _parse_union(tokens: list[str], pos: int, text: str) -> tuple[TypeExpr, int]:
    members = []
    expr, pos = _parse_primary(tokens, pos, text)
    members.append(expr)
    while pos < len(tokens) and tokens[pos] == "|":
        expr, pos = _parse_primary(tokens, pos + 1, text)
        members.append(expr)
    flat: list[TypeExpr] = []
    for m in members:
        flat.extend(m.args if m.name == "|" else (m,))
    return (flat[0], pos) if len(flat) == 1 else (TypeExpr("|", tuple(flat)), pos)


def _parse_primary(tokens: list[str], pos: int, text: str) -> tuple[TypeExpr, int]:
    if pos >= len(tokens):
        raise TypeSpecError(f"type {text!r} ends early; expected a type name")
    name = tokens[pos]
    if name not in SCALARS and name not in GENERICS:
        allowed = ", ".join([*SCALARS, *(f"{g}[...]" for g in GENERICS)])
        raise TypeSpecError(f"unknown type name {name!r} in {text!r}; allowed: {allowed}")
    pos += 1
    if name in SCALARS:
        return TypeExpr(name), pos
    if pos >= len(tokens) or tokens[pos] != "[":
        raise TypeSpecError(
            f"{name} needs {GENERICS[name]} type argument(s) in brackets, e.g. {_EXAMPLES[name]}"
        )
    args = []
    while True:
        arg, pos = _parse_union(tokens, pos + 1, text)
        args.append(arg)
        if pos < len(tokens) and tokens[pos] == ",":
            continue
        if pos < len(tokens) and tokens[pos] == "]":
            pos += 1
            break
        raise TypeSpecError(f"expected ',' or ']' in type {text!r}")
    return _make_generic(name, tuple(args), text), pos


def _make_generic(name: str, args: tuple[TypeExpr, ...], text: str) -> TypeExpr:
    if len(args) != GENERICS[name]:
        raise TypeSpecError(
            f"{name}[...] takes {GENERICS[name]} type argument(s), got {len(args)} in {text!r}"
        )
    if name == "Optional":
        return TypeExpr("|", (*(args[0].args if args[0].name == "|" else args), TypeExpr("None")))
    if name == "dict" and args[0].name != "str":
        raise TypeSpecError(
            f"dict keys must be str (JSON/YAML object keys), got {args[0].render()} in {text!r}"
        )
    return TypeExpr(name, args)


def type_from_python(annotation: Any) -> TypeExpr:
    """The TypeExpr for a Python annotation, or TypeSpecError when the grammar cannot express it."""
    if annotation is type(None) or annotation is None:
        return TypeExpr("None")
    for name, py in SCALARS.items():
        if annotation is py:
            return TypeExpr(name)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return type_from_python(args[0])
    if origin in (typing.Union, types.UnionType):
        members: list[TypeExpr] = []
        for a in args:
            t = type_from_python(a)
            members.extend(t.args if t.name == "|" else (t,))
        return TypeExpr("|", tuple(members))
    if origin is list and len(args) == 1:
        return TypeExpr("list", (type_from_python(args[0]),))
    if origin is dict and len(args) == 2 and args[0] is str:
        return TypeExpr("dict", (TypeExpr("str"), type_from_python(args[1])))
    raise TypeSpecError(
        f"type {annotation!r} has no YAML spelling; use str, int, float, bool, Any, Hit, Chunk, "
        "list[T], dict[str, T] or T | None"
    )


@dataclass(frozen=True)
class FieldSpec:
    """One state field as YAML writes it: a type spec, a reducer name and an optional default."""

    type: str
    reducer: str = "replace"
    default: Any = MISSING

    def to_yaml_value(self) -> Any:
        """``"str"`` when only the type is set, else ``{type, reducer?, default?}``."""
        if self.reducer == "replace" and self.default is MISSING:
            return self.type
        out: dict[str, Any] = {"type": self.type}
        if self.reducer != "replace":
            out["reducer"] = self.reducer
        if self.default is not MISSING:
            out["default"] = self.default
        return out


def reducers_by_name() -> dict[str, Callable[..., Any]]:
    """The engine's named reducers (``ragloom.flows.reducers``)."""
    from ragloom.flows.reducers import BUILTIN_REDUCERS

    return {name: BUILTIN_REDUCERS[name] for name in REDUCER_NAMES}


def build_state_model(model_name: str, fields: Mapping[str, FieldSpec]) -> type[BaseModel]:
    """A pydantic model with one field per spec (reducers as ``Annotated`` metadata); remembers the specs."""
    reducers = reducers_by_name()
    definitions: dict[str, Any] = {}
    for key, spec in fields.items():
        py_type = parse_type(spec.type).to_python()
        if spec.reducer not in reducers:
            raise TypeSpecError(f"unknown reducer {spec.reducer!r}; use one of {', '.join(REDUCER_NAMES)}")
        if spec.reducer != "replace":
            py_type = Annotated[py_type, reducers[spec.reducer]]
        definitions[key] = (py_type, ... if spec.default is MISSING else spec.default)
    model = create_model(  # type: ignore[call-overload]
        model_name, __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **definitions
    )
    model.__ragloom_state_spec__ = dict(fields)
    return typing.cast(type[BaseModel], model)


def state_spec(schema: Any) -> dict[str, FieldSpec]:
    """The field specs of a state type: the ones it was built from, else derived from its annotations.

    Raises TypeSpecError naming the field when a type, reducer or default has no YAML spelling.
    """
    remembered = getattr(schema, "__ragloom_state_spec__", None)
    if remembered is not None:
        return dict(remembered)
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return {name: _spec_of_model_field(name, info) for name, info in schema.model_fields.items()}
    hints = typing.get_type_hints(schema, include_extras=True)  # a TypedDict
    return {name: _field_spec(name, hint, [], MISSING) for name, hint in hints.items()}


def _spec_of_model_field(name: str, info: Any) -> FieldSpec:
    if info.is_required():
        default = MISSING
    elif info.default_factory is not None:
        default = info.default_factory()
    else:
        default = info.default
    return _field_spec(name, info.annotation, list(info.metadata), default)


def _field_spec(name: str, annotation: Any, metadata: list[Any], default: Any) -> FieldSpec:
    if typing.get_origin(annotation) is Annotated:
        metadata = [*typing.get_args(annotation)[1:], *metadata]
    try:
        type_text = type_from_python(annotation).render()
    except TypeSpecError as e:
        raise TypeSpecError(f"state field {name!r}: {e}") from None
    names = {id(fn): n for n, fn in reducers_by_name().items()}
    reducer = "replace"
    for item in metadata:
        if callable(item):
            if id(item) not in names:
                raise TypeSpecError(
                    f"state field {name!r} uses the custom reducer {item!r}, which YAML cannot name; "
                    f"use one of {', '.join(REDUCER_NAMES)}"
                )
            reducer = names[id(item)]
    if default is not MISSING and not is_plain_data(default):
        raise TypeSpecError(f"state field {name!r} has default {default!r}, which is not plain YAML data")
    return FieldSpec(type_text, reducer, default)


def is_plain_data(value: Any) -> bool:
    """True for values YAML writes and reads back unchanged (None, bool, numbers, str, lists, dicts)."""
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list):
        return all(is_plain_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain_data(v) for k, v in value.items())
    return False


def field_spec_from_yaml(key: str, value: Any, where: Callable[[str], FlowDefinitionError]) -> FieldSpec:
    """Read one ``state:`` entry (a type string or a ``{type, reducer, default}`` mapping).

    ``where(message)`` builds the located error for this entry.
    """
    if isinstance(value, str):
        spec = FieldSpec(value)
    elif isinstance(value, Mapping):
        unknown = set(value) - {"type", "reducer", "default"}
        if unknown:
            raise where(
                f"state field {key!r} has unknown setting(s) {sorted(unknown)}; "
                "allowed: type, reducer, default"
            )
        if "type" not in value:
            raise where(f"state field {key!r} needs a type, e.g. {{type: str}}")
        spec = FieldSpec(value["type"], value.get("reducer", "replace"), value.get("default", MISSING))
    else:
        raise where(
            f"state field {key!r} must be a type string like 'str' or a mapping {{type, reducer, default}}"
        )
    if spec.reducer not in REDUCER_NAMES:
        raise where(
            f"state field {key!r}: unknown reducer {spec.reducer!r}; use one of {', '.join(REDUCER_NAMES)}"
        )
    try:
        canonical = parse_type(spec.type).render()
    except TypeSpecError as e:
        raise where(f"state field {key!r}: {e}") from None
    return FieldSpec(canonical, spec.reducer, spec.default)
