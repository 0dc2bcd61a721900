"""Retention: ``prune`` in every checkpointer (memory, SQLite, PostgreSQL) by the same rules; the automatic
policy; subflow runs and task writes go with their run; an unfinished run stays resumable."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from ragloom.core.errors import ConfigError
from ragloom.flows import END, START, Flow, InMemoryCheckpointer, SQLiteCheckpointer, append
from ragloom.flows.checkpoint import Checkpoint, TaskWrite
from ragloom.flows.retention import Retention


def make(kind: str, request: pytest.FixtureRequest, tmp_path: Path, **options: Any) -> Any:
    if kind == "memory":
        return InMemoryCheckpointer(**options)
    if kind == "sqlite":
        return SQLiteCheckpointer(tmp_path / f"r{uuid.uuid4().hex[:6]}.sqlite", **options)
    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

    prefix = f"r{uuid.uuid4().hex[:12]}_"
    return PostgresCheckpointer(request.getfixturevalue("postgres_dsn"), table_prefix=prefix, **options)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def save_run(cp: Any, run_id: str, steps: int, status: str = "done") -> None:
    for step in range(steps):
        last = step == steps - 1
        cp.save(
            Checkpoint(run_id, step, {"n": step}, () if last else ("x",), {}, status if last else "running")
        )


def steps_of(cp: Any, run_id: str) -> list[int]:
    return [c.step for c in cp.history(run_id)]


def test_keep_last_keeps_the_newest_steps_of_each_run(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cp = make(kind, request, tmp_path)
    save_run(cp, "a", 5)
    save_run(cp, "b", 2)
    cp.put_write("a", 1, 0, TaskWrite("x", {"n": 9}))
    cp.put_write("a", 4, 0, TaskWrite("x", {"n": 9}))
    assert cp.prune(keep_last=2) == 3
    assert steps_of(cp, "a") == [3, 4]
    assert steps_of(cp, "b") == [0, 1]
    assert cp.writes("a", 1) == {}  # task writes of pruned steps go too
    assert set(cp.writes("a", 4)) == {0}
    assert cp.latest("a") is not None and cp.latest("a").state == {"n": 4}


def test_unfinished_runs_keep_their_latest_checkpoint(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cp = make(kind, request, tmp_path)
    save_run(cp, "paused", 3, status="interrupted")
    save_run(cp, "done", 3)
    assert cp.prune(keep_last=0) == 5
    assert steps_of(cp, "paused") == [2]
    assert steps_of(cp, "done") == []
    assert cp.run_ids() == ["paused"]
    assert cp.prune(keep_last=0, include_unfinished=True) == 1  # asked explicitly
    assert cp.run_ids() == []


def test_older_than_removes_idle_runs_and_subflows_go_with_their_parent(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cp = make(kind, request, tmp_path)
    save_run(cp, "old", 3)
    save_run(cp, "old/review@1", 2)  # a subflow run of "old"
    save_run(cp, "old-paused", 2, status="interrupted")
    cp.flush()
    time.sleep(0.3)
    save_run(cp, "new", 2)
    assert cp.prune(older_than=dt.timedelta(seconds=0.2)) == 6
    assert cp.run_ids() == ["new", "old-paused"]
    assert steps_of(cp, "old-paused") == [1]
    save_run(cp, "x", 3)
    save_run(cp, "x/sub@2", 3)
    save_run(cp, "y", 3)
    assert cp.prune(keep_last=1, run_ids=["x"]) == 4  # selects the subflow run with its root
    assert steps_of(cp, "x") == [2] and steps_of(cp, "x/sub@2") == [2] and steps_of(cp, "y") == [0, 1, 2]


def test_automatic_retention_after_each_run_and_resume_still_works(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    class S(BaseModel):
        log: Annotated[list[str], append] = []

    flow = Flow(S, name="ret")
    for name in ("a", "b", "c", "d"):
        flow.add_node(name, lambda s, name=name: {"log": [name]})
    flow.add_edge(START, "a")
    flow.add_edge("a", "b")
    flow.add_edge("b", "c")
    flow.add_edge("c", "d")
    flow.add_edge("d", END)
    cp = make(kind, request, tmp_path, retention=Retention(keep_last=2))
    compiled = flow.compile(checkpointer=cp, interrupt_before=["d"])
    paused = compiled.invoke({}, run_id="r1")
    assert paused.status == "interrupted"
    assert len(cp.history("r1")) == 2
    done = compiled.resume("r1")
    assert done.state.log == ["a", "b", "c", "d"]
    assert len(cp.history("r1")) == 2


def test_prune_needs_a_rule(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cp = make(kind, request, tmp_path)
    with pytest.raises(ConfigError, match="keep_last"):
        cp.prune()
    with pytest.raises(ConfigError, match="keep_last=-1"):
        cp.prune(keep_last=-1)
