"""The package as a whole: the command starts, every subpackage imports, ruff (lint, format) and mypy pass."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ragloom

ROOT = Path(__file__).resolve().parents[1]


def _subpackages() -> list[str]:
    """Every package under ragloom/, found on disk (importing here would turn one failure into many)."""
    root = Path(ragloom.__file__).parent
    found = []
    for init in sorted(root.rglob("__init__.py")):
        parts = init.parent.relative_to(root.parent).parts
        if "__pycache__" not in parts:
            found.append(".".join(parts))
    return found


def _ragloom_command() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point via ``-c``."""
    script = Path(sys.executable).with_name("ragloom")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from ragloom.cli import main; main()"]


def test_cli_help_runs_in_a_fresh_process() -> None:
    done = subprocess.run([*_ragloom_command(), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("run", "flow", "version"):
        assert command in done.stdout
    flow_help = subprocess.run(
        [*_ragloom_command(), "flow", "--help"], capture_output=True, text=True, timeout=120
    )
    assert flow_help.returncode == 0 and "show" in flow_help.stdout and "validate" in flow_help.stdout


@pytest.mark.parametrize("name", _subpackages())
def test_every_subpackage_imports(name: str) -> None:
    importlib.import_module(name)


@pytest.mark.parametrize(
    "module",
    ["ragloom.flows.yaml_io", "ragloom.flows.typespec", "ragloom.flows.when", "ragloom.flows.components"],
)
def test_flow_modules_import(module: str) -> None:
    importlib.import_module(module)


def _tool(name: str) -> list[str]:
    if importlib.util.find_spec(name) is None:  # pragma: no cover - the test extra installs both
        pytest.fail(f"{name} is not installed; install the test extra: pip install -e '.[test]'")
    return [sys.executable, "-m", name]


def test_ruff_passes_on_the_package() -> None:
    done = subprocess.run(
        [*_tool("ruff"), "check", "--output-format", "concise", "ragloom"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_code_is_ruff_formatted() -> None:
    """Formatting drift is noise in review diffs: keep the whole tree as ``ruff format`` leaves it."""
    paths = ["ragloom", "tests", "benchmarks", "examples"]
    done = subprocess.run(
        [*_tool("ruff"), "format", "--check", *paths], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_passes_on_the_package() -> None:
    """mypy as configured in pyproject ([tool.mypy], packages = ragloom): ~35 s CPU cold, seconds cached."""
    assert shutil.which("mypy") or importlib.util.find_spec("mypy")
    done = subprocess.run(_tool("mypy"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
