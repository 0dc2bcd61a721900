"""StepLog: the durable, cheap half of ``SQLiteCheckpointer(durability="step")``.

Each checkpoint row is appended to a small per-checkpointer log file with ONE ``write`` system call before the
next step starts (about 1 µs, against about 7 µs for an SQLite commit), and rows are folded into the SQLite
table in batches (one transaction per few hundred steps, and whenever the checkpointer is read, flushed or
closed). A write that returned is in the OS page cache, so a killed process loses no completed step, like an
SQLite commit with ``synchronous=NORMAL``; an OS crash may lose the last steps, and a torn last record is
ignored (each record is length-prefixed).

Logs are named ``<db>.steps-<pid>-<token>``. Readers fold the logs of dead processes into the table (claimed
by renaming, so two readers never fold one log twice) and read those of live ones, so a run killed in one
process resumes in another. Records hold only strings, an integer and the payload bytes the checkpointer
encoded: no pickle in the framing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import struct
from collections.abc import Iterator
from pathlib import Path

Row = tuple[str, int, str, str, bytes]  # run_id, step, status, flow, payload

_HEAD = struct.Struct("<IqHHH")  # record length, step, len(run_id), len(status), len(flow)


def encode_row(row: Row) -> bytes:
    return encode_record(*row)


def encode_record(run_id: str, step: int, status: str, flow: str, payload: bytes) -> bytes:
    """One length-prefixed record (what :func:`decode_rows` reads back)."""
    r, s, f = run_id.encode(), status.encode(), flow.encode()
    body_len = _HEAD.size - 4 + len(r) + len(s) + len(f) + len(payload)
    return b"".join((_HEAD.pack(body_len, step, len(r), len(s), len(f)), r, s, f, payload))


def decode_rows(data: bytes) -> Iterator[Row]:
    """The complete records of a log (a torn last record, from a kill mid-write, is left out)."""
    at, end = 0, len(data)
    while at + _HEAD.size <= end:
        body_len, step, nr, ns, nf = _HEAD.unpack_from(data, at)
        stop = at + 4 + body_len
        if stop > end:
            return
        p = at + _HEAD.size
        run_id = data[p : p + nr].decode()
        status = data[p + nr : p + nr + ns].decode()
        flow = data[p + nr + ns : p + nr + ns + nf].decode()
        yield run_id, step, status, flow, data[p + nr + ns + nf : stop]
        at = stop


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


class StepLog:
    """This checkpointer's log file: ``append`` records, fold ``pending`` into the table, then ``folded``."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.pid = os.getpid()
        self.path = f"{db_path}.steps-{self.pid}-{os.urandom(4).hex()}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.pending: list[tuple[str, int, bytes, float]] = []  # (run id, step, record, saved) to fold

    def append(self, run_id: str, step: int, record: bytes, saved: float) -> None:
        """Append one record (:func:`encode_record`) of a run's step: durable against a kill on return."""
        os.write(self._fd, record)
        self.pending.append((run_id, step, record, saved))

    def folded(self) -> None:
        """The pending rows are committed to the table: the log can start over."""
        self.pending = []
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)


def other_logs(db_path: str, own: str | None) -> tuple[list[Row], list[Row], list[str]]:
    """The logs of ``db_path`` other than ``own``: (rows of dead writers, rows of live writers, the claimed
    files of the dead). Commit the dead writers' rows, then remove their files; a live writer's rows are only
    read (it commits them itself), and so are those another live reader is folding. A fold that died half-way
    (``.folding-<pid>``) is taken over."""
    dead: list[Row] = []
    live: list[Row] = []
    claimed: list[str] = []
    for path in sorted(glob.glob(glob.escape(db_path) + ".steps-*")):
        if path == own:
            continue
        folder = path.rsplit(".folding-", 1)[1] if ".folding-" in path else None
        pid = _log_pid(path) if folder is None else (int(folder) if folder.isdigit() else None)
        into = live
        if pid is not None and not _pid_alive(pid):
            target = f"{path.split('.folding-')[0]}.folding-{os.getpid()}"
            try:
                os.rename(path, target)  # claim it: one reader folds a dead writer's log
            except FileNotFoundError:
                continue
            path, into = target, dead
            claimed.append(target)
        # else a live writer's log, or a dead writer's log a live reader is folding: read, not committed (so
        # two readers recovering one dead writer at once both see its last steps)
        with contextlib.suppress(FileNotFoundError):
            into.extend(decode_rows(Path(path).read_bytes()))
    return dead, live, claimed


def _log_pid(path: str) -> int | None:
    try:
        return int(path.rsplit(".steps-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None
