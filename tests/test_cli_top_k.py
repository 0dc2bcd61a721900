"""Every command that takes ``-k`` refuses k < 1 with an error naming the option (not "no hits")."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragloom.cli import app

COMMANDS = [["query"], ["graph", "query"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("k", ["0", "-3"])
def test_k_below_one_is_a_clear_error_naming_the_option(tmp_path: Path, command: list[str], k: str) -> None:
    result = CliRunner().invoke(app, [*command, str(tmp_path / "store"), "a question", "-k", k])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.replace("│", " ").split())  # typer boxes the message; it may wrap
    assert "Invalid value for '-k'" in text and "greater than or equal to 1" in text
    assert "no hits" not in text and "Traceback" not in text
