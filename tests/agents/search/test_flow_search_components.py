"""``ragloom search --components mycomps.py``: the user's own module, imported on their request, adds its
components to the search space (and the journal records it as a setting of the search)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tiny_beir
from typer.testing import CliRunner
from user_components import NAME, SOURCE, forget_user_module

from ragloom.cli import app
from ragloom.core import registry

QA = Path(__file__).resolve().parents[3] / "examples" / "flows" / "qa.yaml"


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_beir.write_beir(
        tmp_path / "tiny", [d for d in tiny_beir.DOCS if d[0] != "d4"], tiny_beir.QUESTIONS[:3]
    )


@pytest.fixture
def mycomps(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / f"mycomps_{uuid.uuid4().hex[:8]}.py"
    path.write_text(SOURCE, encoding="utf-8")
    yield path
    forget_user_module(path.stem)


def test_search_imports_the_users_module_and_proposes_its_component(
    tiny: Path, mycomps: Path, tmp_path: Path
) -> None:
    others = [e.name for e in registry.searchable() if e.name != NAME]  # a small space: it is proposed early
    out = tmp_path / "out"
    args = ["search", "--seed", str(QA), "--dataset", str(tiny), "--dev-fraction", "1.0", "--budget", "3"]
    args += ["--components", str(mycomps), "--out", str(out)]
    for name in others:
        args += ["--exclude", name]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rerank: uses mycomps.rerank.reverse" in result.output
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert ["rerank: uses mycomps.rerank.reverse"] in [r["edits"] for r in records]
    header = json.loads((out / "journal.jsonl").read_text().splitlines()[0])
    assert header["settings"]["components"] == [str(mycomps.resolve())]


def test_a_module_that_cannot_be_imported_is_named(tmp_path: Path, tiny: Path) -> None:
    broken = tmp_path / "broken_comps.py"
    broken.write_text("raise RuntimeError('boom')\n")
    cli = CliRunner()
    for spec, message in (
        ("no_such_comps_module", "--components no_such_comps_module: cannot import it"),
        (str(broken), f"--components {broken}: importing it failed: RuntimeError: boom"),
        (str(tmp_path / "absent.py"), "absent.py: no such file"),
    ):
        result = cli.invoke(
            app, ["search", "--dataset", str(tiny), "--components", spec, "--out", str(tmp_path)]
        )
        assert result.exit_code == 2 and message in result.output, result.output
