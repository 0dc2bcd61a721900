"""Crashing an index operation at a named stage (shared by the update and delete crash tests): in process,
an ``on_stage`` callback that raises :class:`Crash`; in a child process, SIGKILL.

For :func:`kill_at_stage` the child script is the caller's: it must print ``STAGE <name>`` and then block
reading stdin when its ``on_stage`` callback reaches the stage to block at. Killing it there leaves the index
exactly as a killed process leaves it, at the riskiest points, with no timing guesswork.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class Crash(Exception):
    pass


def crash_at(stage: str) -> Callable[[str, Any], None]:
    """An ``on_stage`` callback that raises :class:`Crash` when the operation reaches ``stage``."""

    def crash(name: str, info: Any) -> None:
        if name == stage:
            raise Crash(name)

    return crash


def kill_at_stage(script: str, tmp_path: Path, stage: str, args: list[str]) -> None:
    """Run ``script`` (source text) as ``python child.py *args``; SIGKILL it once it reports ``stage``."""
    child_file = tmp_path / "child.py"
    child_file.write_text(script, encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    child = subprocess.Popen(
        [sys.executable, str(child_file), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("STAGE"), f"child ended before reaching {stage!r}: {line!r}"
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
