"""Loading the built-in component modules: a broken module keeps failing loudly, and concurrent first
lookups wait for the loading instead of reporting registered names as unknown."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragloom.core import registry
from ragloom.core.errors import RegistryError


@pytest.fixture
def extra_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Room for one more built-in module (written by the test) and a registry that has not loaded yet."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "BUILTIN_MODULES", (*registry.BUILTIN_MODULES, "ragloom_test_extra_room"))
    monkeypatch.setattr(registry, "_builtins_loaded", False)
    yield tmp_path / "ragloom_test_extra_room.py"
    sys.modules.pop("ragloom_test_extra_room", None)
    registry._ENTRIES.pop("test.slow", None)


def test_a_broken_builtin_module_fails_every_lookup_not_just_the_first(extra_builtin: Path) -> None:
    extra_builtin.write_text("raise RuntimeError('room is broken')\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(RuntimeError, match="room is broken"):
            registry.get("retrieval.bm25")


def test_concurrent_first_lookups_wait_for_the_builtins(extra_builtin: Path) -> None:
    extra_builtin.write_text(
        "import time\n"
        "from ragloom.core.registry import register\n"
        "time.sleep(0.5)\n"
        "@register('test.slow')\n"
        "def slow() -> object:\n"
        "    '''Registered at the end of a slow import.'''\n"
        "    return object()\n",
        encoding="utf-8",
    )
    errors: list[BaseException] = []

    def look_up() -> None:
        try:
            registry.get("test.slow")
        except RegistryError as e:
            errors.append(e)

    first = threading.Thread(target=registry.names)
    first.start()
    time.sleep(0.1)  # the first thread is inside the slow import now
    second = threading.Thread(target=look_up)
    second.start()
    first.join()
    second.join()
    assert errors == []


def test_builtin_module_retried_after_a_failure_half_way(extra_builtin: Path) -> None:
    """A module that registered some components and then failed re-registers them when retried."""
    extra_builtin.write_text(
        "import os\n"
        "from ragloom.core.registry import register\n"
        "@register('test.slow')\n"
        "def slow() -> object:\n"
        "    '''First component.'''\n"
        "    return object()\n"
        "if not os.environ.get('RAGLOOM_TEST_ROOM_FIXED'):\n"
        "    raise RuntimeError('second half broken')\n",
        encoding="utf-8",
    )
    with pytest.raises(RuntimeError, match="second half broken"):
        registry.names()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAGLOOM_TEST_ROOM_FIXED", "1")
        assert "test.slow" in registry.names()


def test_name_collision_names_both_definitions() -> None:
    def first() -> object:
        """One."""
        return object()

    def second() -> object:
        """Two."""
        return object()

    registry.register("test.collision")(first)
    try:
        registry.register("test.collision")(first)  # the same definition again is fine
        with pytest.raises(RegistryError, match=r"already registered by .*first; .*second cannot"):
            registry.register("test.collision")(second)
    finally:
        registry._ENTRIES.pop("test.collision", None)
