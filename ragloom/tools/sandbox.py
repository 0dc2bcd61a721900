"""Run untrusted Python (written by a model) in an OS-level sandbox.

Why not an in-process guard: an audit hook lives in the same interpreter as the hostile code, which can
switch it off or go around it (``_posixsubprocess``, ``ctypes``). The boundary is the kernel's instead:
bubblewrap namespaces, a seccomp filter and rlimits under an unprivileged uid
(:mod:`ragloom.tools.isolation`), plus, from here, a wall-clock timeout that kills the whole sandbox and
output capped while it is read.
Where that isolation cannot be set up the sandbox refuses to run, unless the user explicitly opts into the
unsafe mode (a plain subprocess with rlimits, an audit hook against accidents and, if possible, no network).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ragloom.core.errors import ConfigError
from ragloom.tools.base import Tool, tool, truncate
from ragloom.tools.isolation import WORKDIR, bwrap_argv, bwrap_path, isolation_problem, next_sandbox_uid
from ragloom.tools.seccomp import seccomp_filter

# Runs first in the child: read the script, set the rlimits, drop to the sandbox uid when started as root
# (after which no capability is left to raise a limit), then execute the user's file as __main__.
# (Limits are set here rather than in a preexec_fn, which is unsafe when the parent has threads.)
_BOOTSTRAP = r"""
import os, resource, sys
_path = sys.argv[1]
with open(_path, encoding="utf-8") as _f:
    _code = compile(_f.read(), "<sandbox>", "exec")
_cpu, _mem, _fsize, _nproc, _nofile, _uid = (int(x) for x in sys.argv[2:8])
def _set(kind, soft, hard):
    old = resource.getrlimit(kind)[1]
    if old != resource.RLIM_INFINITY:
        soft, hard = min(soft, old), min(hard, old)
    resource.setrlimit(kind, (soft, hard))
_set(resource.RLIMIT_CPU, _cpu, _cpu + 1)
_set(resource.RLIMIT_AS, _mem, _mem)
_set(resource.RLIMIT_FSIZE, _fsize, _fsize)
_set(resource.RLIMIT_CORE, 0, 0)
_set(resource.RLIMIT_NOFILE, _nofile, _nofile)
if _nproc >= 0 and hasattr(resource, "RLIMIT_NPROC"):
    _set(resource.RLIMIT_NPROC, _nproc, _nproc)
if _uid >= 0:
    os.setgroups([])
    os.setresgid(_uid, _uid, _uid)
    os.setresuid(_uid, _uid, _uid)
del _cpu, _mem, _fsize, _nproc, _nofile, _uid, _set, _f, os, resource
sys.argv = [_path]
del _path
exec(_code, {"__name__": "__main__", "__builtins__": __builtins__})
"""


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did. ``ok`` means it exited with status 0 within its limits."""

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    duration_s: float
    network_isolated: bool
    truncated: bool = False
    isolated: bool = False  # OS-level isolation (bubblewrap); False only in the opted-into unsafe mode

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def killed_by_signal(self) -> str | None:
        """Name of the signal that ended the child (e.g. SIGXCPU, SIGKILL), if any."""
        if self.exit_code is not None and self.exit_code < 0:
            try:
                return signal.Signals(-self.exit_code).name
            except ValueError:
                return f"signal {-self.exit_code}"
        return None

    def to_observation(self) -> str:
        """A compact text for a model: output, then what went wrong if anything."""
        parts = []
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.timed_out:
            parts.append(f"Error: timed out after {self.duration_s:.1f}s")
        elif self.killed_by_signal:
            parts.append(f"Error: killed by {self.killed_by_signal} (resource limit)")
        elif self.exit_code != 0 and not self.stderr.strip():  # e.g. sys.exit(3): nothing more to say
            parts.append(f"Error: exit code {self.exit_code}")
        elif self.exit_code != 0:
            parts.append(f"Error (exit code {self.exit_code}):\n{self.stderr.strip()[-1500:]}")
        return "\n".join(parts) if parts else "(no output)"


_UNSAFE_ENV = "RAGLOOM_SANDBOX_UNSAFE"
# Only in the unsafe mode: an audit hook as a guard against a model's accidents (not against an attacker).
_ACCIDENT_GUARD = r"""
import sys
def _guard(event, args, _blocked=("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn",
        "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.", "_ctypes.", "webbrowser.")):
    if event.startswith(_blocked):
        raise PermissionError("sandbox: %s is not allowed (no network, no processes, no ctypes)" % event)
sys.addaudithook(_guard)
del _guard
"""


@dataclass(frozen=True)
class PythonSandbox:
    """Limits for one sandboxed run; :meth:`run` executes a code string in OS-level isolation.

    Isolation is bubblewrap (see :mod:`ragloom.tools.isolation`): own PID/network/mount/IPC namespaces, a
    clean environment, a read-only view of the Python installation, a ``max_disk_mb`` tmpfs work dir that is
    gone after the run, rlimits that hold even when the agent is root, the whole process tree killed on
    timeout, and a seccomp filter. Where that cannot be set up, :meth:`run` raises ConfigError unless the user
    opted into ``unsafe_no_isolation=True`` (or ``RAGLOOM_SANDBOX_UNSAFE=1``): a plain subprocess with rlimits
    and an audit hook, which does not contain hostile code.

    ``memory_mb`` bounds the address space (Python itself needs ~30 MB); ``max_processes`` is RLIMIT_NPROC for
    the run's own uid (0: the script can start no process or thread).
    """

    timeout_s: float = 5.0
    cpu_seconds: int | None = None  # default: ceil(timeout_s) + 1
    memory_mb: int = 512
    max_file_mb: int = 16
    max_disk_mb: int = 64
    max_processes: int | None = 0
    max_open_files: int = 64
    max_output_chars: int = 20_000
    unsafe_no_isolation: bool = False
    python: str = sys.executable

    @property
    def unsafe(self) -> bool:
        """Whether runs skip OS-level isolation (opted into by the field or the environment variable)."""
        return self.unsafe_no_isolation or os.environ.get(_UNSAFE_ENV, "") == "1"

    def check(self) -> None:
        """Raise ConfigError when this sandbox cannot isolate code here (and the user did not opt out)."""
        if os.name != "posix":
            raise ConfigError("PythonSandbox needs a POSIX system (resource limits and process groups)")
        if self.unsafe:
            return
        problem = isolation_problem(self.python)
        if problem is not None:
            raise ConfigError(
                f"PythonSandbox refuses to run: {problem}. Without OS-level isolation it cannot keep code "
                "away from this machine's files, processes, secrets and network. Install bubblewrap, or, "
                "only for code you trust, opt out with PythonSandbox(unsafe_no_isolation=True) or "
                f"{_UNSAFE_ENV}=1"
            )

    def run(self, code: str, stdin: str = "") -> SandboxResult:
        """Execute ``code`` as a script; never raises for anything the code does (ConfigError: see check)."""
        self.check()
        if self.unsafe:
            return self._run_unsafe(code, stdin)
        uid = next_sandbox_uid() if os.geteuid() == 0 else -1
        with tempfile.TemporaryFile() as script, tempfile.TemporaryFile() as bpf_file:
            script.write(code.encode("utf-8"))
            script.seek(0)
            fds = [script.fileno()]
            bpf = seccomp_filter()
            if bpf is not None:
                bpf_file.write(bpf)
                bpf_file.seek(0)
                fds.append(bpf_file.fileno())
            argv = bwrap_argv(
                bwrap_path(),
                self.python,
                tmpfs_bytes=self.max_disk_mb * 1024 * 1024,
                script_fd=script.fileno(),
                seccomp_fd=bpf_file.fileno() if bpf is not None else None,
            )
            argv += [self.python, "-I", "-c", _BOOTSTRAP, f"{WORKDIR}/main.py", *self._limit_args(uid)]
            return self._execute(argv, None, {}, stdin, fds, isolated=True)

    def _run_unsafe(self, code: str, stdin: str) -> SandboxResult:
        warnings.warn(
            "PythonSandbox(unsafe_no_isolation): running model-written code WITHOUT isolation; it can read "
            "this machine's files and secrets and reach its network",
            RuntimeWarning,
            stacklevel=3,
        )
        with tempfile.TemporaryDirectory(prefix="ragloom-sandbox-") as workdir:
            script = Path(workdir, "main.py")
            script.write_text(code, encoding="utf-8")
            prefix = network_namespace_prefix()
            bootstrap = _ACCIDENT_GUARD + _BOOTSTRAP
            argv = [*prefix, self.python, "-I", "-c", bootstrap, str(script), *self._limit_args(-1)]
            env = _child_env(workdir)
            return self._execute(argv, workdir, env, stdin, [], isolated=False, net=bool(prefix))

    def _execute(
        self,
        argv: list[str],
        cwd: str | None,
        env: dict[str, str],
        stdin: str,
        fds: list[int],
        isolated: bool,
        net: bool = True,
    ) -> SandboxResult:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=fds,
        )
        # Not communicate(): it keeps all output in memory (a printing loop fills GBs in seconds) and, after a
        # kill, waits for EOF that a child escaped from the process group may never send.
        cap = 4 * self.max_output_chars + 4  # bytes enough for max_output_chars UTF-8 characters
        readers = [_Reader(proc.stdout, cap), _Reader(proc.stderr, cap)]
        threading.Thread(target=_feed, args=(proc.stdin, stdin.encode()), daemon=True).start()
        timed_out = False
        try:
            proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)  # bwrap dies -> the namespace's init dies -> the kernel kills all in it
            proc.wait()
        except BaseException:  # Ctrl-C never reaches the child (own session): without this it runs on
            _kill_group(proc)
            proc.wait()
            raise
        for reader in readers:
            reader.join(timeout=1.0)
        duration = time.perf_counter() - start
        stdout, cut_out = _decode(readers[0].data(), self.max_output_chars, readers[0].dropped)
        stderr, cut_err = _decode(readers[1].data(), self.max_output_chars, readers[1].dropped)
        return SandboxResult(
            stdout,
            stderr,
            proc.returncode,
            timed_out,
            duration,
            net,
            cut_out or cut_err,
            isolated=isolated,
        )

    def _limit_args(self, uid: int) -> list[str]:
        cpu = self.cpu_seconds if self.cpu_seconds is not None else int(self.timeout_s) + 2
        nproc = -1 if self.max_processes is None else self.max_processes
        mib = 1024 * 1024
        limits = [cpu, self.memory_mb * mib, self.max_file_mb * mib, nproc, self.max_open_files, uid]
        return [str(x) for x in limits]


@functools.cache
def network_namespace_prefix() -> list[str]:
    """``[unshare, "-n"]`` (root) or ``[unshare, "-rn"]`` (user namespaces) if one works here, else ``[]``."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return []
    for flags in (["-n"], ["-rn"]):
        try:
            done = subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return [unshare, *flags]
    return []


def _child_env(workdir: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
    env.update({k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


class _Reader(threading.Thread):
    """Drains a pipe to EOF, keeping its first ``cap`` bytes and counting the rest as ``dropped``."""

    def __init__(self, pipe: IO[bytes] | None, cap: int) -> None:
        super().__init__(daemon=True, name="ragloom-sandbox-reader")
        self.pipe, self.cap, self.dropped = pipe, cap, 0
        self.chunks: list[bytes] = []
        self.kept = 0
        self.start()

    def run(self) -> None:
        if self.pipe is None:
            return
        try:
            while chunk := os.read(self.pipe.fileno(), 65536):
                room = self.cap - self.kept
                if room > 0:
                    self.chunks.append(chunk[:room])
                    self.kept += min(room, len(chunk))
                self.dropped += max(0, len(chunk) - max(room, 0))
        except (OSError, ValueError):
            pass
        finally:
            self.pipe.close()

    def data(self) -> bytes:
        return b"".join(self.chunks)


def _feed(pipe: IO[bytes] | None, data: bytes) -> None:
    if pipe is None:
        return
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _decode(data: bytes, max_chars: int, dropped: int = 0) -> tuple[str, bool]:
    text = data.decode("utf-8", errors="replace")
    if dropped:
        note = f"… [output cut; {len(data) + dropped} bytes in all]"
        return text[: max(0, max_chars - len(note))] + note, True
    return truncate(text, max_chars), len(text) > max_chars


_ISOLATED_DESCRIPTION = (
    "Run a short Python script in an isolated sandbox and return what it printed (use print()). The script "
    "sees only the Python installation, read-only; it has no network, no access to this machine's files, "
    "processes or environment, a throw-away /tmp as its working directory (nothing is kept), and limited "
    "time, memory and processes."
)
_UNSAFE_DESCRIPTION = (
    "Run a short Python script and return what it printed (use print()). NOT isolated: it runs as a normal "
    "process of this machine with time and memory limits only."
)


def python_tool(sandbox: PythonSandbox | None = None, name: str = "python") -> Tool:
    """A tool that runs a Python script in ``sandbox`` and returns its printed output (or the error).

    The description the model sees says what the sandbox guarantees: isolated, or (opted into) not.
    """
    box = sandbox or PythonSandbox()

    def run_python(code: str) -> str:
        """Run a Python script in the sandbox.

        Args:
            code: The Python source to run, e.g. "print(sum(range(10)))".
        """
        return box.run(code).to_observation()

    description = _UNSAFE_DESCRIPTION if box.unsafe else _ISOLATED_DESCRIPTION
    return tool(run_python, name=name, description=description)
