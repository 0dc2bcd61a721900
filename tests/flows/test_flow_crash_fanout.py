"""SIGKILL in the middle of a map fan-out, and in the middle of a parallel step where one branch waits for a
human: the resumed run (a new process) loses nothing and re-runs no finished task."""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest
from flow_crashes import effects, kill_when, run_json

SCRIPT = Path(__file__).with_name("crash_fanout_flow.py")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX"),
]


def run_script(shape: str, mode: str, db: Path, workdir: Path) -> dict:
    return run_json(SCRIPT, shape, mode, db, workdir)


def stored_writes(db: Path) -> int:
    """Finished tasks committed by the running process (read from its SQLite file)."""
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM writes").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def kill_after(shape: str, db: Path, workdir: Path, done: Counter[str], writes: int) -> None:
    """Start the run, wait until the blocking node is ready, ``done`` effects happened and ``writes`` task
    writes are committed, then SIGKILL it."""

    def ready() -> bool:
        return (workdir / "ready").exists() and effects(workdir) >= done and stored_writes(db) >= writes

    args = [shape, "start", str(db), str(workdir)]
    kill_when(SCRIPT, args, workdir, ready, lambda: f"the run never got to {done}: {effects(workdir)}")
    (workdir / "block").unlink()


def test_sigkill_mid_map_fan_out_resumes_only_unfinished_instances(tmp_path: Path) -> None:
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference = run_script("map", "plain", tmp_path / "unused.sqlite", reference_dir)
    workdir = tmp_path / "crash"
    workdir.mkdir()
    db = tmp_path / "runs.sqlite"
    finished = Counter({"split": 1, "work:a": 1, "work:b": 1, "work:c": 1, "work:d": 1})
    kill_after("map", db, workdir, finished, writes=4)
    assert effects(workdir) == finished  # killed inside the "slow" instance
    resumed = run_script("map", "resume", db, workdir)
    assert resumed["status"] == "done"
    assert sorted(resumed["state"]["log"]) == sorted(reference["state"]["log"])
    assert resumed["steps"] == reference["steps"] == [["split"], ["work"] * 5, ["combine"]]
    assert effects(workdir) == effects(reference_dir)  # every instance completed exactly once
    assert all(count == 1 for count in effects(workdir).values())


def test_sigkill_mid_interrupted_parallel_branch_loses_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "crash"
    workdir.mkdir()
    db = tmp_path / "runs.sqlite"
    kill_after("hitl", db, workdir, Counter({"split": 1, "fast": 1}), writes=1)
    assert effects(workdir) == Counter({"split": 1, "fast": 1})  # "ask" waits for a human, "slow" was killed
    paused = run_script("hitl", "resume", db, workdir)  # the crashed step again: only ask and slow run
    assert (paused["status"], paused["pending"]) == ("interrupted", ["ask"])
    assert effects(workdir) == Counter({"split": 1, "fast": 1, "slow": 1})
    done = run_script("hitl", "answer", db, workdir)
    assert done["status"] == "done"
    assert done["state"]["log"] == ["split", "ask:yes", "fast", "slow", "combine"]
    assert done["steps"] == [["split"], ["ask", "fast", "slow"], ["combine"]]
    assert effects(workdir) == Counter({"split": 1, "fast": 1, "slow": 1, "ask": 1, "combine": 1})
