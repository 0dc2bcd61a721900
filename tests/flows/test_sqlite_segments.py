"""SQLiteCheckpointer's storage: one segment per run and commit. A step saved again in a later commit wins,
rows of files written before segments are still read and pruned, pruning rewrites a run's segments into one,
and a live writer's uncommitted steps are read by another checkpointer but committed only by their writer."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from ragloom.flows import Checkpoint, SQLiteCheckpointer
from ragloom.flows.step_log import decode_rows


def segments(db: Path) -> list[tuple[str, int, list[int]]]:
    """(run id, seq, steps) of every committed segment, read by a plain sqlite3 connection."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT run_id, seq, rows FROM segments ORDER BY run_id, seq").fetchall()
    return [(run_id, seq, [r[1] for r in decode_rows(blob)]) for run_id, seq, blob in rows]


@pytest.mark.parametrize("durability", ["step", "async"])
def test_a_step_saved_again_in_a_later_commit_wins(tmp_path: Path, durability: str) -> None:
    db = tmp_path / "c.sqlite"
    cp = SQLiteCheckpointer(db, durability=durability)
    cp.save(Checkpoint("r", 0, {"x": 0}, ("a",)))
    cp.save(Checkpoint("r", 1, {"x": 1}, ("b",), status="interrupted"))
    cp.commit()
    cp.save(Checkpoint("r", 1, {"x": 10}, ("b",)))  # a resume with an update re-saves the step
    cp.commit()
    latest = SQLiteCheckpointer(db, durability="async").latest("r")
    assert latest is not None and (latest.step, latest.state, latest.status) == (1, {"x": 10}, "running")
    cp.save(Checkpoint("r", 2, {"x": 11}, (), status="done"))
    cp.commit()
    assert segments(db) == [("r", 1, [0, 1]), ("r", 2, [1]), ("r", 3, [2])]
    reader = SQLiteCheckpointer(db, durability="async")
    assert [(c.step, c.state["x"], c.status) for c in reader.history("r")] == [
        (0, 0, "running"),
        (1, 10, "running"),
        (2, 11, "done"),
    ]
    cp.close()
    reader.close()


def test_rows_of_older_files_are_read_overridden_by_segments_and_pruned(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    SQLiteCheckpointer(db).close()  # creates the tables
    with sqlite3.connect(db) as conn:  # what a file written before segments holds: one row per step
        payload = b'[{"x":0},["n"],[],[]]'
        conn.execute("INSERT INTO checkpoints VALUES ('old', 0, 'running', 'f', ?)", (payload,))
        conn.execute("INSERT INTO checkpoints VALUES ('old', 1, 'running', 'f', ?)", (payload,))
        conn.execute("INSERT INTO runs VALUES ('old', 1.0)")
    reader = SQLiteCheckpointer(db, durability="async")
    latest = reader.latest("old")
    assert latest is not None and (latest.step, latest.state) == (1, {"x": 0})  # an old row
    cp = SQLiteCheckpointer(db)
    cp.save(Checkpoint("old", 1, {"x": 1}, ("n",)))  # the resumed run re-saves step 1 ...
    cp.save(Checkpoint("old", 2, {"x": 2}, (), status="done"))  # ... and finishes
    latest = reader.latest("old")
    assert latest is not None and (latest.step, latest.state) == (2, {"x": 2})  # from the writer's log
    assert [(c.step, c.state) for c in cp.history("old")] == [(0, {"x": 0}), (1, {"x": 1}), (2, {"x": 2})]
    latest = reader.latest("old")
    assert latest is not None and (latest.step, latest.state) == (2, {"x": 2})  # now from its segment
    assert cp.prune(keep_last=2) == 1
    assert [(c.step, c.state) for c in cp.history("old")] == [(1, {"x": 1}), (2, {"x": 2})]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
    assert segments(db) == [("old", 1, [1, 2])]  # rewritten as one segment
    cp.close()


def test_pruning_a_run_of_many_segments_keeps_the_rest_intact(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite"
    cp = SQLiteCheckpointer(db)
    for step in range(6):
        cp.save(
            Checkpoint(
                "long",
                step,
                {"x": step},
                () if step == 5 else ("n",),
                status="done" if step == 5 else "running",
            )
        )
        cp.commit()  # one segment per commit
    cp.save(Checkpoint("other", 0, {"x": 0}, (), status="done"))
    cp.commit()
    assert len(segments(db)) == 7
    assert cp.prune(keep_last=2) == 4
    assert [(c.step, c.state["x"]) for c in cp.history("long")] == [(4, 4), (5, 5)]
    assert segments(db) == [("long", 1, [4, 5]), ("other", 1, [0])]
    cp.save(Checkpoint("long", 6, {"x": 6}, (), status="done"))  # later commits number on from the rewrite
    cp.commit()
    assert segments(db)[:2] == [("long", 1, [4, 5]), ("long", 2, [6])]
    cp.close()


def test_a_live_writers_steps_are_read_by_others_but_committed_by_it(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite"
    writer, reader = SQLiteCheckpointer(db), SQLiteCheckpointer(db, durability="async")
    writer.save(Checkpoint("r", 0, {"x": 0}, ("n",)))
    writer.save(Checkpoint("r", 1, {"x": 1}, ("n",)))
    assert [c.step for c in reader.history("r")] == [0, 1]
    assert reader.run_ids() == ["r"]
    assert segments(db) == []  # read from the writer's log, not committed by the reader
    writer.commit()
    assert segments(db) == [("r", 1, [0, 1])]
    assert [c.step for c in reader.history("r")] == [0, 1]
    writer.close()
    reader.close()


def test_a_dead_writers_steps_stay_visible_while_another_reader_folds_them(tmp_path: Path) -> None:
    db = tmp_path / "fold.sqlite"
    writer = SQLiteCheckpointer(db)
    writer.save(Checkpoint("r", 0, {"x": 0}, ("n",)))
    writer.save(Checkpoint("r", 1, {"x": 1}, ("n",)))
    (log,) = tmp_path.glob("fold.sqlite.steps-*")
    log.rename(f"{log}.folding-{os.getpid()}")  # a live reader's claim of a dead writer's log looks like this
    reader = SQLiteCheckpointer(db, durability="async")
    assert [c.step for c in reader.history("r")] == [0, 1]  # not missed while the other reader commits them
    assert segments(db) == []  # committed by the folding reader, not by this one
    reader.close()
    writer.close()
