"""The executor protocol, the local (thread pool) implementation and ``make_executor``.

An executor maps a function over items with bounded parallelism and returns the results in input order;
an item whose call raised gets its exception in its slot (one bad item never hides the others' results).
``setup`` is run once per worker (an embedding model loaded once per Ray actor, not once per item); the
function then receives ``(state, item)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar, runtime_checkable

from ragloom.core.errors import ConfigError

__all__ = ["ADDRESS_ENV", "EXECUTORS", "Executor", "LocalExecutor", "first_error", "make_executor"]

T = TypeVar("T")
R = TypeVar("R")
EXECUTORS = ("local", "ray")
ADDRESS_ENV = "RAGLOOM_RAY_ADDRESS"


@runtime_checkable
class Executor(Protocol):
    """Maps ``fn`` over ``items``; result ``i`` is ``fn(items[i])`` (or ``fn(setup(), items[i])`` when
    ``setup`` is given, ``setup`` run once per worker) or the exception that call raised. Empty input gives
    an empty list. ``workers`` is how many items run at once."""

    name: str

    @property
    def workers(self) -> int: ...

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        setup: Callable[[], Any] | None = None,
    ) -> list[Any]: ...


class ExecutorBase:
    """``Executor.map`` as every executor here starts it: the items listed once, empty input answered with an
    empty list before any worker starts; ``_map`` does the work on a non-empty list."""

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        *,
        setup: Callable[[], Any] | None = None,
    ) -> list[Any]:
        items = list(items)
        if not items:
            return []
        return self._map(fn, items, setup)

    def _map(self, fn: Callable[..., Any], items: list[Any], setup: Callable[[], Any] | None) -> list[Any]:
        raise NotImplementedError


class LocalExecutor(ExecutorBase):
    """Threads in this process; ``setup`` runs once (all threads share its state, like one actor)."""

    name = "local"

    def __init__(self, workers: int = 4) -> None:
        if workers < 1:
            raise ConfigError(f"LocalExecutor: workers must be >= 1, got {workers}")
        self._workers = workers

    @property
    def workers(self) -> int:
        return self._workers

    def _map(self, fn: Callable[..., Any], items: list[Any], setup: Callable[[], Any] | None) -> list[Any]:
        state = setup() if setup is not None else None
        call = (lambda item: fn(state, item)) if setup is not None else fn

        def safe(item: Any) -> Any:
            try:
                return call(item)
            except Exception as e:  # per-item errors: the caller decides (see first_error)
                return e

        if self._workers == 1 or len(items) == 1:
            return [safe(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self._workers, len(items))) as pool:
            return list(pool.map(safe, items))


def first_error(results: Sequence[Any]) -> list[Any]:
    """``results`` unchanged, or raise the first exception in it (the item's own error and traceback)."""
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return list(results)


def make_executor(
    kind: str | None = None, address: str | None = None, workers: int | None = None
) -> Executor:
    """``local`` (default) or ``ray``. A Ray address is ``auto`` (the cluster this node belongs to),
    ``HOST:PORT`` (a head node's GCS), ``ray://HOST:10001`` (Ray Client) or None: ``$RAGLOOM_RAY_ADDRESS``,
    else a fresh local Ray instance."""
    kind = (kind or "local").lower()
    if kind in ("local", "threads", "asyncio"):
        return LocalExecutor(workers or 4)
    if kind == "ray":
        from ragloom.scale.ray_executor import RayExecutor

        return RayExecutor(address or os.environ.get(ADDRESS_ENV) or None, workers=workers)
    raise ConfigError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
