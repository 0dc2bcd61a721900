"""Reading a flow state from a component adapter: one place for "dict or attribute state" and its errors.

A node may run over a plain dict, a pydantic model or a dataclass. Adapters read their input keys through
:func:`read_key` so that a missing key fails the same way everywhere: a :class:`StateUpdateError` that
names the component, the key and the parameter that renames it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ragloom.core.errors import StateUpdateError

__all__ = ["MISSING", "read_key", "read_str"]


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
    value = state.get(key, MISSING) if isinstance(state, Mapping) else getattr(state, key, MISSING)
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
