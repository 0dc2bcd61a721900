"""A throwaway PostgreSQL server for tests: the Debian package's binaries, run as an unprivileged user in a
temporary data directory on a free loopback port (unix socket in that directory too), stopped afterwards.

Only this server is ever signalled (``pg_ctl stop -m fast`` on its own data directory).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_bindir() -> Path | None:
    """Where initdb and pg_ctl are (the newest /usr/lib/postgresql/<ver>/bin, or the PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _user() -> pwd.struct_passwd | None:
    """The user the server runs as: ``nobody`` when we are root (postgres refuses root), else ourselves."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


@contextmanager
def postgres_server(bindir: Path) -> Iterator[str]:
    """Start a server, yield its DSN, stop it."""
    user = _user()
    root = Path(tempfile.mkdtemp(prefix="ragloom-pg-"))
    data, log = root / "data", root / "server.log"
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}
    env = {**os.environ, "LC_ALL": "C", "HOME": str(root)}

    def call(*args: str) -> None:
        out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=root, timeout=120, **run_as)
        if out.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {out.stderr or out.stdout}\n{tail}")

    port = _free_port()
    call(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    call(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        call(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
