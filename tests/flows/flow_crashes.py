"""Running a crash script (crash_flow.py, crash_fanout_flow.py) and SIGKILLing it mid-run: shared by the
SQLite crash tests and the PostgreSQL one.

A script writes one word per completed node to ``workdir/effects``, creates ``workdir/ready`` when its slow
node is running, and blocks there while ``workdir/block`` exists; a finished run prints its result as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path


def run_json(script: Path, *args: str | Path) -> dict:
    """Run ``script *args`` to the end; its JSON output."""
    out = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def effects(workdir: Path) -> Counter[str]:
    """The nodes that completed, counted (none before the file exists)."""
    path = workdir / "effects"
    return Counter(path.read_text().split()) if path.exists() else Counter()


def kill_when(
    script: Path, args: list[str], workdir: Path, ready: Callable[[], bool], late: Callable[[], str]
) -> None:
    """Start ``script *args`` with its slow node blocked, wait until ``ready()`` (60 s at most, then fail
    with the message ``late()``), then SIGKILL it."""
    (workdir / "block").write_text("block")
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, late()
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
