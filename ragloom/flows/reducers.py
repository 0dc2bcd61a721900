"""Reducers: how a node's update to a state key merges with the current value.

Declared per key with ``Annotated[list[str], append]``. A key without a reducer is replaced, and two writes
to it in one step are a conflict. Any ``callable(old, new) -> merged`` works as a reducer; ``old`` is the
current value (the type's empty value, e.g. ``[]``, when the key has none yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def replace(old: Any, new: Any) -> Any:
    """The new value wins (the default). Declaring it explicitly still allows several writers per step."""
    return new


def append(old: Any, new: Any) -> list[Any]:
    """Extend a list: a list/tuple update adds its items, any other value is added as one item."""
    base = list(old) if old is not None else []
    if isinstance(new, (list, tuple)):
        base.extend(new)
    else:
        base.append(new)
    return base


def add(old: Any, new: Any) -> Any:
    """``old + new`` (numbers, strings, lists); the first write just sets the value."""
    return new if old is None else old + new


def merge_dict(old: Mapping[Any, Any] | None, new: Mapping[Any, Any]) -> dict[Any, Any]:
    """Shallow dict merge; keys in ``new`` win."""
    merged = dict(old) if old is not None else {}
    merged.update(new)
    return merged


BUILTIN_REDUCERS: dict[str, Any] = {
    "replace": replace,
    "append": append,
    "add": add,
    "merge_dict": merge_dict,
}


_NO_DELTA: Any = object()


def delta(reducer: Any, old: Any, new: Any) -> Any:
    """The update that ``reducer`` turns ``old`` into ``new`` with, or ``_NO_DELTA`` when it cannot be told.

    A subflow returns final values; for keys with a builtin reducer the parent merges only what the subflow
    added, so that a subflow composes with parallel writers of the same key like any other node.
    """
    if old is None:
        return _NO_DELTA
    if reducer is append or (reducer is add and isinstance(new, (list, str))):
        if type(new) is type(old) and new[: len(old)] == old:
            return new[len(old) :]
    elif reducer is add and isinstance(new, (int, float)) and isinstance(old, (int, float)):
        return new - old
    elif reducer is merge_dict and isinstance(new, dict) and isinstance(old, dict):
        return {k: v for k, v in new.items() if k not in old or (old[k] is not v and old[k] != v)}
    return _NO_DELTA


def is_delta(value: Any) -> bool:
    return value is not _NO_DELTA


@dataclass(frozen=True, slots=True)
class RemoveMessage:
    """An update item for :func:`add_messages` that deletes the message with this id."""

    id: str


def _message_id(message: Any) -> Any:
    if isinstance(message, Mapping):
        return message.get("id")
    return getattr(message, "id", None)


def add_messages(old: Any, new: Any) -> list[Any]:
    """A conversation: new messages are appended, one with the id of an existing message replaces it, a
    ``RemoveMessage(id)`` deletes it. Messages are dicts or objects; the id is ``m["id"]`` or ``m.id``
    (messages without an id are always appended)."""
    out: list[Any] = list(old) if old is not None else []
    items = list(new) if isinstance(new, (list, tuple)) else [new]
    where = {mid: i for i, m in enumerate(out) if (mid := _message_id(m)) is not None}
    removed: set[int] = set()
    for item in items:
        mid = _message_id(item)
        if isinstance(item, RemoveMessage):
            if item.id not in where:
                raise ValueError(f"RemoveMessage({item.id!r}): no message has that id")
            removed.add(where.pop(item.id))
        elif mid is not None and mid in where:
            out[where[mid]] = item
        else:
            if mid is not None:
                where[mid] = len(out)
            out.append(item)
    return [m for i, m in enumerate(out) if i not in removed] if removed else out


BUILTIN_REDUCERS["add_messages"] = add_messages
