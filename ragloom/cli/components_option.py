"""``--components MODULE``: the user's own components for a command (``ragloom search``), imported by the
user's explicit request on the command line, never named by a data file.

A module registers components when imported (``@register("mycomps.rerank", role="reranker", ...)``); those
components then join workflow search's space, and a Ray executor sends them to its workers
(:mod:`ragloom.scale.components`), so the workers need not be able to import the module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ragloom.core.errors import ConfigError

__all__ = ["COMPONENTS_HELP", "import_components"]

COMPONENTS_HELP = (
    "Import this module first (a module name, found on the path or in the current folder, or a .py file): "
    "the components it registers join the search space, on Ray workers too (repeatable)."
)


def _import_file(path: Path) -> None:
    name = path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return  # imported already (its components registered once)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"--components {path}: not a Python module file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def import_components(specs: Sequence[str]) -> list[str]:
    """Import each module (``mycomps`` or ``path/to/mycomps.py``); return them as the run records them
    (files as absolute paths). A missing module or one that fails to import is a ConfigError naming it."""
    done: list[str] = []
    if specs and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())  # `--components mycomps` finds ./mycomps.py, as `python -m` would
    for spec in specs:
        path = Path(spec)
        try:
            if spec.endswith(".py"):
                if not path.is_file():
                    raise ConfigError(f"--components {spec}: no such file")
                _import_file(path.resolve())
                done.append(str(path.resolve()))
                continue
            importlib.import_module(spec)
        except ModuleNotFoundError as e:
            raise ConfigError(
                f"--components {spec}: cannot import it ({e}); pass a module importable here or a .py file"
            ) from e
        except ConfigError:
            raise
        except Exception as e:
            raise ConfigError(f"--components {spec}: importing it failed: {type(e).__name__}: {e}") from e
        done.append(spec)
    return done
