"""SQLiteCheckpointer: every step of every run in a WAL-mode SQLite file (stdlib sqlite3).

WAL with ``synchronous=NORMAL`` makes every committed step survive a killed process at the cost of one
small append to the WAL (no fsync per commit); an OS crash may lose the last steps, never corrupt the file.
The payload is typed JSON (:mod:`ragloom.flows.serde`): opening a checkpoint file never runs code.
``serde="pickle"`` (opt-in, with a warning) stores any Python state, for files you trust; a pickled row is
refused unless the checkpointer was opened that way.

Storage: a commit writes one ``segments`` row per run holding that run's steps since its last commit, as
step-log records (ragloom/flows/step_log.py: length-prefixed, no pickle), numbered ``seq`` 1, 2, ... per
run; a step saved twice (an interrupted step re-saved, a resume with an update) is read from the later
record. One row per run and commit instead of one per step: inserting a row costs more than writing a
step's record. Files written before segments hold one ``checkpoints`` row per step; those are still read
(and pruned), and a segment wins over them.

``durability="step"`` (default) makes each step durable before the next one starts: a killed process never
re-runs a completed step. The step goes to a step log with one ``write`` and the log is committed to the
file in batches (every 256 steps, when a run returns, and when this checkpointer reads, prunes or closes),
so a step costs a file append instead of an SQLite commit; readers in other processes read the logs of live
writers and commit those of dead ones. (A run's steps are committed when it returns, rather than left in the
log for a later batch, because another process may continue the run and re-save a step: a segment committed
later wins, so a stale one must not be committed after it.)
``durability="async"`` keeps steps in memory and commits them at the first save after
the oldest is 2 ms old (or 256 have queued up), and before a run returns (LangGraph's default mode is
similarly lazy): a process killed mid-run may lose the steps since the last commit, including those before
a long-running node (they are re-run on resume).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.flows import retention as _ret
from ragloom.flows import serde as _serde
from ragloom.flows.checkpoint import Checkpoint, PrunePlan, Pruning, TaskWrite
from ragloom.flows.checkpoint_doc import decode_doc, dumps_checkpoint, record_from_list, record_to_list
from ragloom.flows.control import Interrupt, Send  # noqa: F401  (imported: typed JSON rebuilds them)
from ragloom.flows.step_log import Row, StepLog, decode_rows, encode_record, encode_row, other_logs
from ragloom.flows.trace import StepRecord

_FOLD_EVERY = 256  # durability="step": log records folded into the table per transaction
# a run's next segment: seq one past its last, computed by the statement itself, under the write lock
_APPEND = (
    "INSERT INTO segments (run_id, seq, saved, last_step, rows) "
    "SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4 FROM segments WHERE run_id = ?1"
)
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

_SEGMENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS segments (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    saved REAL NOT NULL,
    last_step INTEGER NOT NULL,
    rows BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID
"""


class SQLiteCheckpointer(Pruning):
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
        self._conn.execute(_RUNS_SCHEMA)  # when each run last saved, in files written before segments
        self._conn.execute(_SEGMENTS_SCHEMA)
        self._closed = False
        # durability="step": each row goes to a step log with one write() before the next step, and into the
        # table in batches (see ragloom/flows/step_log.py); an in-memory database has no log
        self._log = StepLog(self.path) if durability == "step" and self.path != ":memory:" else None
        self._cursor = self._conn.cursor()
        self._queue: list[tuple[str, int, bytes, float]] = []  # "async": (run id, step, record, saved)
        self._first = 0.0  # when the oldest queued row was saved (time.time)
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
        cp = checkpoint
        record = encode_record(cp.run_id, cp.step, cp.status, cp.flow, self._encode(cp))
        log = self._log
        if log is not None:  # durability="step" on a file
            lock = self._lock
            lock.acquire()  # (acquire/release: half the cost of ``with`` on this once-per-step path)
            try:
                log.append(cp.run_id, cp.step, record, time.time())
                if len(log.pending) >= _FOLD_EVERY:
                    self._fold()
            finally:
                lock.release()
            return
        if self.durability == "step":  # an in-memory database: committed at once
            with self._lock:
                self._commit_records([(cp.run_id, cp.step, record, time.time())])
            return
        with self._lock:
            if self._writer_error is not None:
                self._raise_writer_error()
            pending = self._queue
            now = time.time()  # one clock read: when the step was saved, and the 2 ms window
            pending.append((cp.run_id, cp.step, record, now))
            if len(pending) == 1:
                self._first = now
            elif len(pending) >= _FOLD_EVERY or now - self._first >= _GROUP_S:
                self._commit_queue()

    def _commit_queue(self) -> None:
        """durability="async": commit the queued rows in one transaction (caller holds ``_lock``). A failed
        commit drops them (the run re-runs those steps on resume) and is raised by the next save/flush."""
        records, self._queue = self._queue, []
        try:
            self._commit_records(records)
        except sqlite3.Error as e:
            self._writer_error = e

    def _raise_writer_error(self) -> None:
        if self._writer_error is not None:
            error, self._writer_error = self._writer_error, None
            raise ConfigError(f"{self!r} could not write checkpoints: {error}") from error

    def _fold(self) -> None:
        """Commit the step log's records to the file in one transaction (caller holds ``_lock``)."""
        log = self._log
        if log is None or not log.pending:
            return
        self._commit_records(log.pending)
        log.folded()

    def _commit_records(self, records: list[tuple[str, int, bytes, float]]) -> None:
        """One transaction: one new segment per run (its records in save order, its highest step and when it
        last saved: retention by age)."""
        by_run: dict[str, tuple[list[bytes], list[Any]]] = {}
        for run_id, step, record, saved in records:
            got = by_run.get(run_id)
            if got is None:
                by_run[run_id] = ([record], [step, saved])
            else:
                got[0].append(record)
                last = got[1]
                last[1] = saved
                if step > last[0]:
                    last[0] = step
        rows = [(r, last[1], last[0], b"".join(parts)) for r, (parts, last) in by_run.items()]
        if len(rows) == 1:  # one statement: its own transaction (autocommit), no BEGIN/COMMIT round
            self._cursor.execute(_APPEND, rows[0])
            return
        try:
            self._conn.execute("BEGIN")
            self._cursor.executemany(_APPEND, rows)
            self._conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            raise

    def _recover(self) -> list[Row]:
        """Commit the step logs of dead writers of this file (a killed process's last steps) and return the
        rows in live writers' logs (read, not committed: their writer commits them)."""
        if self.path == ":memory:":
            return []
        dead, live, claimed = other_logs(self.path, self._log.path if self._log is not None else None)
        if dead:
            with self._lock:
                now = time.time()
                self._commit_records([(row[0], row[1], encode_row(row), now) for row in dead])
        for path in claimed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        return live

    def _read(self, run_id: str, live: list[Row]) -> dict[int, Row]:
        """Every stored step of a run, step -> its latest record: per-step rows of older files, then the
        segments in order, then live writers' logs (caller holds ``_lock``)."""
        steps: dict[int, Row] = {}
        query = "SELECT run_id, step, status, flow, payload FROM checkpoints WHERE run_id = ?"
        for row in self._conn.execute(query, (run_id,)):
            steps[row[1]] = row
        query = "SELECT rows FROM segments WHERE run_id = ? ORDER BY seq"
        for (blob,) in self._conn.execute(query, (run_id,)):
            for row in decode_rows(blob):
                steps[row[1]] = row
        for row in live:
            if row[0] == run_id:
                steps[row[1]] = row
        return steps

    def _steps(self, run_id: str) -> dict[int, Row]:
        self._sync()
        live = self._recover()
        with self._lock:
            return self._read(run_id, live)

    def flush(self) -> None:
        """Commit every saved checkpoint to the file (a run returned; then apply ``retention``)."""
        self._sync()
        if self.retention is not None:
            self.prune(self.retention.keep_last, self.retention.older_than)

    def commit(self) -> None:
        """Commit every saved step to the file now (``flush`` does, and reading, pruning and closing)."""
        self._sync()

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
        """The run's highest step, reading one segment: the newest one that holds that step."""
        self._sync()
        live = [row for row in self._recover() if row[0] == run_id]
        with self._lock:
            best = self._conn.execute(
                "SELECT run_id, step, status, flow, payload FROM checkpoints WHERE run_id = ? "
                "ORDER BY step DESC LIMIT 1",
                (run_id,),
            ).fetchone()
            found = self._conn.execute(
                "SELECT seq, last_step FROM segments WHERE run_id = ? "
                "ORDER BY last_step DESC, seq DESC LIMIT 1",
                (run_id,),
            ).fetchone()
            if found is not None and (best is None or found[1] >= best[1]):
                query = "SELECT rows FROM segments WHERE run_id = ? AND seq = ?"
                (blob,) = self._conn.execute(query, (run_id, found[0])).fetchone()
                best = [row for row in decode_rows(blob) if row[1] == found[1]][-1]
        for row in live:  # a live writer's steps not committed yet: newer than what is stored
            if best is None or row[1] >= best[1]:
                best = row
        return self._decode(*best) if best is not None else None

    def history(self, run_id: str) -> list[Checkpoint]:
        """Every checkpoint of a run, oldest first (the state after each step: time travel, debugging)."""
        steps = self._steps(run_id)
        return [self._decode(*steps[step]) for step in sorted(steps)]

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
        live = self._recover()
        with self._lock:
            query = "SELECT run_id FROM checkpoints UNION SELECT run_id FROM segments"
            stored = {r for (r,) in self._conn.execute(query)}
        return sorted(stored | {row[0] for row in live})

    def _prune(self, plan: PrunePlan) -> int:
        """A run that loses steps has its segments rewritten as one, in the transaction that read them."""
        self._sync()
        live = self._recover()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                runs, saved = self._run_infos(live)
                doomed = plan(runs)
                for run_id, steps in doomed.items():
                    self._rewrite(run_id, set(steps), saved.get(run_id, time.time()), live)
                pairs = [(r, s) for r, steps in doomed.items() for s in steps]
                self._cursor.executemany("DELETE FROM writes WHERE run_id = ? AND step = ?", pairs)
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
        return len(pairs)

    def _run_infos(self, live: list[Row]) -> tuple[dict[str, _ret.RunInfo], dict[str, float]]:
        """Each stored run's steps, latest status and last save (caller holds ``_lock``)."""
        statuses: dict[str, dict[int, str]] = {}
        for run_id, step, status in self._conn.execute("SELECT run_id, step, status FROM checkpoints"):
            statuses.setdefault(run_id, {})[step] = status
        for (blob,) in self._conn.execute("SELECT rows FROM segments ORDER BY run_id, seq"):
            for run_id, step, status, _, _ in decode_rows(blob):
                statuses.setdefault(run_id, {})[step] = status
        for run_id, step, status, _, _ in live:
            statuses.setdefault(run_id, {})[step] = status
        saved = dict(self._conn.execute("SELECT run_id, saved FROM runs").fetchall())  # older files
        saved.update(self._conn.execute("SELECT run_id, max(saved) FROM segments GROUP BY run_id").fetchall())
        fallback = os.path.getmtime(self.path) if self.path != ":memory:" else time.time()
        runs = {}
        for run_id, steps in statuses.items():
            order = sorted(steps)
            runs[run_id] = _ret.RunInfo(order, steps[order[-1]], saved.get(run_id, fallback))
        return runs, saved

    def _rewrite(self, run_id: str, gone: set[int], saved: float, live: list[Row]) -> None:
        """Store a run without the steps in ``gone``: its rows and segments replaced by one segment."""
        steps = self._read(run_id, live)
        kept = [s for s in sorted(steps) if s not in gone]
        self._conn.execute("DELETE FROM checkpoints WHERE run_id = ?", (run_id,))
        self._conn.execute("DELETE FROM segments WHERE run_id = ?", (run_id,))
        self._conn.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        if kept:
            rows = b"".join(encode_row(steps[s]) for s in kept)
            self._conn.execute("INSERT INTO segments VALUES (?, 1, ?, ?, ?)", (run_id, saved, kept[-1], rows))

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
