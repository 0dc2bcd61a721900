"""NodeCache: a node's update remembered across runs and processes (a SQLite file), keyed by node + input,
for nodes compiled with ``cache_ttl`` (``add_node(..., cache_ttl=3600)``; ``compile(cache=NodeCache(path))``).

The input is the node's ``cache_key(state)`` when it has one, else its whole input (the state, or a Send's
argument), pickled and hashed; an entry older than the node's TTL is a miss and is overwritten.
"""

from __future__ import annotations

import hashlib
import pickle
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ragloom.core.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS node_cache (
    node TEXT NOT NULL,
    key TEXT NOT NULL,
    created REAL NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (node, key)
) WITHOUT ROWID
"""

MISS: Any = object()


class NodeCache:
    """Cross-run node cache in ``path`` (":memory:" for one process). Thread-safe."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(node: str, value: Any) -> str:
        """A stable digest of a node input (dict keys sorted so insertion order does not matter)."""
        if isinstance(value, dict):
            value = sorted(value.items())
        try:
            blob = pickle.dumps(value, protocol=4)
        except Exception as e:
            raise ConfigError(
                f"node {node!r}: its input cannot be pickled for the node cache ({e}); give the node a "
                "cache_key(state) that returns a plain key"
            ) from e
        return hashlib.sha256(blob).hexdigest()

    def get(self, node: str, key: str, ttl: float) -> Any:
        with self._lock:
            row = self._conn.execute(
                "SELECT created, payload FROM node_cache WHERE node = ? AND key = ?", (node, key)
            ).fetchone()
        if row is None or time.time() - row[0] > ttl:
            self.misses += 1
            return MISS
        self.hits += 1
        return pickle.loads(row[1])

    def put(self, node: str, key: str, update: Any) -> None:
        payload = pickle.dumps(update, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO node_cache VALUES (?, ?, ?, ?)", (node, key, time.time(), payload)
            )

    def clear(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM node_cache")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"NodeCache({self.path!r})"
