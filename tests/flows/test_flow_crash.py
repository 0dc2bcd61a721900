"""Crash test: SIGKILL a run that checkpoints to SQLite, resume it in a new process; the final state equals
an uninterrupted run and no completed node ran twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("crash_flow.py")


def run_script(mode: str, db: Path | str, workdir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), mode, str(db), str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def effects(workdir: Path) -> Counter[str]:
    return Counter((workdir / "effects").read_text().split())


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
    (workdir / "block").write_text("block")
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "start", db, str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (workdir / "ready").exists():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the flow never reached the slow node"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return effects(workdir)
