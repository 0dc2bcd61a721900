"""Which state keys a client may set, and state as JSON.

A flow's state mixes inputs (``question``) with keys its nodes write and read to steer the run (``context``,
``answer``, loop counters, ...). A client setting those could skip retrieval or plant an answer, so only the
input keys are settable: the keys without a default (a run cannot start without them), the chat input key,
``messages`` and ``where`` (a metadata filter) when declared, and any named with ``--client-key``.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any


def client_keys(compiled: Any, input_key: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The settable keys of ``compiled``'s state; None when the flow has no schema (nothing to check)."""
    schema = getattr(getattr(compiled, "schema", None), "schema", None)
    if schema is None:
        return None
    keys = {input_key, *extra}
    fields = getattr(schema, "model_fields", None)
    if fields is not None:
        keys |= {name for name, info in fields.items() if info.is_required()}
    elif typing.is_typeddict(schema):
        keys |= set(getattr(schema, "__required_keys__", ()))
    declared = getattr(compiled.schema, "keys", {})
    keys |= {"messages", "where"} & set(declared)  # the conversation, and a per-request metadata filter
    return frozenset(keys)


def read_state(state: Any, key: str) -> Any:
    return state.get(key) if isinstance(state, dict) else getattr(state, key, None)


def jsonable(value: Any) -> Any:
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value, fallback=repr)
