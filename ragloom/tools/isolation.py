"""OS-level isolation for the Python sandbox: a bubblewrap command line, and whether it works here.

Why bubblewrap: it is the small, audited setuid-free sandbox that Flatpak uses; it sets up Linux namespaces
(PID, mount, network, IPC, UTS, cgroup, and a user namespace when not root) so the kernel, not a hook in the
sandboxed interpreter, is what keeps code in. What a run gets:

- a private PID namespace with its own /proc: the agent's process is invisible (no ``/proc/<ppid>/environ``
  or ``/mem``) and cannot be signalled; when the sandbox's init dies every process in it dies, so killing
  ``bwrap`` on timeout ends grandchildren that called ``setsid()`` too (``--die-with-parent``);
- an empty network namespace (only its own loopback): the host's loopback servers are unreachable;
- a read-only view of the interpreter's files only (/usr, /lib*, the Python prefixes), a size-capped tmpfs
  at /tmp as the work dir, gone when the run ends; no host directory is writable;
- a clean environment (``--clearenv`` plus PATH, HOME, TMPDIR, LANG);
- when the agent runs as root, the code runs as a fresh unprivileged uid per run with no capabilities, so
  rlimits (including RLIMIT_NPROC, which the kernel ignores for root) hold and nothing can raise them;
- a seccomp filter (see :mod:`ragloom.tools.seccomp`) refusing ptrace, namespace creation, mounts, kernel
  keyrings, bpf, io_uring and non-Unix sockets, where the CPU architecture is known.
"""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

# A fresh uid per run, far above any real account's, so RLIMIT_NPROC counts this run's processes only.
_UID_BASE = 1_000_000_000
_uid_counter = itertools.count()

#: Where the code runs inside the sandbox (a tmpfs).
WORKDIR = "/tmp"


def next_sandbox_uid() -> int:
    """A uid no other run of this process uses at the same time (only meaningful when we are root)."""
    return _UID_BASE + (os.getpid() % 1_000_000) * 1000 + next(_uid_counter) % 1000


def is_sandbox_uid(uid: int) -> bool:
    """Whether ``uid`` is one :func:`next_sandbox_uid` hands out (tests use it to find leftover processes)."""
    return _UID_BASE <= uid < 2 * _UID_BASE


def sandbox_processes(owner: int | None = None) -> list[int]:
    """Pids of live host processes under a sandbox uid (of runs started by process ``owner``, default this
    one): none should outlive its run."""
    first = _UID_BASE + ((os.getpid() if owner is None else owner) % 1_000_000) * 1000
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "0")
        if first <= int(uid) < first + 1000:
            pids.append(int(entry.name))
    return pids


def readonly_roots(python: str) -> list[str]:
    """Host directories the interpreter needs: system libraries and the Python installation(s)."""
    roots = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache", "/etc/localtime"]
    exe = Path(os.path.realpath(python))
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(exe.parent.parent)}
    prefixes.add(str(Path(python).absolute().parent.parent))  # a venv's own prefix
    for prefix in sorted(prefixes):
        if prefix and prefix != "/" and not any(_is_under(prefix, r) for r in roots):
            roots.append(prefix)
    return roots


def _parents(paths: list[str]) -> list[str]:
    """The ancestor directories of ``paths`` (not ``/``), parents before children, each once."""
    seen: dict[str, None] = {}
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            seen.setdefault(str(parent))
    return list(seen)


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def bwrap_argv(
    bwrap: str, python: str, *, tmpfs_bytes: int, script_fd: int, seccomp_fd: int | None
) -> list[str]:
    """The bubblewrap prefix for one run; the caller appends the interpreter command."""
    argv = [bwrap, "--die-with-parent", "--new-session", "--clearenv"]
    argv += _namespace_flags()
    roots = readonly_roots(python)
    for parent in _parents(roots):  # bwrap (as root) would make them 0700: unreadable after the uid drop
        argv += ["--perms", "0755", "--dir", parent]
    for root in roots:
        argv += ["--ro-bind-try", root, root]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(tmpfs_bytes), "--tmpfs", WORKDIR]
    argv += ["--perms", "0644", "--file", str(script_fd), f"{WORKDIR}/main.py", "--chdir", WORKDIR]
    env = {"PATH": "/usr/bin:/bin", "HOME": WORKDIR, "TMPDIR": WORKDIR, "LANG": "C.UTF-8"}
    env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return argv


def _namespace_flags() -> list[str]:
    common = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() == 0:
        # Root: no user namespace (the code drops to an unprivileged uid itself, which needs these two
        # capabilities for that one step; everything else is dropped, and both are gone after setresuid).
        return [*common, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-user", *common]


@functools.cache
def isolation_problem(python: str = sys.executable) -> str | None:
    """None when bubblewrap can start ``python`` isolated here, else why not (shown to the user)."""
    if not sys.platform.startswith("linux"):
        return f"OS-level isolation needs Linux namespaces; this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed (Debian/Ubuntu: `apt-get install -y bubblewrap`)"
    with open(os.devnull, "rb") as empty:
        argv = bwrap_argv(bwrap, python, tmpfs_bytes=1 << 20, script_fd=empty.fileno(), seccomp_fd=None)
        try:
            done = subprocess.run(
                [*argv, python, "-I", "-c", "pass"],
                pass_fds=(empty.fileno(),),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as e:
            return f"bubblewrap failed to start: {e}"
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()[-500:]
        return f"bubblewrap cannot create the namespaces here (exit {done.returncode}): {reason}"
    return None


def bwrap_path() -> str:
    """The bubblewrap executable (call after :func:`isolation_problem` returned None)."""
    found = shutil.which("bwrap")
    assert found is not None
    return found
