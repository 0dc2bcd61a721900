"""A tiny BEIR folder (six documents, four questions with answers and qrels) for evaluator tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DOCS = [
    ("d1", "Limits", "SQLite does not support joins containing more than 64 tables."),
    ("d2", "WAL", "By default SQLite checkpoints the write-ahead log when it reaches 1000 pages."),
    ("d3", "Affinity", "A column declared DATETIME gets NUMERIC affinity in an ordinary table."),
    ("d4", "Markup", "A passage with <script>alert('x')</script> markup must show as text."),
    ("d5", "Vacuum", "The VACUUM command rebuilds the database file, repacking it into minimal space."),
    ("d6", "Rtree", "An R*Tree index is a special index designed for doing range queries."),
]
QUESTIONS = [
    ("q1", "How many tables can a join contain at most?", "d1", "64"),
    ("q2", "How large does the WAL get before a checkpoint?", "d2", "1000 pages"),
    ("q3", "Which affinity does a DATETIME column get?", "d3", "NUMERIC"),
    ("q4", "What does the VACUUM command do with the database file?", "d5", "rebuilds"),
]


@pytest.fixture
def tiny(beir_folder: Callable[..., Path]) -> Path:
    return beir_folder(DOCS, QUESTIONS)
