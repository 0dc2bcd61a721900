"""Fuzz: 10,000 malformed flow files through ``ragloom flow validate``'s code path, 0 tracebacks.

Every file either compiles or raises a RagloomError whose message starts with ``file:line:column:``
(the generator is :mod:`flow_fuzz_cases`: mutations of the example flows and of generated valid flows).
The files are checked in memory through :func:`compile_flow_bytes`, which is what ``compile_file`` runs
after reading a file; a sample also goes through the CLI on disk.
"""

from __future__ import annotations

import collections
import re
import traceback
from pathlib import Path

from flow_fuzz_cases import cases
from typer.testing import CliRunner

from ragloom.cli import app
from ragloom.core.errors import RagloomError
from ragloom.flows.yaml_io import compile_flow_bytes

N_CASES = 10_000
SEED = 20261204


def _outcome(data: bytes, name: str) -> str:
    """``ok``, ``located`` or a description of what went wrong (an unlocated error or a traceback)."""
    try:
        compile_flow_bytes(data, name)
    except RagloomError as e:
        if re.match(re.escape(name) + r":\d+:\d+: \S", str(e)):
            return "located"
        return f"unlocated {type(e).__name__}: {str(e)[:300]}"
    except Exception:  # the point of the test: any other exception is a failure
        return "traceback " + traceback.format_exc(limit=-3)
    return "ok"


def test_ten_thousand_malformed_flow_files_give_located_errors() -> None:
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failures: list[str] = []
    for i, (kind, data) in enumerate(cases(SEED, N_CASES)):
        name = f"case-{i:05d}.yaml"
        outcome = _outcome(data, name)
        by_kind[kind.split("+")[0]][outcome if outcome in ("ok", "located") else "bad"] += 1
        if outcome not in ("ok", "located"):
            failures.append(f"{name} ({kind}): {outcome}")
    total = sum(sum(c.values()) for c in by_kind.values())
    assert total == N_CASES
    assert not failures, f"{len(failures)} files without a located error:\n" + "\n".join(failures[:10])
    located = sum(c["located"] for c in by_kind.values())
    assert located > 0.8 * N_CASES  # the mutations do break the files
    assert all(c["located"] for c in by_kind.values())  # every kind of mutation produced errors


def test_a_sample_through_the_cli_exits_2_with_one_located_line(tmp_path: Path) -> None:
    cli = CliRunner()
    for i, (kind, data) in enumerate(cases(SEED + 1, 60)):
        path = tmp_path / f"case-{i}.yaml"
        path.write_bytes(data)
        result = cli.invoke(app, ["flow", "validate", str(path)])
        assert result.exit_code in (0, 2), (kind, result.output)
        if result.exit_code == 2:
            assert "Traceback" not in result.output
            assert re.match(rf"error: {re.escape(str(path))}:\d+:\d+: ", result.stderr), (kind, result.stderr)
