"""An index run over a source with no documents is refused and leaves the index as it was: incremental
runs drop documents missing from the source, so an empty folder (a failed mount, a typo) would wipe it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app


def _docs(folder: Path) -> Path:
    folder.mkdir()
    (folder / "tea.txt").write_text(
        "Green tea is made from the leaves of Camellia sinensis.", encoding="utf-8"
    )
    (folder / "rock.md").write_text("Granite is an igneous rock found in Scotland.", encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", [["index"], ["graph", "index"]])
def test_an_empty_source_is_refused_and_the_index_is_kept(tmp_path: Path, command: list[str]) -> None:
    docs, empty, store = _docs(tmp_path / "docs"), tmp_path / "empty", tmp_path / "store"
    empty.mkdir()
    options = [
        "--store",
        str(store),
        *(["--vector-store", "memory"] if command == ["index"] else ["--no-flat"]),
    ]
    runner = CliRunner()
    first = runner.invoke(app, [*command, str(docs), *options])
    assert first.exit_code == 0 and "2 added" in first.output, first.output

    refused = runner.invoke(app, [*command, str(empty), *options])
    assert refused.exit_code == 2
    assert "holds no documents" in refused.output and "nothing was changed" in refused.output

    again = runner.invoke(app, [*command, str(docs), *options])
    assert again.exit_code == 0 and "0 added, 0 changed, 0 deleted, 2 unchanged" in again.output
