"""State readers written as data: ``when:`` routers (first matching case wins) and key-based cache keys.

A YAML flow cannot contain code, so its routers are this small, inspectable object: a list of
``(condition, target)`` cases plus an ``else`` target. It is an ordinary router (``state -> next node(s)``)
to the engine, and it writes itself back with :meth:`WhenRouter.to_yaml_dict`, which is what makes
``Flow.to_yaml`` round-trip conditional flows. :class:`StateKeys` is the same idea for ``cache_key:``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ragloom.core.errors import FlowError
from ragloom.core.state_access import MISSING, check_path, read_path

Target = str | tuple[str, ...]  # one node, or several nodes run in parallel (fan-out)


#: Binary operators: ``state_value OP condition_value``.
BINARY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
}
#: Unary operators: they test the state value alone.
UNARY_OPS: dict[str, Callable[[Any], bool]] = {"truthy": bool, "falsy": lambda a: not a}
OPS: tuple[str, ...] = (*BINARY_OPS, *UNARY_OPS)


def read_key(state: Any, key: str) -> Any:
    """The state value at dotted ``key``: state keys, dict keys, list indexes and declared fields only
    (``doc.title``, ``hits.0``), never attributes (see :func:`ragloom.core.state_access.item`)."""
    value = read_path(state, key)
    if value is MISSING:
        raise FlowError(
            f"state has no key {key!r}; check the `key:` of the when-condition (paths read state keys, "
            "dict keys, list indexes and declared fields only)"
        )
    return value


@dataclass(frozen=True)
class Condition:
    """``key OP value``; a unary op (truthy/falsy) ignores ``value``."""

    key: str
    op: str = "truthy"
    value: Any = None

    def __post_init__(self) -> None:
        check_path(self.key, "when-condition key")
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}; use one of {', '.join(OPS)}")
        if self.op in ("in", "not in") and not isinstance(self.value, list | tuple | set | str | dict):
            raise ValueError(f"operator {self.op!r} needs a list as value, got {self.value!r}")

    def holds(self, state: Any) -> bool:
        actual = read_key(state, self.key)
        if self.op in UNARY_OPS:
            return UNARY_OPS[self.op](actual)
        try:
            return bool(BINARY_OPS[self.op](actual, self.value))
        except TypeError as e:
            raise FlowError(
                f"cannot evaluate {self.key} {self.op} {self.value!r}: state value is {actual!r} ({e})"
            ) from e

    def to_yaml_dict(self) -> dict[str, Any]:
        if self.op in UNARY_OPS:
            return {"key": self.key, "op": self.op}
        return {"key": self.key, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class WhenRouter:
    """Route to the target of the first case whose condition holds, else to ``default``."""

    cases: tuple[tuple[Condition, Target], ...]
    default: Target | None = None
    source: str = ""  # the node the edge leaves, for error messages

    def __call__(self, state: Any) -> str | list[str]:
        for condition, target in self.cases:
            if condition.holds(state):
                return _as_route(target)
        if self.default is None:
            raise FlowError(
                f"no when-condition matched after node {self.source!r} and there is no else; "
                "add a final `- else: NODE` case"
            )
        return _as_route(self.default)

    @property
    def targets(self) -> list[str]:
        """Every node this router may go to, in order of first mention."""
        seen: dict[str, None] = {}
        outcomes = [t for _, t in self.cases] + ([self.default] if self.default is not None else [])
        for target in outcomes:
            for name in (target,) if isinstance(target, str) else target:
                seen.setdefault(name, None)
        return list(seen)

    def to_yaml_dict(self) -> dict[str, Any]:
        """``{"when": [{"if": {...}, "to": target}, ..., {"else": target}]}``."""
        items: list[dict[str, Any]] = [
            {"if": cond.to_yaml_dict(), "to": _as_yaml_target(target)} for cond, target in self.cases
        ]
        if self.default is not None:
            items.append({"else": _as_yaml_target(self.default)})
        return {"when": items}


def _as_route(target: Target) -> str | list[str]:
    return target if isinstance(target, str) else list(target)


def _as_yaml_target(target: Target) -> str | list[str]:
    return target if isinstance(target, str) else list(target)


class StateKeys:
    """A cache key made of state values (``cache_key: [question]`` in YAML)."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = tuple(check_path(k, "cache_key") for k in keys)

    def __call__(self, state: Any) -> tuple[Any, ...]:
        return tuple(repr(read_key(state, k)) for k in self.keys)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateKeys) and other.keys == self.keys

    def __hash__(self) -> int:
        return hash(self.keys)
