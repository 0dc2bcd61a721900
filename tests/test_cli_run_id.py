"""A killed ``ragloom run --checkpoint`` can be resumed: the run id is printed before the run starts.

The run goes through ``python -m ragloom`` in a subprocess, which is killed (SIGKILL) while its second node
waits; the id read from stderr before the kill resumes it to the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from ragloom.cli import app

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "flows"
LOOP = EXAMPLES / "loop_counter.yaml"

NODES = '''
import os
import time
from pathlib import Path


def wait_for_go(state):
    """Blocks until the file named by $GO_FILE exists (the test kills the run while it waits)."""
    while not Path(os.environ["GO_FILE"]).exists():
        time.sleep(0.05)
    return {"count": state.count + 10}
'''

FLOW = """\
name: killable
state:
  count: {type: int, default: 0}
nodes:
  tick: {uses: flows.increment, with: {key: count}}
  wait: {uses: 'waitnodes:wait_for_go'}
edges:
  - {from: START, to: tick}
  - {from: tick, to: wait}
  - {from: wait, to: END}
"""


def _ragloom(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "GO_FILE": str(tmp_path / "go"),
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path), str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ragloom", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _checkpointed_steps(db: Path, run_id: str) -> int:
    """Steps of the run durable so far, as another process sees them (the running writer's step log too)."""
    from ragloom.flows import SQLiteCheckpointer

    if not db.exists():
        return 0
    reader = SQLiteCheckpointer(db, durability="async")  # async: a reader that writes no step log of its own
    try:
        return len(reader.history(run_id))
    finally:
        reader.close()


def test_a_killed_run_prints_its_id_first_and_resumes(tmp_path: Path) -> None:
    (tmp_path / "waitnodes.py").write_text(NODES)
    flow, db = tmp_path / "flow.yaml", tmp_path / "runs.sqlite"
    flow.write_text(FLOW)
    args = ["run", str(flow), "--checkpoint", str(db), "--allow-import", "waitnodes"]
    proc = _ragloom(tmp_path, *args)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # printed before any node runs
    assert first.startswith("run ") and "--resume" in first, first
    run_id = first.split()[1]
    deadline = time.monotonic() + 60
    while _checkpointed_steps(db, run_id) < 2 and time.monotonic() < deadline:  # tick is done, wait waits
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (tmp_path / "go").touch()
    resumed = _ragloom(tmp_path, *args, "--resume", run_id)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert json.loads(out) == {"count": 11}  # tick ran once, before the kill; wait ran after the resume


def test_run_id_option_names_the_run(tmp_path: Path) -> None:
    cli, db = CliRunner(), str(tmp_path / "runs.sqlite")
    first = cli.invoke(
        app, ["run", str(LOOP), "--checkpoint", db, "--run-id", "nightly-1", "--interrupt-before", "report"]
    )
    assert first.exit_code == 0, first.output
    assert first.stderr.startswith("run nightly-1 started")
    second = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--resume", "nightly-1"])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == {"count": 3, "message": "counted to 3"}
    again = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--run-id", "nightly-1"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    both = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--run-id", "x", "--resume", "nightly-1"])
    assert both.exit_code == 2 and "--run-id names a new run" in both.stderr
    bad = cli.invoke(app, ["run", str(LOOP), "--checkpoint", db, "--run-id", "two words"])
    assert bad.exit_code == 2 and "without spaces" in bad.stderr


def test_python_dash_m_ragloom_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ragloom", "version"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    from ragloom import __version__

    assert done.stdout.strip() == __version__
