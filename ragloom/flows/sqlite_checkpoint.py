"""SQLiteCheckpointer: one row per step in a WAL-mode SQLite file (stdlib sqlite3).

WAL with ``synchronous=NORMAL`` makes every committed step survive a killed process at the cost of one
small append to the WAL (no fsync per commit); an OS crash may lose the last steps, never corrupt the file.
The payload is typed JSON (:mod:`ragloom.flows.serde`): opening a checkpoint file never runs code.
``serde="pickle"`` (opt-in, with a warning) stores any Python state, for files you trust; a pickled row is
refused unless the checkpointer was opened that way.

``durability="step"`` (default) makes each step durable before the next one starts: a killed process never
re-runs a completed step. The row goes to a step log with one ``write`` (ragloom/flows/step_log.py) and the
log is folded into the table in batches, so a step costs a file append instead of an SQLite commit.
``durability="async"`` keeps rows in memory and commits them in one transaction at the first save after the
oldest is 2 ms old (or 256 have queued up), and before a run returns (LangGraph's default mode is similarly
lazy): still one row per step; a process killed mid-run may lose the steps since the last commit, including
those before a long-running node (they are re-run on resume).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.flows import retention as _ret
from ragloom.flows import serde as _serde
from ragloom.flows.checkpoint import Checkpoint, TaskWrite
from ragloom.flows.checkpoint_doc import decode_doc, dumps_checkpoint, record_from_list, record_to_list
from ragloom.flows.control import Interrupt, Send  # noqa: F401  (imported: typed JSON rebuilds them)
from ragloom.flows.step_log import StepLog, other_logs
from ragloom.flows.trace import StepRecord

_TOUCH = "INSERT OR REPLACE INTO runs VALUES (?, ?)"
_FOLD_EVERY = 256  # durability="step": log records folded into the table per transaction
_GROUP_S = 0.002  # durability="async": rows older than this are committed with the next save
_WAL_PAGES = 16000  # WAL pages (1 KiB) between checkpoints (the fsyncs of WAL mode)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    status TEXT NOT NULL,
    flow TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID
"""

_WRITES_SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    task INTEGER NOT NULL,
    node TEXT NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (run_id, step, task)
) WITHOUT ROWID
"""


_RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL PRIMARY KEY,
    saved REAL NOT NULL
) WITHOUT ROWID
"""


class SQLiteCheckpointer:
    """Checkpoints in ``path`` (created if missing). Thread-safe; one connection per checkpointer."""

    def __init__(
        self,
        path: str | Path,
        serde: str | None = None,
        durability: str = "step",
        retention: _ret.Retention | None = None,
    ) -> None:
        serde = serde or os.environ.get(_serde.SERDE_ENV) or "json"  # the env var: opting in from the CLI
        if serde not in ("pickle", "json"):
            raise ConfigError(f"SQLiteCheckpointer(serde={serde!r}): use 'json' (or, opted in, 'pickle')")
        if serde == "pickle":
            _serde.warn_pickle(str(path))
        if durability not in ("step", "async"):
            raise ConfigError(f"SQLiteCheckpointer(durability={durability!r}): use 'step' or 'async'")
        self.path = str(path)
        self.serde = serde
        self.durability = durability
        self.retention = retention  # applied by flush() (after each run), see ragloom/flows/retention.py
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # 1 KiB pages (new files only): a step's commit appends one page to the WAL, so a smaller page is
        # less to copy and checksum per step (~1 µs of ~8); larger states simply span more pages
        self._conn.execute("PRAGMA page_size=1024")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # WAL checkpoints are the only fsyncs in this mode; doing them every 16000 pages instead of 1000 makes
        # their cost per step 16x smaller (the WAL file then peaks at ~16 MB and is cut back to 16 MB)
        self._conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES}")
        self._conn.execute(f"PRAGMA journal_size_limit={_WAL_PAGES * 1024}")
        self._conn.execute(_SCHEMA)
        self._conn.execute(_WRITES_SCHEMA)
        self._conn.execute(_RUNS_SCHEMA)
        self._closed = False
        # durability="step": each row goes to a step log with one write() before the next step, and into the
        # table in batches (see ragloom/flows/step_log.py); an in-memory database has no log
        self._log = StepLog(self.path) if durability == "step" and self.path != ":memory:" else None
        self._insert = "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?)"
        self._cursor = self._conn.cursor()  # reused: one INSERT per step is the hot path
        self._queue: list[tuple[Any, ...]] = []  # durability="async": rows not committed yet
        self._first = 0.0  # when the oldest queued row was saved (time.monotonic)
        self._writer_error: BaseException | None = None

    # -- serialisation ----
    def _dumps(self, doc: Any, run_id: str) -> bytes:
        try:
            return _serde.dumps(doc, self.serde)
        except TypeError as e:
            raise self._not_json(run_id, e) from e

    def _not_json(self, run_id: str, e: TypeError) -> ConfigError:
        return ConfigError(
            f"state of run {run_id!r} is not JSON-serialisable ({e}); declare it as JSON values, "
            "dataclasses or pydantic models, or (for files you trust) use SQLiteCheckpointer(serde='pickle')"
        )

    def _encode(self, cp: Checkpoint) -> bytes:
        try:
            return dumps_checkpoint(cp, self.serde)  # Send/Interrupt: typed dataclasses
        except TypeError as e:
            raise self._not_json(cp.run_id, e) from e

    def _decode(self, run_id: str, step: int, status: str, flow: str, payload: bytes) -> Checkpoint:
        where = f"{self.path}: checkpoint of run {run_id!r} step {step}"
        state, nxt, arrived, rec, interrupts = decode_doc(_serde.loads(payload, self.serde, where))
        return Checkpoint(run_id, step, state, nxt, arrived, status, flow, rec, interrupts)

    # -- Checkpointer protocol ----
    def save(self, checkpoint: Checkpoint) -> None:
        if self._closed:  # with durability="async" no writer would ever commit the row: flush() would hang
            raise ConfigError(f"{self!r} is closed; open a new SQLiteCheckpointer to save checkpoints")
        row = (
            checkpoint.run_id,
            checkpoint.step,
            checkpoint.status,
            checkpoint.flow,
            self._encode(checkpoint),
        )
        if self.durability == "step":
            with self._lock:
                log = self._log
                if log is None:
                    self._cursor.execute(self._insert, row)
                    self._cursor.execute(_TOUCH, (row[0], time.time()))
                    return
                log.append(row)
                if len(log.pending) >= _FOLD_EVERY:
                    self._fold()
            return
        with self._lock:
            self._raise_writer_error()
            pending = self._queue
            pending.append(row)
            now = time.monotonic()
            if len(pending) == 1:
                self._first = now
            elif len(pending) >= _FOLD_EVERY or now - self._first >= _GROUP_S:
                self._commit_queue()

    def _commit_queue(self) -> None:
        """durability="async": commit the queued rows in one transaction (caller holds ``_lock``). A failed
        commit drops them (the run re-runs those steps on resume) and is raised by the next save/flush."""
        rows, self._queue = self._queue, []
        try:
            self._commit_rows(rows)
        except sqlite3.Error as e:
            self._writer_error = e

    def _raise_writer_error(self) -> None:
        if self._writer_error is not None:
            error, self._writer_error = self._writer_error, None
            raise ConfigError(f"{self!r} could not write checkpoints: {error}") from error

    def _fold(self) -> None:
        """Commit the step log's rows to the table in one transaction (caller holds ``_lock``)."""
        log = self._log
        if log is None or not log.pending:
            return
        self._commit_rows(log.pending)
        log.folded()

    def _commit_rows(self, rows: list[Any]) -> None:
        try:
            self._conn.execute("BEGIN")
            self._cursor.executemany(self._insert, rows)
            now = time.time()  # when each run last saved: retention by age (one row per run, not per step)
            self._cursor.executemany(_TOUCH, [(run_id, now) for run_id in {row[0] for row in rows}])
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            raise

    def _recover(self) -> None:
        """Fold the step logs of other checkpointers of this file (a killed process's last steps)."""
        if self.path == ":memory:":
            return
        rows, claimed = other_logs(self.path, self._log.path if self._log is not None else None)
        if rows:
            with self._lock:
                self._commit_rows(rows)
        for path in claimed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)

    def flush(self) -> None:
        """Wait until every saved checkpoint is committed to the table (then apply ``retention``)."""
        self._sync()
        if self.retention is not None:
            self.prune(self.retention.keep_last, self.retention.older_than)

    def _sync(self) -> None:
        if self._log is not None and self._log.pending:
            with self._lock:
                self._fold()
        if self.durability == "async":
            with self._lock:
                if self._queue:
                    self._commit_queue()
                self._raise_writer_error()

    def latest(self, run_id: str) -> Checkpoint | None:
        self._sync()
        self._recover()
        with self._lock:
            row = self._conn.execute(
                "SELECT run_id, step, status, flow, payload FROM checkpoints WHERE run_id = ? "
                "ORDER BY step DESC LIMIT 1",
                (run_id,),
            ).fetchone()
        return self._decode(*row) if row else None

    def history(self, run_id: str) -> list[Checkpoint]:
        """Every checkpoint of a run, oldest first (the state after each step: time travel, debugging)."""
        self._sync()
        self._recover()
        with self._lock:
            rows = self._conn.execute(
                "SELECT run_id, step, status, flow, payload FROM checkpoints WHERE run_id = ? ORDER BY step",
                (run_id,),
            ).fetchall()
        return [self._decode(*row) for row in rows]

    def records(self, run_id: str) -> list[StepRecord]:
        return [r for cp in self.history(run_id) for r in cp.records]

    def put_write(self, run_id: str, step: int, task: int, write: TaskWrite) -> None:
        """Commit one finished task at once (queued checkpoints first, so the write never outlives them)."""
        payload = self._dumps([write.update, [record_to_list(r) for r in write.records]], run_id)
        self._sync()
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO writes VALUES (?, ?, ?, ?, ?)",
                (run_id, step, task, write.node, payload),
            )

    def writes(self, run_id: str, step: int) -> dict[int, TaskWrite]:
        self._sync()
        with self._lock:
            rows = self._conn.execute(
                "SELECT task, node, payload FROM writes WHERE run_id = ? AND step = ?", (run_id, step)
            ).fetchall()
        out = {}
        for task, node, payload in rows:
            where = f"{self.path}: task {task} of run {run_id!r} step {step}"
            update, records = _serde.loads(payload, self.serde, where)
            out[int(task)] = TaskWrite(node, update, tuple(record_from_list(r) for r in records))
        return out

    def run_ids(self) -> list[str]:
        """Every stored run id (subflow runs included), sorted."""
        self._sync()
        self._recover()
        with self._lock:
            return [r for (r,) in self._conn.execute("SELECT DISTINCT run_id FROM checkpoints ORDER BY 1")]

    def prune(
        self,
        keep_last: int | None = None,
        older_than: dt.timedelta | None = None,
        run_ids: Iterable[str] | None = None,
        include_unfinished: bool = False,
    ) -> int:
        """Delete old checkpoints (rules: :mod:`ragloom.flows.retention`); returns how many were deleted."""
        _ret.check(keep_last, older_than)
        if self._log is not None and self._log.pending:
            with self._lock:
                self._fold()
        self._recover()
        with self._lock:
            rows = self._conn.execute("SELECT run_id, step, status FROM checkpoints ORDER BY run_id, step")
            saved = dict(self._conn.execute("SELECT run_id, saved FROM runs").fetchall())
            fallback = os.path.getmtime(self.path) if self.path != ":memory:" else time.time()
            runs: dict[str, _ret.RunInfo] = {}
            for run_id, step, status in rows:
                info = runs.setdefault(run_id, _ret.RunInfo([], status, saved.get(run_id, fallback)))
                info.steps.append(step)
                info.status = status
            doomed = _ret.plan(runs, keep_last, older_than, run_ids, include_unfinished)
            pairs = [(r, s) for r, steps in doomed.items() for s in steps]
            if pairs:
                self._conn.execute("BEGIN")
                self._cursor.executemany("DELETE FROM checkpoints WHERE run_id = ? AND step = ?", pairs)
                self._cursor.executemany("DELETE FROM writes WHERE run_id = ? AND step = ?", pairs)
                self._conn.execute("DELETE FROM runs WHERE run_id NOT IN (SELECT run_id FROM checkpoints)")
                self._conn.execute("COMMIT")
        return len(pairs)

    def close(self) -> None:
        """Commit pending rows, checkpoint the WAL into the database file and close the connection."""
        if self._closed:  # idempotent, like file.close()
            return
        self._sync()
        self._closed = True
        with self._lock:
            if self._log is not None:
                self._log.close()
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def __repr__(self) -> str:
        return f"SQLiteCheckpointer({self.path!r}, serde={self.serde!r}, durability={self.durability!r})"
