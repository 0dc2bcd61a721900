"""The source of a user's own component module (``mycomps.py``) for the tests: written into a temporary
folder that only the driver has on its path, so a worker cannot import it by name."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

NAME = "mycomps.rerank.reverse"

SOURCE = '''
from typing import Any

from ragloom.core.registry import register


def _upside_down(hits: list[Any], k: int) -> list[Any]:
    return list(reversed(hits))[:k]


@register("mycomps.rerank.reverse", role="reranker", search={"k": [2, 3]})
def reverse_rerank(k: int = 3) -> Any:
    """Put the retriever's ranking upside down (a helper of this module does it)."""

    def rerank(state: Any) -> dict[str, Any]:
        return {"hits": _upside_down(state.hits, k)}

    return rerank
'''


def import_user_module(folder: Path, module: str) -> ModuleType:
    """Write the module as ``folder/module.py`` and import it (registering its component) in this process."""
    (folder / f"{module}.py").write_text(SOURCE, encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(folder))


def forget_user_module(module: str) -> None:
    """Unregister the component and the module, so later tests in this process never see it."""
    from ragloom.core import registry

    registry._ENTRIES.pop(NAME, None)
    sys.modules.pop(module, None)


@contextmanager
def driver_only_module(tmp_path: Path) -> Iterator[ModuleType]:
    """The user's ``mycomps.py`` imported here only, under a fresh name no worker can import or know;
    forgotten afterwards."""
    module = f"mycomps_{uuid.uuid4().hex[:8]}"
    (tmp_path / "driver-only").mkdir()
    try:
        yield import_user_module(tmp_path / "driver-only", module)
    finally:
        forget_user_module(module)
