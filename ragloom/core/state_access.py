"""Reading a flow state from a component adapter: one place for "dict or attribute state" and its errors.

A node may run over a plain dict, a pydantic model or a dataclass. Adapters read their input keys through
:func:`read_key` so that a missing key fails the same way everywhere: a :class:`StateUpdateError` that
names the component, the key and the parameter that renames it.

Key names come from flow files, which must not reach Python internals: :func:`item` reads only mapping
keys, sequence indexes and declared data fields (pydantic fields, dataclass fields), never attributes,
methods, properties or names starting with ``_``. So ``__class__.__init__.__globals__.sys.modules.os``
is a path to nothing; :func:`check_path` refuses it when the flow is loaded.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ragloom.core.errors import ConfigError, StateUpdateError

__all__ = ["MISSING", "check_path", "item", "plain_fields", "read_key", "read_path", "read_str"]

_PART = re.compile(r"^(?:[A-Za-z][A-Za-z0-9_]*|[0-9]+)$")


class _Missing:
    """Marks "no default given" (``None`` is a valid default, e.g. for optional keys)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()


def read_key(
    state: Any,
    key: str,
    component: str,
    default: Any = MISSING,
    *,
    param: str = "input_key",
    allow_none: bool = True,
) -> Any:
    """``state[key]`` for a mapping (dict or read-only view), else ``getattr(state, key)``.

    Without ``default`` an absent key raises :class:`StateUpdateError` naming ``component``, ``key`` and the
    key parameter (``param``) to set; with one, an absent key gives ``default``. ``allow_none=False`` also
    rejects a ``None`` value (pydantic states declare optional keys with a ``None`` default).
    """
    value = item(state, key)
    if value is MISSING and not key.startswith("_") and not _is_record(state):
        value = getattr(state, key, MISSING)  # another state object (an adapter's own): its plain names
    if value is MISSING:
        if default is not MISSING:
            return default
        raise StateUpdateError(f"{component} node: the state has no key {key!r}; set {param}= to yours")
    if value is None and not allow_none:
        raise StateUpdateError(
            f"{component} node: the state has no value for {key!r} (it is None); set {param}= to yours"
        )
    return value


def read_str(state: Any, key: str, component: str, what: str, *, param: str = "input_key") -> str:
    """``read_key`` for a key that must hold a string (``what``: "the question", "the text")."""
    value = read_key(state, key, component, param=param)
    if not isinstance(value, str):
        raise StateUpdateError(
            f"{component} node: state key {key!r} must hold {what} (str), got {type(value).__name__}; "
            f"set {param}= to the key that holds it"
        )
    return value


def item(obj: Any, name: str) -> Any:
    """``obj[name]`` for a mapping, ``obj[int(name)]`` for a list/tuple, a declared data field of an object;
    MISSING for anything else (attributes, methods, properties, names starting with ``_``)."""
    if isinstance(obj, Mapping):
        return obj.get(name, MISSING)
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return obj[int(name)] if name.isdigit() and int(name) < len(obj) else MISSING
    if name.startswith("_"):
        return MISSING
    fields = getattr(type(obj), "model_fields", None)  # pydantic
    if isinstance(fields, Mapping):
        if name in fields:
            return getattr(obj, name, MISSING)
        extra = getattr(obj, "__pydantic_extra__", None)  # extra="allow": undeclared keys are data too
        return extra.get(name, MISSING) if isinstance(extra, dict) else MISSING
    if dataclasses.is_dataclass(obj):
        declared = {f.name for f in dataclasses.fields(obj)}
        return getattr(obj, name, MISSING) if name in declared else MISSING
    return MISSING


def _is_record(obj: Any) -> bool:
    return isinstance(obj, Mapping) or dataclasses.is_dataclass(obj) or hasattr(type(obj), "model_fields")


def check_path(path: str, where: str) -> str:
    """``path`` if every dotted part is a key name (letters, digits, ``_``; not starting with ``_``) or an
    index; ConfigError naming ``where`` otherwise. Returns ``path``."""
    if not isinstance(path, str) or not all(_PART.match(part) for part in path.split(".")):
        raise ConfigError(
            f"{where}: {path!r} is not a state key path; use key names and list indexes joined by dots "
            "(e.g. answer, doc.title, hits.0); names starting with '_' are never readable"
        )
    return path


def read_path(state: Any, path: str) -> Any:
    """The value at dotted ``path`` (see :func:`item`); MISSING when any part is absent or not readable."""
    value = state
    for part in path.split("."):
        value = item(value, part)
        if value is MISSING:
            return MISSING
    return value


def plain_fields(template: str, where: str) -> list[str]:
    """The ``{field}`` names of a format string, each a plain key (no ``{a.b}``, ``{a[0]}``, ``{_x}``): a
    format string would otherwise walk attributes of the values it formats."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ConfigError(f"{where}: template {template!r} is malformed ({e})") from e
    fields = [f for _, f, spec, _ in parsed if f is not None]
    for _, field, spec, _ in parsed:
        if field is not None and (not field.isidentifier() or field.startswith("_") or "{" in (spec or "")):
            raise ConfigError(
                f"{where}: template field {{{field}}} is not a plain state key; use {{key}} with a key name "
                "only (no dots, brackets, nested fields or leading '_')"
            )
    return fields
