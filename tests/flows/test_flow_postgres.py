"""PostgresCheckpointer against a real PostgreSQL server: several processes writing different runs at once,
SIGKILL mid-run then resume in a new process, clear errors (bad DSN, server down) that hide the password."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from ragloom.core.errors import ConfigError

HERE = Path(__file__).parent


def test_several_processes_write_different_runs_at_once(postgres_dsn: str) -> None:
    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

    prefix = f"mp{uuid.uuid4().hex[:10]}_"  # no tables yet: the processes race to create them
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "pg_writer.py"), postgres_dsn, prefix, f"run-{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert json.loads(out)["n"] == 30
    cp = PostgresCheckpointer(postgres_dsn, table_prefix=prefix)
    assert cp.run_ids() == ["run-0", "run-1", "run-2"]
    for i in range(3):
        history = cp.history(f"run-{i}")
        assert [c.step for c in history] == list(range(len(history)))
        assert history[-1].status == "done"
        assert {c.state["who"] for c in history[1:]} == {f"run-{i}"}  # no run saw another's rows
        assert history[-1].state["n"] == 30
    cp.close()


@pytest.mark.integration
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_then_resume_in_new_process(postgres_dsn: str, tmp_path: Path) -> None:
    import test_flow_crash as crash  # the SQLite crash test's helpers, reused with a postgresql:// target

    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

    PostgresCheckpointer(postgres_dsn).prune(keep_last=0, run_ids=["crash-run"], include_unfinished=True)
    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference = crash.run_script("plain", tmp_path / "unused.sqlite", reference_dir)
    workdir = tmp_path / "crash"
    workdir.mkdir()
    before = crash.kill_in_slow(postgres_dsn, workdir)
    assert before == Counter({"a": 1, "b": 1, "c": 1, "join": 1, "loop": 3})
    (workdir / "block").unlink()
    resumed = crash.run_script("resume", postgres_dsn, workdir)
    assert resumed["state"] == reference["state"]
    assert resumed["steps"] == reference["steps"]
    assert crash.effects(workdir) == crash.effects(reference_dir)


def test_bad_dsn_and_server_down_errors_name_the_dsn_without_the_password(postgres_dsn: str) -> None:
    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer, redact

    port = postgres_dsn.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(ConfigError) as down:  # nothing listens on port 1
        PostgresCheckpointer("postgresql://alice:s3cret@127.0.0.1:1/db", connect_timeout=2)
    assert "postgresql://alice:***@127.0.0.1:1/db" in str(down.value) and "s3cret" not in str(down.value)
    with pytest.raises(ConfigError) as no_db:
        PostgresCheckpointer(f"postgresql://postgres:hunter2@127.0.0.1:{port}/no_such_db")
    assert "no_such_db" in str(no_db.value) and "hunter2" not in str(no_db.value)
    with pytest.raises(ConfigError, match="cannot connect"):
        PostgresCheckpointer("postgresql://[bad")
    assert redact("host=h password='a b' user=u") == "host=h password=*** user=u"
    with pytest.raises(ConfigError, match="table_prefix"):
        PostgresCheckpointer(postgres_dsn, table_prefix="x; DROP TABLE y")


def test_cli_run_interrupt_and_resume_with_a_postgres_url(postgres_dsn: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ragloom.cli import app
    from ragloom.cli.llm_cmds import _secret_path

    loop = HERE.parents[1] / "examples" / "flows" / "loop_counter.yaml"
    url = postgres_dsn.replace("postgres@", "postgres:pw-not-shown@")  # trust auth: any password works
    cli = CliRunner()
    first = cli.invoke(app, ["run", str(loop), "--checkpoint", url, "--interrupt-before", "report"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"count": 3, "message": ""}
    hint = first.stderr.strip().splitlines()[-1]
    assert "interrupted before node 'report'" in hint and "pw-not-shown" not in hint and ":***@" in hint
    run_id = hint.split("--resume ")[1].split()[0]
    second = cli.invoke(
        app, ["run", str(loop), "--checkpoint", url, "--resume", run_id, "-i", '{"count": 7}']
    )
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == {"count": 7, "message": "counted to 7"}
    down = cli.invoke(app, ["run", str(loop), "--checkpoint", "postgresql://u:pw-not-shown@127.0.0.1:1/x"])
    assert down.exit_code != 0 and "pw-not-shown" not in down.output
    assert "cannot connect to postgresql://u:***@127.0.0.1:1/x" in down.output
    secret = _secret_path(url)  # `ragloom serve --checkpoint URL` keeps its run secret in the working folder
    assert secret.name.endswith(".run-secret") and "pw" not in str(secret) and "/" not in str(secret)


def test_a_failed_save_names_the_dsn_and_the_step(postgres_dsn: str) -> None:
    import psycopg

    from ragloom.flows.checkpoint import Checkpoint
    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer

    prefix = f"gone{uuid.uuid4().hex[:8]}_"
    cp = PostgresCheckpointer(postgres_dsn, table_prefix=prefix)
    cp.save(Checkpoint("r", 0, {"n": 1}, ("x",)))
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # someone drops the table under us
        conn.execute(f"DROP TABLE {prefix}checkpoints")
    with pytest.raises(ConfigError, match=r"could not save run 'r' step 1: .*does not exist"):
        cp.save(Checkpoint("r", 1, {"n": 2}, ("x",)))
    with pytest.raises(ConfigError, match="could not read checkpoints"):
        cp.latest("r")


def test_a_failed_async_batch_is_reported_and_the_connection_recovers(postgres_dsn: str) -> None:
    """durability="async" sends a batch in one libpq pipeline (one implicit transaction, one round trip): a
    failure names the batch and leaves the connection usable (out of pipeline mode)."""
    import psycopg

    from ragloom.flows.checkpoint import Checkpoint
    from ragloom.flows.postgres_checkpoint import PostgresCheckpointer, _schema

    prefix = f"pipe{uuid.uuid4().hex[:8]}_"
    cp = PostgresCheckpointer(postgres_dsn, durability="async", table_prefix=prefix)
    for step in range(3):
        cp.save(Checkpoint("r", step, {"n": step}, ("x",)))
    cp.flush()
    assert [c.state["n"] for c in cp.history("r")] == [0, 1, 2]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # someone drops the table under us
        conn.execute(f"DROP TABLE {prefix}checkpoints")
        cp.save(Checkpoint("r", 3, {"n": 3}, ("x",)))
        cp.save(Checkpoint("r", 4, {"n": 4}, ("x",)))
        with pytest.raises(ConfigError, match=r"could not commit 2 checkpoints: .*does not exist"):
            cp.flush()
        conn.execute(_schema(prefix)[0])
    cp.save(Checkpoint("r", 5, {"n": 5}, ()))  # the same connection, out of pipeline mode, works again
    cp.flush()
    assert [c.step for c in cp.history("r")] == [5]
    cp.close()
