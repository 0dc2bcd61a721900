"""Fixtures of the ``ragloom serve`` tests (helpers live in serve_fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_fakes import ECHO_FLOW


@pytest.fixture
def echo_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "echo.yaml"
    path.write_text(ECHO_FLOW)
    return path
