"""The driver's own components on remote workers.

A Ray worker imports ragloom's built-in components on first lookup, but not a component the user registered
only in the driver (in their module ``mycomps.py``, in a script's ``__main__``, in a test): a flow naming it
would fail there with "unknown component". So the Ray executor sends those registry entries
(:func:`ragloom.core.registry.defined_outside`) with every setup or task and the worker registers them before
anything is compiled. The factories travel by value (cloudpickle), with the helpers of their module they
use: the worker need not be able to import the user's module. A module installed in site-packages travels by
reference (it is installed on every node, like ragloom itself, and may hold large module-level objects).
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import sys
import sysconfig
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ragloom.core import registry

__all__ = ["ComponentShippingWarning", "install_components", "pack_components", "with_components"]

_INSTALLED: set[str] = set()  # digests of the packs this worker process has registered
_LOCK = threading.Lock()


def _installed_module(name: str) -> bool:
    """Whether module ``name`` lives in site-packages (importable on every node of a cluster)."""
    file = getattr(sys.modules.get(name), "__file__", None)
    if file is None:
        return False
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return any(Path(file).resolve().is_relative_to(Path(root).resolve()) for root in roots)


def pack_components(cloudpickle: Any) -> bytes | None:
    """The registry entries defined outside ragloom, pickled with ``cloudpickle`` (``ray.cloudpickle``):
    their factories by value unless installed in site-packages. None when there are none (nothing to send)."""
    entries = registry.defined_outside()
    if not entries:
        return None
    modules = {getattr(e.factory, "__module__", None) for e in entries}
    by_value = [
        sys.modules[m]
        for m in sorted(m for m in modules if m)
        if m != "__main__" and m in sys.modules and not _installed_module(m)
    ]
    with _LOCK:  # cloudpickle's by-value registry is process-wide
        for module in by_value:
            cloudpickle.register_pickle_by_value(module)
        try:
            return _dumps(cloudpickle, entries)
        finally:
            for module in by_value:
                cloudpickle.unregister_pickle_by_value(module)


class ComponentShippingWarning(UserWarning):
    """A component of the driver cannot be sent to remote workers (its factory does not pickle)."""


def _dumps(cloudpickle: Any, entries: list[registry.Entry]) -> bytes | None:
    """All entries pickled; one whose factory does not pickle (it holds a lock, an open file, ...) is left
    out with a warning naming it, so work that does not use it still runs (a flow using it fails on the
    worker with "unknown component")."""
    try:
        return bytes(cloudpickle.dumps(entries))
    except Exception:  # find the culprits; the others still travel
        good = []
        for entry in entries:
            try:
                cloudpickle.dumps(entry)
            except Exception as e:
                warnings.warn(
                    f"component {entry.name!r} ({entry.factory!r}) cannot be sent to remote workers: "
                    f"{type(e).__name__}: {e}; a flow using it fails there. Register a factory that builds "
                    "what it holds when called",
                    ComponentShippingWarning,
                    stacklevel=4,
                )
                continue
            good.append(entry)
        return bytes(cloudpickle.dumps(good)) if good else None


def install_components(pack: bytes | None) -> None:
    """Register a pack's entries in this (worker) process, once per pack."""
    if pack is None:
        return
    digest = hashlib.sha256(pack).hexdigest()
    with _LOCK:
        if digest in _INSTALLED:
            return
        registry.add_entries(pickle.loads(pack))  # the driver's own pack, sent through Ray
        _INSTALLED.add(digest)


def _setup_with(pack: bytes, setup: Callable[[], Any]) -> Any:
    install_components(pack)
    return setup()


def _call_with(pack: bytes, fn: Callable[..., Any], *args: Any) -> Any:
    install_components(pack)
    return fn(*args)


def with_components(
    pack: bytes | None, setup: Callable[[], Any] | None, fn: Callable[..., Any]
) -> tuple[Callable[[], Any] | None, Callable[..., Any]]:
    """(setup, fn) that register ``pack``'s entries first: in ``setup`` when there is one (once per worker),
    else in ``fn`` (once per worker process, after the first item)."""
    if pack is None:
        return setup, fn
    if setup is not None:
        return functools.partial(_setup_with, pack, setup), fn
    return None, functools.partial(_call_with, pack, fn)
