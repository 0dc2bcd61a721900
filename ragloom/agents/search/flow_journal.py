"""The search journal (``ragloom search --out DIR`` writes ``DIR/journal.jsonl``): a killed search resumes.

Why a memo and not a checkpoint of the tree: the search is deterministic given its settings and seed, and a
candidate's score is a function of its flow on the dev set. So a rerun replays the search from the start with
the journal as a memo of already-scored states: a state found there costs no evaluation (its score, cost and
metrics are read back), every other state is evaluated and appended. The replay reaches the point where the
kill happened and continues; its records, in order, and its best flow are an uninterrupted run's. Nothing of
the MCTS tree needs to be serialised, and the journal stays valid whatever the tree's internals become.

Layout: a header line ``{"ragloom_search_journal": 1, "settings": {...}}`` (what defines the search:
:func:`search_settings`), then one line per evaluated candidate ``{"n", "key", "score", "cost", "metrics",
"edits", "parent", "flow"}`` (``key``: SHA-256 of the candidate's canonical state, the search's memo key),
each flushed and fsynced as soon as it is scored. A kill loses at most the candidate being evaluated (with a
journal the search evaluates candidates one at a time, each over all dev questions in parallel). A torn last
line (a kill mid-write) is dropped with a warning. A rerun whose settings differ from the header's is refused,
naming the setting; only the budget may change: a larger one continues the same search further, a smaller one
replays its first evaluations.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from ragloom.core.errors import ConfigError
from ragloom.eval.datasets import Dataset

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock against a second search on the same folder
    fcntl = None  # type: ignore[assignment]

__all__ = ["JOURNAL_FILE", "SearchJournal", "SearchJournalWarning", "opened_journal", "search_settings"]

JOURNAL_FILE = "journal.jsonl"
HEADER = "ragloom_search_journal"
VERSION = 1
#: Settings a rerun may change: replaying with the memo gives an uninterrupted run's outcome for any budget.
MAY_CHANGE = frozenset({"budget"})
#: (score, cost, metrics) of a scored state, as the search's scorer returns them.
Scored = tuple[float, float, dict[str, float]]


class SearchJournalWarning(UserWarning):
    """Something in a journal was dropped (a torn last line); the message says what and where."""


def state_key(key: str) -> str:
    """The journal's name for a memo key (the canonical state JSON can be long)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _dataset_digest(dataset: Dataset) -> str:
    """What scores depend on in the dataset: the dev questions, their gold and the corpus."""
    h = hashlib.sha256()
    gold = [
        dataset.queries,
        dataset.qrels,
        dataset.answers,
        {q: [vars(s) for s in v] for q, v in dataset.spans.items()},
    ]
    h.update(json.dumps(gold, sort_keys=True, default=str).encode())
    for doc_id in sorted(dataset.corpus):
        h.update(f"\0{doc_id}\0{dataset.corpus[doc_id].text}".encode())
    return h.hexdigest()


def search_settings(
    seed_flow: Mapping[str, Any],
    dataset: Dataset,
    *,
    objective: str,
    method: str,
    seed: int,
    budget: int,
    exclude: Collection[str] = (),
    advisor: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    """What defines a search (the journal's header): two runs with equal settings evaluate the same
    candidates in the same order. ``extra``: what the caller knows beyond these (the CLI adds the dataset
    path, dev fraction, index folder and LLM)."""
    settings: dict[str, Any] = {
        "seed_flow": dict(seed_flow),
        "dataset": dataset.name,
        "dev_questions": list(dataset.queries),
        "dataset_sha256": _dataset_digest(dataset),
        "objective": objective,
        "method": method,
        "random_seed": seed,
        "exclude": sorted(set(exclude)),
        "advisor": advisor,
        "budget": budget,
        **extra,
    }
    return json.loads(json.dumps(settings, default=str))  # as the header reads back


def _differing(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [k for k in sorted(set(old) | set(new)) if k not in MAY_CHANGE and old.get(k) != new.get(k)]


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class SearchJournal:
    """An open journal: the memo of states it holds (:meth:`lookup`) and the append end (:meth:`append`).
    Open it with :meth:`open`; it holds an exclusive lock on the file until :meth:`close`, so a second
    search on the same folder is refused instead of interleaving its lines."""

    def __init__(self, path: Path, settings: dict[str, Any], memo: dict[str, Scored], file: BinaryIO) -> None:
        self.path, self.settings, self._memo, self._file = path, settings, memo, file
        self.replayed = 0  # records read back from the journal by this run
        self.evaluated = 0  # records this run evaluated and appended

    @classmethod
    def open(cls, path: str | Path, settings: Mapping[str, Any], *, fresh: bool = False) -> SearchJournal:
        """Open (or create) the journal at ``path`` for a search with ``settings``
        (:func:`search_settings`). An existing journal of other settings is a ConfigError naming the
        setting; ``fresh``: replace it instead."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("a+b")
        try:
            _lock(file, path)
            if fresh:
                file.truncate(0)
            header, memo = _read(file, path)
            if header is None:
                header = dict(settings)
                _write_line(file, {HEADER: VERSION, "settings": header})
                _sync_dir(path.parent)
            else:
                _check(path, header, settings)
            return cls(path, dict(settings), memo, file)
        except BaseException:
            file.close()
            raise

    def require(self, settings: Mapping[str, Any]) -> None:
        """Refuse a search whose ``settings`` differ from this journal's (an open journal handed to
        :func:`~ragloom.agents.search.search_flow` is checked against the search's own settings)."""
        _check(self.path, {k: self.settings.get(k) for k in settings}, settings)

    @property
    def size(self) -> int:
        """How many scored states the journal holds."""
        return len(self._memo)

    def lookup(self, key: str) -> Scored | None:
        """(score, cost, metrics) of the state with memo key ``key``, when the journal holds it."""
        found = self._memo.get(state_key(key))
        if found is not None:
            self.replayed += 1
        return found

    def append(self, key: str, n: int, record: Any) -> None:
        """Journal the search's ``n``-th record (a FlowRecord), flushed and fsynced before returning."""
        row = {"n": n, "key": state_key(key), "score": record.score, "cost": record.cost}
        row |= {"metrics": record.metrics, "edits": list(record.edits), "parent": record.parent}
        _write_line(file=self._file, row={**row, "flow": record.data})
        self._memo[row["key"]] = (record.score, record.cost, dict(record.metrics))
        self.evaluated += 1

    def close(self) -> None:
        self._file.close()  # closing the file releases the lock

    def __enter__(self) -> SearchJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(file: BinaryIO, path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ConfigError(
            f"{path}: another search is writing this journal; wait for it or use another --out folder"
        ) from None
    except OSError:  # a filesystem without locks (some network mounts): no guard against a second writer
        return


def _write_line(file: BinaryIO, row: Mapping[str, Any]) -> None:
    file.write((json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8"))
    file.flush()
    os.fsync(file.fileno())


def _sync_dir(folder: Path) -> None:
    """Make the new journal's directory entry durable too (a kill right after creation keeps the file)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read(file: BinaryIO, path: Path) -> tuple[dict[str, Any] | None, dict[str, Scored]]:
    """The header's settings (None: an empty journal) and the memo; a torn last line is cut off the file."""
    file.seek(0)
    lines = file.read().split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # the text after the last newline: a torn line when not empty
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(complete, start=1):
        row = _parse(line)
        if row is None and number == len(complete) and not tail:
            tail = line + b"\n"  # a complete line that does not parse at the very end: also torn
            break
        if row is None:
            raise ConfigError(
                f"{path}:{number}: not a search journal line ({line[:60].decode(errors='replace')!r}); the "
                "file was edited or damaged: rerun with --fresh to start over, or use another --out folder"
            )
        rows.append(row)
    if tail:
        _drop_tail(file, path, len(rows) + 1, tail)
    if not rows:
        return None, {}
    header = rows[0]
    if header.get(HEADER) != VERSION or not isinstance(header.get("settings"), dict):
        raise ConfigError(f"{path}:1: not a ragloom search journal (version {VERSION}); use another --out")
    memo = {str(r["key"]): _scored(path, n, r) for n, r in enumerate(rows[1:], start=2)}
    return header["settings"], memo


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return row if isinstance(row, dict) else None


def _scored(path: Path, number: int, row: Mapping[str, Any]) -> Scored:
    try:
        return float(row["score"]), float(row["cost"]), dict(row["metrics"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f"{path}:{number}: a journal record without a valid {e} field; rerun with --fresh"
        ) from e


def _drop_tail(file: BinaryIO, path: Path, number: int, tail: bytes) -> None:
    """Cut a torn last line (the search was killed mid-write): that candidate is simply evaluated again."""
    warnings.warn(
        f"{path}:{number}: ignored a torn last line ({len(tail)} bytes; the search was killed while "
        "writing it): that candidate is evaluated again",
        SearchJournalWarning,
        stacklevel=4,
    )
    size = file.seek(0, os.SEEK_END)
    file.truncate(size - len(tail))
    file.flush()
    os.fsync(file.fileno())


def _check(path: Path, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Refuse to mix two searches in one journal, naming the first differing setting."""
    differing = _differing(old, new)
    if not differing:
        return
    name = differing[0]
    more = f" (and {', '.join(differing[1:])})" if len(differing) > 1 else ""
    raise ConfigError(
        f"{path}: holds another search: its {name} is {_shown(old.get(name))}, this run's is "
        f"{_shown(new.get(name))}{more}. Rerun with --fresh to start over (the journal is replaced), or use "
        "another --out folder (Python: another journal path); only --budget may change on a resume"
    )


@contextlib.contextmanager
def opened_journal(
    journal: str | Path | SearchJournal | None, settings: Mapping[str, Any], log: Callable[[str], None]
) -> Iterator[SearchJournal | None]:
    """The search's journal: opened here from a path (and closed after), or the caller's own (checked against
    the search's ``settings``, left open); None: no journal, nothing written."""
    if journal is None:
        yield None
        return
    opened = SearchJournal.open(journal, settings) if not isinstance(journal, SearchJournal) else None
    current = opened or journal
    assert isinstance(current, SearchJournal)
    try:
        current.require(settings)
        if current.size:
            log(f"resuming from {current.path}: {current.size} candidates already scored")
        yield current
    finally:
        if opened is not None:
            opened.close()
