"""A tiny BEIR folder (six documents, four questions with answers and qrels) for evaluator and workflow
search tests: the rows live here once, each test folder's ``tiny`` fixture writes the ones it needs.

Importable from every test folder as ``tiny_beir`` (pytest puts ``tests/`` on the path for its conftest)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

DOCS = [
    ("d1", "Limits", "SQLite does not support joins containing more than 64 tables."),
    ("d2", "WAL", "By default SQLite checkpoints the write-ahead log when it reaches 1000 pages."),
    ("d3", "Affinity", "A column declared DATETIME gets NUMERIC affinity in an ordinary table."),
    ("d4", "Markup", "A passage with <script>alert('x')</script> markup must show as text."),
    ("d5", "Vacuum", "The VACUUM command rebuilds the database file, repacking it into minimal space."),
    ("d6", "Rtree", "An R*Tree index is a special index designed for doing range queries."),
]
#: (id, text, gold document id, answer)
QUESTIONS = [
    ("q1", "How many tables can a join contain at most?", "d1", "64"),
    ("q2", "How large does the WAL get before a checkpoint?", "d2", "1000 pages"),
    ("q3", "Which affinity does a DATETIME column get?", "d3", "NUMERIC"),
    ("q4", "What does the VACUUM command do with the database file?", "d5", "rebuilds"),
]


def write_beir(
    root: Path,
    docs: Sequence[tuple[str, str, str]] = DOCS,
    questions: Sequence[tuple[str, str, str, str]] = QUESTIONS,
) -> Path:
    """Write ``docs`` (id, title, text) and ``questions`` as a BEIR folder at ``root``: corpus, queries,
    answers and a test split of qrels where each question judges its one gold document."""
    (root / "qrels").mkdir(parents=True)
    corpus = [json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in docs]
    (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": q, "text": t}) for q, t, *_ in questions)
    )
    answers = [json.dumps({"_id": q, "answers": [a]}) for q, *_, a in questions]
    (root / "answers.jsonl").write_text("\n".join(answers))
    rows = "".join(f"{q}\t{d}\t1\n" for q, _, d, _ in questions)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root
