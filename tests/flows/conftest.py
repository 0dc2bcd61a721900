"""Fixtures for the flow tests: a real PostgreSQL server for the Postgres checkpointer (session-scoped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg_server import find_bindir, postgres_server


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """The DSN of a PostgreSQL server this session started (skipped where no binaries are installed)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'ragloom[postgres]'")
    with postgres_server(bindir) as dsn:
        yield dsn
