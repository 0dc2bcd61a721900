"""Shared fixtures: the shared datasets folder and a per-test ragloom cache dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragloom.core.paths import data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "scifact").is_dir():
        pytest.fail(
            f"shared datasets not found at {path}; set RAGLOOM_DATA to the folder holding scifact/ etc."
        )
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep test caches out of the user cache dir; one cache per session (model conversions are shared)."""
    monkeypatch.setenv("RAGLOOM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "ragloom-cache"))
