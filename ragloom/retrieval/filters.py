"""Metadata filters (``where``): a small Mongo/chroma-style language, compiled once, checked at the edges.

A filter is a mapping of field conditions, all of which must hold::

    {"source": {"$glob": "*.pdf"}, "page": {"$gte": 3, "$lte": 9}}
    {"$or": [{"format": "html"}, {"doc_id": {"$in": ["a", "b"]}}]}

- a scalar value means equality; operators: ``$eq $ne $in $nin`` (any scalar), ``$gt $gte $lt $lte``
  (numbers), ``$prefix`` (a path prefix: ``"docs"`` matches ``docs/a.pdf`` but not ``docs2/a.pdf``) and
  ``$glob`` (``fnmatch`` on POSIX paths, ``*`` also crosses ``/``);
- ``$and`` / ``$or`` take a non-empty list of filters;
- fields are any scalar chunk metadata key plus ``doc_id``. A chunk without the field matches only ``$ne``
  and ``$nin`` (MongoDB's rule), and values compare by type: ``3`` never equals ``"3"``, ``True`` never ``1``.

:func:`compile_filter` validates the whole filter once (a malformed one is a :class:`ConfigError` naming the
field and operator) and yields a :class:`Filter` holding a Python predicate over metadata and, when chroma can
express the filter, the equivalent chroma ``where`` clause (``$prefix``/``$glob``, ``$ne``/``$nin``, empty or
mixed-type lists cannot be expressed there: callers then restrict by an allowed-id set from the predicate).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ragloom.core.errors import ConfigError
from ragloom.core.types import Chunk

__all__ = ["OPERATORS", "Filter", "FilterCache", "Where", "compile_filter", "merge_where"]

Where = Mapping[str, Any]
Predicate = Callable[[Mapping[str, Any]], bool]
Scalar = str | int | float | bool

OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$prefix", "$glob")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}
_MISSING = object()
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Filter:
    """A compiled ``where``: :meth:`matches` over metadata, :meth:`matches_chunk`, and ``chroma`` (or None).

    ``key`` is a canonical JSON text of the filter (equal filters, equal keys): caches of allowed ids use it.
    """

    where: dict[str, Any]
    predicate: Predicate
    chroma: dict[str, Any] | None
    key: str

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        return self.predicate(metadata)

    def matches_chunk(self, chunk: Chunk) -> bool:
        """The predicate over the chunk's metadata plus its ``doc_id``."""
        meta = chunk.metadata
        return self.predicate({**meta, "doc_id": chunk.doc_id} if "doc_id" not in meta else meta)

    def select(self, chunks: Iterable[Chunk]) -> list[Chunk]:
        return [c for c in chunks if self.matches_chunk(c)]


class FilterCache(Generic[T]):
    """What a retriever derives from a filter (a row mask, an allowed-id list), kept per filter ``key``.

    Computing it scans every chunk's metadata (milliseconds on thousands of chunks); repeated queries with
    the same filter, the common case (one scope per user or session), pay that once. Bounded: the oldest
    entry goes when ``size`` is reached. Thread-safe enough for serving: a race computes a value twice.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[str, T] = {}

    def get(self, where: Filter, compute: Callable[[Filter], T]) -> T:
        value = self._items.get(where.key)
        if value is None:
            value = compute(where)
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)), None)
            self._items[where.key] = value
        return value

    def clear(self) -> None:
        self._items.clear()


def compile_filter(where: Where | Filter | None) -> Filter | None:
    """Validate and compile ``where`` (None or ``{}`` stays None: no filter). A Filter passes through."""
    if where is None or isinstance(where, Filter):
        return where
    if not isinstance(where, Mapping):
        raise ConfigError(
            f"where filter must be a mapping like {{'source': {{'$glob': '*.pdf'}}}}, "
            f"got {type(where).__name__}: {where!r}"
        )
    if not where:
        return None
    predicate, chroma = _compile_mapping(where, "where")
    try:
        key = json.dumps(where, sort_keys=True)
    except (TypeError, ValueError) as e:  # validated scalars always serialise; keep the error exact anyway
        raise ConfigError(f"where filter is not JSON-serialisable: {e}") from e
    return Filter(dict(where), predicate, chroma, key)


def merge_where(*wheres: Where | Filter | None) -> Filter | None:
    """All of ``wheres`` at once (``$and``); None and empty ones are skipped."""
    parts = [f.where for f in (compile_filter(w) for w in wheres) if f is not None]
    if not parts:
        return None
    return compile_filter(parts[0] if len(parts) == 1 else {"$and": parts})


def _compile_mapping(where: Where, path: str) -> tuple[Predicate, dict[str, Any] | None]:
    if not isinstance(where, Mapping) or not where:
        raise ConfigError(f"{path}: expected a non-empty mapping of conditions, got {where!r}")
    parts = [_compile_entry(str(field), cond, path) for field, cond in where.items()]
    return _all(parts)


def _compile_entry(field: str, cond: Any, path: str) -> tuple[Predicate, dict[str, Any] | None]:
    if field in ("$and", "$or"):
        if not isinstance(cond, list | tuple) or not cond:
            raise ConfigError(f"{path}: {field} takes a non-empty list of filters, got {cond!r}")
        subs = [_compile_mapping(c, f"{path}.{field}[{i}]") for i, c in enumerate(cond)]
        return _all(subs) if field == "$and" else _any(subs)
    if field.startswith("$"):
        raise ConfigError(
            f"{path}: unknown top-level operator {field!r}; use $and or $or, or a field name such as 'source'"
        )
    if isinstance(cond, Mapping):
        if not cond:
            raise ConfigError(
                f"{path}: field {field!r} has an empty condition {{}}; give a value or an operator"
            )
        return _all([_compile_op(field, op, arg, path) for op, arg in cond.items()])
    return _compile_op(field, "$eq", cond, path)


def _compile_op(field: str, op: str, arg: Any, path: str) -> tuple[Predicate, dict[str, Any] | None]:
    where = f"{path}: field {field!r}, operator {op!r}"
    if op in ("$eq", "$ne"):
        value = _scalar(arg, where)
        eq = _equals_fn(value)
        if op == "$eq":
            return (lambda m: eq(m.get(field, _MISSING))), {field: {"$eq": value}}
        return (
            lambda m: not eq(m.get(field, _MISSING))
        ), None  # chroma's $ne skips records without the field
    if op in ("$in", "$nin"):
        if not isinstance(arg, list | tuple):
            raise ConfigError(f"{where}: expects a list of values, got {arg!r}")
        fns = [_equals_fn(_scalar(v, where)) for v in arg]
        if op == "$in":
            chroma = {field: {"$in": list(arg)}} if arg and len({type(v) for v in arg}) == 1 else None
            return (lambda m: any(f(m.get(field, _MISSING)) for f in fns)), chroma
        return (lambda m: not any(f(m.get(field, _MISSING)) for f in fns)), None
    if op in _COMPARE:
        if not _is_number(arg):
            raise ConfigError(f"{where}: expects a number, got {arg!r}")
        cmp = _COMPARE[op]
        return (lambda m: _is_number(v := m.get(field)) and cmp(v, arg)), {field: {op: arg}}
    if op == "$prefix":
        prefix = _text(arg, where).rstrip("/")
        return (lambda m: _has_prefix(m.get(field), prefix)), None
    if op == "$glob":
        pattern = _text(arg, where)
        return (lambda m: isinstance(v := m.get(field), str) and fnmatch.fnmatchcase(v, pattern)), None
    raise ConfigError(f"{where}: unknown operator; choose one of {', '.join(OPERATORS)}")


def _all(parts: list[tuple[Predicate, dict[str, Any] | None]]) -> tuple[Predicate, dict[str, Any] | None]:
    preds = [p for p, _ in parts]
    clauses = [c for _, c in parts]
    chroma = None if any(c is None for c in clauses) else _join("$and", clauses)  # type: ignore[arg-type]
    if len(preds) == 1:
        return preds[0], chroma
    return (lambda m: all(p(m) for p in preds)), chroma


def _any(parts: list[tuple[Predicate, dict[str, Any] | None]]) -> tuple[Predicate, dict[str, Any] | None]:
    preds = [p for p, _ in parts]
    clauses = [c for _, c in parts]
    chroma = None if any(c is None for c in clauses) else _join("$or", clauses)  # type: ignore[arg-type]
    return (lambda m: any(p(m) for p in preds)), chroma


def _join(op: str, clauses: list[dict[str, Any]]) -> dict[str, Any]:
    """chroma wants one key per clause and at least two clauses under ``$and``/``$or``."""
    return clauses[0] if len(clauses) == 1 else {op: clauses}


def _scalar(value: Any, where: str) -> Scalar:
    if not isinstance(value, str | int | float | bool):
        raise ConfigError(f"{where}: expects a string, number or boolean, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expects a string pattern, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equals_fn(value: Scalar) -> Callable[[Any], bool]:
    """Typed equality: booleans equal only booleans, numbers only numbers, strings only strings."""
    if isinstance(value, bool):
        return lambda v: isinstance(v, bool) and v == value
    if _is_number(value):
        return lambda v: _is_number(v) and v == value
    return lambda v: isinstance(v, str) and v == value


def _has_prefix(value: Any, prefix: str) -> bool:
    if not isinstance(value, str):
        return False
    return not prefix or value == prefix or value.startswith(prefix + "/")
