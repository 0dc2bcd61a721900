"""The state schema: per-key reducers and validators derived once from the user's pydantic model or TypedDict.

Internally a run keeps the state as a plain dict (cheap to copy, merge and checkpoint); the user's type is
only materialised when a node or router looks at it. Update values are checked per key with a fast
``isinstance`` for plain classes and a cached pydantic TypeAdapter for everything else.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, TypeAdapter, ValidationError

from ragloom.core.errors import FlowDefinitionError, StateUpdateError
from ragloom.flows.serde import register_annotation_types

_MISSING: Any = object()
_EMPTY_FACTORIES: dict[Any, Callable[[], Any]] = {list: list, dict: dict, set: set, tuple: tuple}


@dataclass(frozen=True, slots=True)
class KeySpec:
    """How one state key merges (``reducer``; None = replace, one writer per step) and what it accepts."""

    name: str
    annotation: Any
    reducer: Callable[[Any, Any], Any] | None
    check: Callable[[Any], Any]
    empty: Any  # value a reducer sees as ``old`` when the key has no value yet (None when unknown)


def _type_name(tp: Any) -> str:
    if get_origin(tp) is None and isinstance(tp, type):
        return tp.__name__
    return re.sub(r"\b[\w.]+\.(\w+)", r"\1", repr(tp).replace("typing.", ""))  # list[a.b.Hit] -> list[Hit]


def _split_annotated(annotation: Any) -> tuple[Any, Callable[[Any, Any], Any] | None, tuple[Any, ...]]:
    """``Annotated[T, reducer, *meta]`` -> (T, reducer, meta); the reducer is the first callable non-class."""
    if get_origin(annotation) is not typing.Annotated:
        return annotation, None, ()
    base, *meta = get_args(annotation)
    reducer = None
    rest = []
    for item in meta:
        if reducer is None and callable(item) and not isinstance(item, type):
            reducer = item
        else:
            rest.append(item)
    return base, reducer, tuple(rest)


def _make_check(base: Any, meta: tuple[Any, ...]) -> Callable[[Any], Any]:
    """A function ``value -> value`` that raises TypeError/ValueError for a value of the wrong type."""
    if base is Any or base is object:
        return lambda value: value
    plain_class = isinstance(base, type) and get_origin(base) is None and not issubclass(base, BaseModel)
    if plain_class and not meta and base is not float:  # models go through pydantic (dict -> model coercion)

        def check_instance(value: Any) -> Any:
            if isinstance(value, base):
                return value
            raise TypeError(f"expected {_type_name(base)}, got {type(value).__name__}")

        return check_instance
    if base is float and not meta:

        def check_float(value: Any) -> Any:
            if isinstance(value, float):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            raise TypeError(f"expected float, got {type(value).__name__}")

        return check_float
    adapter: TypeAdapter[Any] = TypeAdapter(typing.Annotated[base, *meta] if meta else base)  # type: ignore[valid-type]
    return adapter.validate_python


def _empty_for(base: Any) -> Any:
    origin = get_origin(base) or base
    factory = _EMPTY_FACTORIES.get(origin)
    return factory() if factory else None


class StateSchema:
    """Keys, reducers, validators and defaults of one state type; builds the user-facing view of a dict."""

    def __init__(self, schema: type) -> None:
        self.schema = schema
        self.is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
        if not self.is_model and not typing.is_typeddict(schema):
            raise FlowDefinitionError(
                f"state type {schema!r} must be a pydantic BaseModel or a TypedDict; declare e.g. "
                "class State(BaseModel): question: str"
            )
        hints = self._model_hints(schema) if self.is_model else self._typeddict_hints(schema)
        register_annotation_types(hints.values())  # the types a JSON checkpoint may rebuild
        self.keys: dict[str, KeySpec] = {}
        for key, annotation in hints.items():
            base, reducer, meta = _split_annotated(annotation)
            self.keys[key] = KeySpec(key, base, reducer, _make_check(base, meta), _empty_for(base))
        # a TypedDict's view is a plain copy: ``dict`` itself, so the engine's calls (one or two per step)
        # cost no Python frame
        self.view: Callable[[dict[str, Any]], Any] = self._model_view if self.is_model else dict

    @staticmethod
    def _model_hints(schema: Any) -> dict[str, Any]:
        """Pydantic has resolved the annotations already (also of classes defined in a function)."""
        hints = {}
        for key, info in schema.model_fields.items():
            hints[key] = (
                typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            )
        return hints

    @staticmethod
    def _typeddict_hints(schema: Any) -> dict[str, Any]:
        try:
            return get_type_hints(schema, include_extras=True)
        except Exception as e:  # unresolved forward references
            raise FlowDefinitionError(
                f"cannot resolve the annotations of state type {schema!r}: {e}; define the types it uses "
                "at module level"
            ) from e

    # -- values ----
    def initial(self, values: Any) -> dict[str, Any]:
        """Validate the run input (a dict or an instance of the state type) into the internal dict."""
        if values is None:
            values = {}
        if self.is_model:
            try:
                model = values if isinstance(values, self.schema) else self.schema.model_validate(values)  # type: ignore[attr-defined]
            except ValidationError as e:
                raise StateUpdateError(
                    f"the input of the run does not fit state {self.schema.__name__}: {e}"
                ) from e
            return {k: getattr(model, k) for k in self.keys}
        if type(values) is not dict and not isinstance(values, Mapping):  # (the ABC check is slow)
            raise StateUpdateError(
                f"the input of the run must be a dict of state keys, got {type(values).__name__}"
            )
        state: dict[str, Any] = {}
        for key, value in values.items():
            state[key] = self.check("input", key, value)
        return state

    def check(self, node: str, key: str, value: Any) -> Any:
        """``value`` as stored for ``key``; StateUpdateError naming node, key and expected type otherwise."""
        spec = self.keys.get(key)
        if spec is None:
            raise StateUpdateError(
                f"node {node!r} wrote unknown state key {key!r}; state {self.schema.__name__} has keys "
                f"{sorted(self.keys)}. Add {key!r} to the state type or return only declared keys."
            )
        try:
            return spec.check(value)
        except (TypeError, ValueError) as e:
            raise StateUpdateError(
                f"node {node!r} wrote {key}={_short(value)} of type {type(value).__name__}, but state key "
                f"{key!r} expects {_type_name(spec.annotation)}; return a {_type_name(spec.annotation)} "
                f"(or change the state declaration). Details: {_first_line(e)}"
            ) from e

    def _model_view(self, state: dict[str, Any]) -> Any:
        """``view`` of a pydantic state: the state as the user's type, without re-validation (every stored
        value was checked on write)."""
        schema = self.schema
        obj = schema.__new__(schema)  # type: ignore[call-overload]
        _set = object.__setattr__
        _set(obj, "__dict__", dict(state))
        _set(obj, "__pydantic_fields_set__", set(state))
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj

    def dump(self, state: Any) -> dict[str, Any]:
        """The plain dict of a state object (inverse of :meth:`view`)."""
        if isinstance(state, dict):
            return dict(state)
        return {k: getattr(state, k) for k in self.keys if hasattr(state, k)}


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:3])
