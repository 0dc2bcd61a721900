"""The executor protocol's local implementation and ``make_executor`` (no Ray needed): ordered results,
per-item errors in their slots, setup run once, clear errors for bad names and settings."""

from __future__ import annotations

import threading

import pytest

from ragloom.core.errors import ConfigError
from ragloom.scale import Executor, LocalExecutor, first_error, make_executor


def test_local_map_keeps_order_and_puts_each_error_in_its_slot() -> None:
    def half(x: int) -> float:
        if x == 3:
            raise ValueError("three is odd here")
        return x / 2

    out = LocalExecutor(3).map(half, [4, 3, 2, 8])
    assert out[0] == 2 and out[2] == 1 and out[3] == 4
    assert isinstance(out[1], ValueError) and "three" in str(out[1])
    with pytest.raises(ValueError, match="three"):
        first_error(out)
    assert first_error([1, 2]) == [1, 2] and LocalExecutor().map(half, []) == []


def test_setup_runs_once_and_its_state_reaches_every_call() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def setup() -> str:
        with lock:
            calls.append(1)
        return "model"

    out = LocalExecutor(4).map(lambda state, x: f"{state}:{x}", list(range(10)), setup=setup)
    assert out == [f"model:{i}" for i in range(10)] and len(calls) == 1


def test_make_executor_names_and_bad_settings() -> None:
    local = make_executor()
    assert isinstance(local, LocalExecutor) and isinstance(local, Executor) and local.name == "local"
    assert make_executor("local", workers=2).workers == 2
    with pytest.raises(ConfigError, match="unknown executor 'dask'; choose one of local, ray"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="workers must be >= 1"):
        LocalExecutor(0)


def test_index_and_eval_commands_refuse_an_unknown_executor(tmp_path, shared_data) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.txt").write_text("Apples grow on trees.")
    out = CliRunner().invoke(app, ["index", str(src), "--store", str(tmp_path / "idx"), "--executor", "dask"])
    assert out.exit_code == 2 and "unknown executor 'dask'" in out.output
    assert not (tmp_path / "idx" / "manifest.json").exists()
    out = CliRunner().invoke(
        app, ["eval", str(shared_data / "scifact"), "--limit", "2", "--executor", "dask"]
    )
    assert out.exit_code == 2 and "unknown executor 'dask'" in out.output
