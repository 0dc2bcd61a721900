"""The step log behind SQLiteCheckpointer(durability="step"): records round-trip, a torn last record (a kill
mid-write) is ignored, and a reader folds a dead writer's log into the table exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ragloom.flows import Checkpoint, SQLiteCheckpointer
from ragloom.flows.step_log import decode_rows, encode_row


def test_rows_round_trip_and_a_torn_tail_is_ignored() -> None:
    rows = [("run-é", 1, "running", "flow", b"\x00payload"), ("r2", 2**40, "done", "", b"")]
    data = b"".join(encode_row(r) for r in rows)
    assert list(decode_rows(data)) == rows
    for cut in range(1, len(encode_row(rows[1]))):
        assert list(decode_rows(data[:-cut])) == rows[:1]


def test_a_dead_writers_log_is_folded_by_the_next_reader(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    writer = f"""
import os
from ragloom.flows import Checkpoint, SQLiteCheckpointer
cp = SQLiteCheckpointer({str(db)!r})
for step in range(3):
    cp.save(Checkpoint("r", step, {{"x": step}}, ("n",)))
os._exit(0)  # dies without flushing: the steps are only in its log
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    subprocess.run([sys.executable, "-c", writer], check=True, env=env, timeout=60)
    assert len(list(tmp_path.glob("runs.sqlite.steps-*"))) == 1
    reader = SQLiteCheckpointer(db)
    assert [cp.state for cp in reader.history("r")] == [{"x": 0}, {"x": 1}, {"x": 2}]
    latest = reader.latest("r")
    assert latest is not None and latest.step == 2
    reader.close()
    assert list(tmp_path.glob("runs.sqlite.steps-*")) == []  # folded once, then removed


def test_a_live_checkpointers_unfolded_steps_are_visible_to_another(tmp_path: Path) -> None:
    db = tmp_path / "runs.sqlite"
    first, second = SQLiteCheckpointer(db), SQLiteCheckpointer(db)
    first.save(Checkpoint("r", 1, {"x": 1}, ("n",)))
    got = second.latest("r")
    assert got is not None and got.state == {"x": 1}
    first.close()
    second.close()


def test_checkpoints_written_before_interrupts_were_stored_still_load(tmp_path: Path) -> None:
    import json
    import pickle
    import sqlite3

    for serde in ("pickle", "json"):
        db = tmp_path / f"old-{serde}.sqlite"
        SQLiteCheckpointer(db, serde=serde).close()  # creates the tables
        doc = ({"x": 1}, ("n",), {}, [])
        payload = pickle.dumps(doc) if serde == "pickle" else json.dumps([{"x": 1}, ["n"], [], []]).encode()
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO checkpoints VALUES ('old', 1, 'running', 'f', ?)", (payload,))
        got = SQLiteCheckpointer(db, serde=serde).latest("old")
        assert got is not None and (got.state, got.next, got.interrupts) == ({"x": 1}, ("n",), ())
