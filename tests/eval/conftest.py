"""The tiny BEIR folder (six documents, four questions with answers and qrels) for evaluator tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_beir import write_beir


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "tiny")
