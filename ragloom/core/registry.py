"""The registry of named components: the only way YAML flows (and eval pipelines) name code.

A component is registered under a dotted name with a factory: ``factory(**params) -> object``.
For flow nodes the object is a node callable (``state -> partial update``). The YAML loader never imports
arbitrary ``module:function`` paths unless the caller passes an explicit allow-list, so a flow file cannot
run code its author did not register.

Built-in components live in ``<room>/components.py`` modules, imported on first lookup so that importing
ragloom stays cheap (no torch at start-up).
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ragloom.core.errors import RegistryError

F = TypeVar("F", bound=Callable[..., Any])

#: Modules that register built-in components when imported. A missing module is skipped
#: (rooms land over time); an error inside an existing module propagates.
BUILTIN_MODULES: tuple[str, ...] = (
    "ragloom.flows.components",
    "ragloom.chunking.components",
    "ragloom.retrieval.components",
    "ragloom.retrieval.select.components",
    "ragloom.retrieval.graph.components",
    "ragloom.llm.components",
    "ragloom.tools.components",
    "ragloom.agents.components",
    "ragloom.eval.pipelines",
    "ragloom.retrieval.expansion",
    "ragloom.llm.consistency",
)


@dataclass(frozen=True)
class ComponentRef:
    """How a component instance was made: enough to write it back to YAML (``uses:`` + ``with:``)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Any]
    kind: str
    summary: str
    #: what the component does in a flow (retriever, reranker, selector, generator, query_transform, ...);
    #: workflow search swaps a component only for another of the same role (None: not searchable)
    role: str | None = None
    #: search ranges of its parameters (``{param: [values...]}``): workflow search derives its space from them
    search: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    #: parameter values workflow search sets when it brings the component into a flow (e.g. the run
    #: resource it reads, ``{"resource": "graph"}``); a swap drops the old component's defaults first
    defaults: dict[str, Any] = field(default_factory=dict)


_ENTRIES: dict[str, Entry] = {}
_builtins_loaded = False
_loading = False  # set while this thread (the lock is reentrant) imports the built-in modules
_load_lock = threading.RLock()


def register(
    name: str,
    *,
    kind: str = "node",
    role: str | None = None,
    search: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    """Register ``factory`` under a dotted ``name`` (``retrieval.bm25``); a name registers once.

    ``role`` and ``search`` (``{param: [value, ...]}``) make the component part of workflow search's space:
    declaring them is all a new component needs to become searchable. ``defaults`` are the parameters a
    search sets when it swaps or inserts the component (the run resource it reads, say).
    """
    ranges = {param: tuple(values) for param, values in (search or {}).items()}
    for param, values in ranges.items():
        if not values:
            raise RegistryError(f"component {name!r}: search range of {param!r} is empty; list its values")

    def decorate(factory: F) -> F:
        existing = _ENTRIES.get(name)
        # the same definition imported again (a reload, or a built-in module retried after a failed import)
        # replaces its entry; another definition under the same name is a collision
        if existing is not None and _origin(existing.factory) != _origin(factory):
            raise RegistryError(
                f"component {name!r} is already registered by {_origin(existing.factory)}; "
                f"{_origin(factory)} cannot register it again: pick another name"
            )
        summary = (factory.__doc__ or "").strip().splitlines()[0] if factory.__doc__ else ""
        _ENTRIES[name] = Entry(name, factory, kind, summary, role, ranges, dict(defaults or {}))
        return factory

    return decorate


def _origin(factory: Callable[..., Any]) -> str:
    """``module.qualname`` of a factory, for collision checks and messages."""
    module = getattr(factory, "__module__", None) or "?"
    return f"{module}.{getattr(factory, '__qualname__', None) or repr(factory)}"


def _load_builtins() -> None:
    """Import the built-in modules once. Other threads wait for it (a half-loaded registry would call
    registered names unknown); a failed import is retried on the next lookup, so it keeps failing loudly
    instead of leaving the registry silently incomplete; a lookup made by a module being loaded returns."""
    global _builtins_loaded, _loading
    if _builtins_loaded:
        return
    with _load_lock:
        if _builtins_loaded or _loading:
            return
        _loading = True
        try:
            for module in BUILTIN_MODULES:
                try:
                    importlib.import_module(module)
                except ModuleNotFoundError as e:
                    if e.name != module:  # the module exists but something it needs is missing: say so
                        raise
            _builtins_loaded = True
        finally:
            _loading = False


def names(kind: str | None = None) -> list[str]:
    """All registered names (of one kind when given), sorted."""
    _load_builtins()
    return sorted(n for n, e in _ENTRIES.items() if kind is None or e.kind == kind)


def searchable(role: str | None = None) -> list[Entry]:
    """Entries that declared a role (of ``role`` when given), sorted by name: workflow search's space."""
    _load_builtins()
    return [e for _, e in sorted(_ENTRIES.items()) if e.role is not None and (role is None or e.role == role)]


def get(name: str) -> Entry:
    """The entry for ``name``; an unknown name raises a RegistryError listing the valid ones."""
    _load_builtins()
    try:
        return _ENTRIES[name]
    except KeyError:
        close = [n for n in _ENTRIES if n.split(".")[-1] == name.split(".")[-1]]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        valid = ", ".join(names())
        raise RegistryError(f"unknown component {name!r}.{hint} Registered components: {valid}") from None


def create(name: str, params: dict[str, Any] | None = None) -> Any:
    """Build the component ``name`` with ``params`` and remember how (for ``Flow.to_yaml``)."""
    params = dict(params or {})
    entry = get(name)
    try:
        obj = entry.factory(**params)
    except TypeError as e:
        raise RegistryError(f"component {name!r} rejected its parameters {sorted(params)}: {e}") from e
    with contextlib.suppress(AttributeError, TypeError):
        obj.__ragloom_component__ = ComponentRef(name, params)
    return obj


def component_ref(obj: Any) -> ComponentRef | None:
    """The ComponentRef of an object made by :func:`create`, else None."""
    return getattr(obj, "__ragloom_component__", None)


def defined_outside(package: str = "ragloom") -> list[Entry]:
    """Entries whose factory is defined outside ``package``, sorted by name: the user's own components
    (their module, a script's ``__main__``), which a remote worker importing only ragloom's built-ins lacks
    until the driver sends them (:mod:`ragloom.scale.components`)."""
    _load_builtins()

    def inside(factory: Callable[..., Any]) -> bool:
        module = getattr(factory, "__module__", None) or ""
        return module == package or module.startswith(package + ".")

    return [e for _, e in sorted(_ENTRIES.items()) if not inside(e.factory)]


def add_entries(entries: list[Entry]) -> None:
    """Register entries built in another process (a driver's own components, on a Ray worker) under the
    rule of :func:`register`: the same definition again replaces its entry, another one is a collision."""
    _load_builtins()
    for entry in entries:
        existing = _ENTRIES.get(entry.name)
        if existing is not None and _origin(existing.factory) != _origin(entry.factory):
            raise RegistryError(
                f"component {entry.name!r} is already registered by {_origin(existing.factory)}; the "
                f"driver's {_origin(entry.factory)} cannot register it again: pick another name"
            )
        _ENTRIES[entry.name] = entry
