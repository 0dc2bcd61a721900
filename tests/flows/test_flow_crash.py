"""Crash test: SIGKILL a run that checkpoints to SQLite, resume it in a new process; the final state equals
an uninterrupted run and no completed node ran twice."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from flow_crashes import effects, kill_when, run_json

SCRIPT = Path(__file__).with_name("crash_flow.py")


def run_script(mode: str, db: Path | str, workdir: Path) -> dict:
    return run_json(SCRIPT, mode, db, workdir)


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_then_resume_in_new_process(tmp_path: Path) -> None:
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference = run_script("plain", tmp_path / "unused.sqlite", reference_dir)

    workdir = tmp_path / "crash"
    workdir.mkdir()
    db = tmp_path / "runs.sqlite"
    before = kill_in_slow(str(db), workdir)
    assert before == Counter({"a": 1, "b": 1, "c": 1, "join": 1, "loop": 3})  # killed inside "slow"

    (workdir / "block").unlink()
    resumed = run_script("resume", db, workdir)
    assert resumed["state"] == reference["state"]
    assert resumed["steps"] == reference["steps"]
    assert effects(workdir) == effects(reference_dir)  # every node completed exactly once
    assert all(count == (3 if name == "loop" else 1) for name, count in effects(workdir).items())


def kill_in_slow(db: str, workdir: Path) -> Counter[str]:
    """Start the flow (checkpointing to ``db``: a file or a postgresql:// URL), SIGKILL it in node "slow"."""
    ready, late = (workdir / "ready").exists, lambda: "the flow never reached the slow node"
    kill_when(SCRIPT, ["start", db, str(workdir)], workdir, ready, late)
    return effects(workdir)
