"""`--llm-base-url` / `--llm-model`: one without the other names the missing CLI flag."""

from __future__ import annotations

import pytest

from ragloom.cli.llm_option import remote_llm
from ragloom.core.errors import ConfigError


def test_base_url_without_model_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"--llm-base-url .* needs --llm-model NAME"):
        remote_llm("http://127.0.0.1:9/v1", None)


def test_model_without_base_url_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="needs --llm-base-url URL"):
        remote_llm(None, "m")


def test_both_make_a_client() -> None:
    llm = remote_llm("http://127.0.0.1:9/v1", "m")
    assert llm.model == "m" and llm.base_url == "http://127.0.0.1:9/v1"


def test_serve_reports_the_flag(tmp_path) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app

    result = CliRunner().invoke(
        app, ["serve", "examples/flows/qa.yaml", "--llm-base-url", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 2 and "--llm-model NAME" in result.output
