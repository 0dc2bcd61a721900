"""The driver's own components travel to a worker process that cannot import their module: packed by value,
registered there before anything is compiled (what the Ray executor does with every setup or task)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from user_components import NAME, driver_only_module, forget_user_module

from ragloom.core import registry
from ragloom.core.errors import RegistryError
from ragloom.scale import components as shipping
from ragloom.scale.components import (
    ComponentShippingWarning,
    install_components,
    pack_components,
    with_components,
)

ROOT = Path(__file__).resolve().parents[2]
cloudpickle = pytest.importorskip("ray.cloudpickle", reason="packing components needs ray's cloudpickle")

# a fresh worker process: ragloom importable, the user's module folder not on its path
WORKER = """
import json, sys
from types import SimpleNamespace
from ragloom.core import registry
from ragloom.scale.components import install_components
try:
    registry.get(sys.argv[1])
except Exception as e:
    before = type(e).__name__
install_components(sys.stdin.buffer.read())
rerank = registry.create(sys.argv[1], {"k": 2})
hits = rerank(SimpleNamespace(hits=["a", "b", "c"]))["hits"]
print(json.dumps({"before": before, "hits": hits, "range": registry.get(sys.argv[1]).search["k"]}))
"""


@pytest.fixture
def user_module(tmp_path: Path) -> Iterator[ModuleType]:
    """The user's ``mycomps.py`` imported here only, under a fresh name no worker can import or know."""
    with driver_only_module(tmp_path) as module:
        yield module


def test_only_components_defined_outside_ragloom_are_packed(user_module: ModuleType) -> None:
    assert [e.name for e in registry.defined_outside()] == [NAME]
    forget_user_module(user_module.__name__)
    assert registry.defined_outside() == [] and pack_components(cloudpickle) is None
    setup, fn = with_components(None, None, len)
    assert setup is None and fn is len  # nothing to send: the work is unchanged


def test_a_worker_that_cannot_import_the_module_registers_the_packed_component(
    user_module: ModuleType,
) -> None:
    pack = pack_components(cloudpickle)
    assert pack is not None
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, NAME],
        input=pack,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr.decode()
    seen = json.loads(worker.stdout.decode().strip().splitlines()[-1])
    assert seen == {"before": "RegistryError", "hits": ["c", "b"], "range": [2, 3]}


def test_a_packed_component_colliding_with_another_definition_is_refused(user_module: ModuleType) -> None:
    pack = pack_components(cloudpickle)
    install_components(pack)  # the same definition again: replaces its entry
    assert registry.get(NAME).search == {"k": (2, 3)}
    entry = registry.get(NAME)
    registry._ENTRIES[NAME] = registry.Entry(NAME, len, "node", "")  # another definition under the name
    try:
        with pytest.raises(RegistryError, match="cannot register it again: pick another name"):
            registry.add_entries([entry])
    finally:
        registry._ENTRIES[NAME] = entry


def test_work_without_setup_registers_the_pack_before_its_first_item(user_module: ModuleType) -> None:
    pack = pack_components(cloudpickle)
    setup, fn = with_components(pack, None, lambda item: registry.create(NAME, {"k": item}).__name__)
    registry._ENTRIES.pop(NAME)  # a worker that never saw the driver's registry
    shipping._INSTALLED.clear()  # nor any pack
    assert setup is None and fn(2) == "rerank" and registry.get(NAME).search == {"k": (2, 3)}


def test_a_factory_that_does_not_pickle_is_left_out_with_a_warning(user_module: ModuleType) -> None:
    lock = threading.Lock()

    def guarded(k: int = 1) -> Any:
        """Holds a lock: it cannot travel."""
        with lock:
            return k

    registry.register("tests.unpicklable")(guarded)
    try:
        with pytest.warns(ComponentShippingWarning, match="'tests.unpicklable' .* cannot be sent"):
            pack = pack_components(cloudpickle)
    finally:
        registry._ENTRIES.pop("tests.unpicklable", None)
    assert pack is not None and [e.name for e in pickle.loads(pack)] == [NAME]  # the others still travel
