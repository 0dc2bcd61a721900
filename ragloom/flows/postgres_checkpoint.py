"""PostgresCheckpointer: one row per step in a PostgreSQL table (psycopg 3), for several processes at once.

Rows are keyed by (run_id, step), so processes writing different runs never contend beyond the index; each
``save`` is one autocommitted ``INSERT ... ON CONFLICT`` (``durability="step"``: durable before the next step,
a killed process never re-runs a completed step) or is queued and committed in one transaction with the next
save after 2 ms and when a run returns (``durability="async"``). Payloads are typed JSON
(:mod:`ragloom.flows.serde`), exactly as in the SQLite checkpointer: reading a checkpoint never runs code.
Tables (``<prefix>checkpoints``, ``<prefix>writes``) are created on first use under an advisory lock, so
processes starting together do not race. Errors name the DSN with its password hidden.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from typing import Any

from ragloom.core.errors import ConfigError
from ragloom.flows import retention as _ret
from ragloom.flows import serde as _serde
from ragloom.flows.checkpoint import Checkpoint, PrunePlan, Pruning, TaskWrite
from ragloom.flows.checkpoint_doc import decode_doc, dumps_checkpoint, record_from_list, record_to_list
from ragloom.flows.control import Interrupt, Send  # noqa: F401  (imported: typed JSON rebuilds them)
from ragloom.flows.trace import StepRecord

_GROUP_S = 0.002
_MAX_QUEUE = 256
_LOCK_KEY = 0x52474C4D  # pg_advisory_xact_lock key for table creation ("RGLM")
_PREPARED = b"ragloom_save"  # the libpq prepared statement of durability="step"
_FORMATS = [0, 0, 0, 0, 1, 0]  # the payload goes as binary bytea, the rest as text


def redact(dsn: str) -> str:
    """The DSN with its password replaced by ``***`` (URL or key=value form)."""
    dsn = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", dsn)


def _schema(prefix: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}checkpoints (run_id TEXT NOT NULL, step INTEGER NOT NULL, "
        "status TEXT NOT NULL, flow TEXT NOT NULL, payload BYTEA NOT NULL, "
        "saved_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (run_id, step))",
        f"CREATE TABLE IF NOT EXISTS {prefix}writes (run_id TEXT NOT NULL, step INTEGER NOT NULL, "
        "task INTEGER NOT NULL, node TEXT NOT NULL, payload BYTEA NOT NULL, "
        "PRIMARY KEY (run_id, step, task))",
    ]


class PostgresCheckpointer(Pruning):
    """Checkpoints in a PostgreSQL database given by ``dsn`` (``postgresql://user:pw@host:port/db``).

    Thread-safe (one connection per checkpointer, behind a lock). ``retention`` prunes automatically after
    each run returns (see :mod:`ragloom.flows.retention`).
    """

    def __init__(
        self,
        dsn: str,
        serde: str | None = None,
        durability: str = "step",
        table_prefix: str = "ragloom_",
        retention: _ret.Retention | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - the extra is missing
            raise ConfigError("PostgresCheckpointer needs psycopg: pip install 'ragloom[postgres]'") from e
        serde = serde or os.environ.get(_serde.SERDE_ENV) or "json"
        if serde not in ("pickle", "json"):
            raise ConfigError(f"PostgresCheckpointer(serde={serde!r}): use 'json' (or, opted in, 'pickle')")
        if durability not in ("step", "async"):
            raise ConfigError(f"PostgresCheckpointer(durability={durability!r}): use 'step' or 'async'")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table_prefix):
            raise ConfigError(f"PostgresCheckpointer(table_prefix={table_prefix!r}): letters, digits and _")
        self.dsn = redact(dsn)
        if serde == "pickle":
            _serde.warn_pickle(self.dsn)
        self.serde, self.durability, self.retention = serde, durability, retention
        self._t = table_prefix
        self._psycopg = psycopg
        self._ok = psycopg.pq.ExecStatus.COMMAND_OK
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout)))
        except psycopg.Error as e:
            raise ConfigError(
                f"PostgresCheckpointer: cannot connect to {self.dsn}: {_first_line(e)}"
            ) from None
        self._lock = threading.Lock()
        self._queue: list[list[bytes]] = []  # durability="async": parameters of rows not committed yet
        self._first = 0.0
        self._closed = False
        insert = (
            f"INSERT INTO {self._t}checkpoints VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, step) "
            "DO UPDATE SET status = EXCLUDED.status, flow = EXCLUDED.flow, payload = EXCLUDED.payload, "
            "saved_at = EXCLUDED.saved_at"
        )
        with self._guard("create tables"), self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            for statement in _schema(self._t):
                self._conn.execute(statement)
        # durability="step" saves through libpq directly (a statement prepared once): ~16 µs of CPU per step
        # against ~40 through cursor.execute, which adapts and checks every parameter in Python
        numbered = iter(range(1, 7))
        prepared = re.sub("%s", lambda _: f"${next(numbered)}", insert)
        with self._guard("prepare the insert"):
            result = self._conn.pgconn.prepare(_PREPARED, prepared.encode())
            self._check(result, "prepare the insert")

    def _guard(self, what: str) -> Any:
        return _Guard(self, what)

    def _failed(self, what: str, error: BaseException) -> ConfigError:
        return ConfigError(f"PostgresCheckpointer {self.dsn}: could not {what}: {_first_line(error)}")

    def _check(self, result: Any, what: str) -> None:
        """A libpq result that is not COMMAND_OK as a ConfigError (psycopg raises these only for its own)."""
        if result.status != self._ok:
            error = (result.error_message or b"").decode(errors="replace").strip()
            raise ConfigError(f"PostgresCheckpointer {self.dsn}: could not {what}: {error}")

    # -- serialisation ----
    def _dumps(self, doc: Any, run_id: str) -> bytes:
        try:
            return _serde.dumps(doc, self.serde)
        except TypeError as e:
            raise self._not_json(run_id, e) from e

    def _encode(self, cp: Checkpoint) -> bytes:
        try:
            return dumps_checkpoint(cp, self.serde)
        except TypeError as e:
            raise self._not_json(cp.run_id, e) from e

    def _not_json(self, run_id: str, e: TypeError) -> ConfigError:
        return ConfigError(
            f"state of run {run_id!r} is not JSON-serialisable ({e}); declare it as JSON values, "
            "dataclasses or pydantic models, or (for databases you trust) use serde='pickle'"
        )

    def _decode(self, run_id: str, step: int, status: str, flow: str, payload: bytes) -> Checkpoint:
        doc = _serde.loads(
            bytes(payload), self.serde, f"{self.dsn}: checkpoint of run {run_id!r} step {step}"
        )
        state, nxt, arrived, rec, interrupts = decode_doc(doc)
        return Checkpoint(run_id, step, state, nxt, arrived, status, flow, rec, interrupts)

    # -- Checkpointer protocol ----
    def save(self, checkpoint: Checkpoint) -> None:
        if self._closed:
            raise ConfigError(f"{self!r} is closed; open a new PostgresCheckpointer to save checkpoints")
        cp = checkpoint
        # the prepared insert's parameters as libpq takes them: text, and the payload as binary bytea
        params = [cp.run_id.encode(), b"%d" % cp.step, cp.status.encode(), cp.flow.encode(), self._encode(cp)]
        params.append(b"%r" % time.time())
        with self._lock:
            if self.durability == "step":
                try:
                    result = self._conn.pgconn.exec_prepared(_PREPARED, params, _FORMATS)
                except self._psycopg.Error as e:
                    raise self._failed(f"save run {cp.run_id!r} step {cp.step}", e) from e
                if result.status != self._ok:
                    self._check(result, f"save run {cp.run_id!r} step {cp.step}")
                return
            self._queue.append(params)
            now = time.monotonic()
            if len(self._queue) == 1:
                self._first = now
            elif len(self._queue) >= _MAX_QUEUE or now - self._first >= _GROUP_S:
                self._commit_queue()

    def _commit_queue(self) -> None:
        """Commit the queued rows (caller holds ``_lock``): the prepared insert once per row, sent in libpq's
        pipeline mode, so the batch is one round trip and one implicit transaction (all rows or none)."""
        batch, self._queue = self._queue, []
        pg, status = self._conn.pgconn, self._psycopg.pq.ExecStatus
        error = None
        try:
            pg.enter_pipeline_mode()
            try:
                for params in batch:
                    pg.send_query_prepared(_PREPARED, params, _FORMATS)
                pg.pipeline_sync()
                while (result := pg.get_result()) is None or result.status != status.PIPELINE_SYNC:
                    if result is not None and result.status != self._ok and error is None:
                        error = result  # the first failure; the rest of the batch reads PIPELINE_ABORTED
            finally:
                with contextlib.suppress(self._psycopg.Error):
                    pg.exit_pipeline_mode()
        except self._psycopg.Error as e:
            raise self._failed("commit checkpoints", e) from e
        if error is not None:
            self._check(error, f"commit {len(batch)} checkpoints")

    def flush(self) -> None:
        if self._queue:
            with self._lock:
                if self._queue:
                    self._commit_queue()
        if self.retention is not None:
            self.prune(self.retention.keep_last, self.retention.older_than)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._lock:
            if self._queue:
                self._commit_queue()
            with self._guard("read checkpoints"):
                return self._conn.execute(sql, params).fetchall()

    def latest(self, run_id: str) -> Checkpoint | None:
        rows = self._rows(
            f"SELECT run_id, step, status, flow, payload FROM {self._t}checkpoints WHERE run_id = %s "
            "ORDER BY step DESC LIMIT 1",
            (run_id,),
        )
        return self._decode(*rows[0]) if rows else None

    def history(self, run_id: str) -> list[Checkpoint]:
        rows = self._rows(
            f"SELECT run_id, step, status, flow, payload FROM {self._t}checkpoints WHERE run_id = %s "
            "ORDER BY step",
            (run_id,),
        )
        return [self._decode(*row) for row in rows]

    def records(self, run_id: str) -> list[StepRecord]:
        return [r for cp in self.history(run_id) for r in cp.records]

    def put_write(self, run_id: str, step: int, task: int, write: TaskWrite) -> None:
        payload = self._dumps([write.update, [record_to_list(r) for r in write.records]], run_id)
        with self._lock:
            if self._queue:  # queued checkpoints first: a write never outlives its step's checkpoint
                self._commit_queue()
            with self._guard(f"save a task write of run {run_id!r}"):
                self._conn.execute(
                    f"INSERT INTO {self._t}writes VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (run_id, step, task) "
                    "DO UPDATE SET node = EXCLUDED.node, payload = EXCLUDED.payload",
                    (run_id, step, task, write.node, payload),
                )

    def writes(self, run_id: str, step: int) -> dict[int, TaskWrite]:
        rows = self._rows(
            f"SELECT task, node, payload FROM {self._t}writes WHERE run_id = %s AND step = %s", (run_id, step)
        )
        out = {}
        for task, node, payload in rows:
            where = f"{self.dsn}: task {task} of run {run_id!r} step {step}"
            update, records = _serde.loads(bytes(payload), self.serde, where)
            out[int(task)] = TaskWrite(node, update, tuple(record_from_list(r) for r in records))
        return out

    # -- listing and retention ----
    def run_ids(self) -> list[str]:
        """Every stored run id (subflow runs included), sorted."""
        return [r[0] for r in self._rows(f"SELECT DISTINCT run_id FROM {self._t}checkpoints ORDER BY 1", ())]

    def _prune(self, plan: PrunePlan) -> int:
        rows = self._rows(
            f"SELECT c.run_id, array_agg(c.step ORDER BY c.step), max(c.saved_at), "
            f"(SELECT status FROM {self._t}checkpoints l WHERE l.run_id = c.run_id "
            "ORDER BY step DESC LIMIT 1) "
            f"FROM {self._t}checkpoints c GROUP BY c.run_id",
            (),
        )
        runs = {r: _ret.RunInfo(list(steps), status, saved) for r, steps, saved, status in rows}
        doomed = plan(runs)
        pairs = [(r, s) for r, steps in doomed.items() for s in steps]
        if not pairs:
            return 0
        with (
            self._lock,
            self._guard("prune checkpoints"),
            self._conn.transaction(),
            self._conn.cursor() as cur,
        ):
            for table in ("checkpoints", "writes"):
                cur.executemany(f"DELETE FROM {self._t}{table} WHERE run_id = %s AND step = %s", pairs)
        return len(pairs)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresCheckpointer({self.dsn!r}, serde={self.serde!r}, durability={self.durability!r})"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


class _Guard:
    """Turns a psycopg error into a ConfigError naming the (redacted) DSN and what was being done."""

    def __init__(self, owner: PostgresCheckpointer, what: str) -> None:
        self.owner, self.what = owner, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, tb: Any) -> None:
        if isinstance(error, self.owner._psycopg.Error):
            raise self.owner._failed(self.what, error) from error
