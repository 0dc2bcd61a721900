"""Run untrusted Python (written by a model) in a separate, limited process.

Layers, each cheap and each covering a different failure:
- a fresh interpreter with ``python -I`` (isolated: no user site, no PYTHON* variables, no cwd on sys.path)
  in an empty temporary working directory, with a minimal environment;
- ``resource.setrlimit`` in the child before the user's code runs: CPU seconds, address space, file size,
  number of processes;
- a wall-clock timeout that kills the child's whole process group;
- no network: a new network namespace (``unshare -n``/``unshare -rn``) when the kernel allows it, and in every
  case an audit hook in the child that refuses sockets, process spawning and ``ctypes``.
The audit hook is a guard against accidents by a model, not a boundary against a determined attacker; the
namespace and the rlimits are what the kernel enforces. Run only on POSIX.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ragloom.core.errors import ConfigError
from ragloom.tools.base import Tool, tool, truncate

# Runs first in the child: set the rlimits, install the audit hook, then execute the user's file as __main__.
# (Limits are set here rather than in a preexec_fn, which is unsafe when the parent has threads.)
_BOOTSTRAP = r"""
import resource, sys
_cpu, _mem, _fsize, _nproc = (int(x) for x in sys.argv[2:6])
def _set(kind, soft, hard):
    old = resource.getrlimit(kind)[1]
    if old != resource.RLIM_INFINITY:
        soft, hard = min(soft, old), min(hard, old)
    resource.setrlimit(kind, (soft, hard))
_set(resource.RLIMIT_CPU, _cpu, _cpu + 1)
_set(resource.RLIMIT_AS, _mem, _mem)
_set(resource.RLIMIT_FSIZE, _fsize, _fsize)
_set(resource.RLIMIT_CORE, 0, 0)
if _nproc >= 0 and hasattr(resource, "RLIMIT_NPROC"):
    _set(resource.RLIMIT_NPROC, _nproc, _nproc)
del _cpu, _mem, _fsize, _nproc, _set
_BLOCKED = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
            "os.forkpty", "pty.spawn", "ctypes.", "_ctypes.", "webbrowser.")
def _guard(event, args):
    if event.startswith(_BLOCKED):
        raise PermissionError("sandbox: %s is not allowed (no network, no processes, no ctypes)" % event)
sys.addaudithook(_guard)
_path = sys.argv[1]
sys.argv = [_path]
with open(_path, encoding="utf-8") as _f:
    _code = compile(_f.read(), "<sandbox>", "exec")
del _f, _path
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


@dataclass(frozen=True)
class PythonSandbox:
    """Limits for one sandboxed run; :meth:`run` executes a code string.

    ``memory_mb`` bounds the address space (Python itself needs ~30 MB); ``max_processes`` is RLIMIT_NPROC
    (the kernel ignores it for root); ``isolate_network`` = "auto" uses a network namespace when available.
    """

    timeout_s: float = 5.0
    cpu_seconds: int | None = None  # default: ceil(timeout_s) + 1
    memory_mb: int = 512
    max_file_mb: int = 16
    max_processes: int | None = 0
    max_output_chars: int = 20_000
    isolate_network: str = "auto"  # "auto" | "namespace" | "hook"
    python: str = sys.executable

    def run(self, code: str, stdin: str = "") -> SandboxResult:
        """Execute ``code`` as a script; never raises for anything the code does."""
        if os.name != "posix":
            raise ConfigError("PythonSandbox needs a POSIX system (resource limits and process groups)")
        with tempfile.TemporaryDirectory(prefix="ragloom-sandbox-") as workdir:
            script = Path(workdir, "main.py")
            script.write_text(code, encoding="utf-8")
            prefix = self._namespace_prefix()
            argv = [*prefix, self.python, "-I", "-c", _BOOTSTRAP, str(script), *self._limit_args()]
            return self._execute(argv, workdir, stdin, network_isolated=bool(prefix))

    def _execute(self, argv: list[str], workdir: str, stdin: str, network_isolated: bool) -> SandboxResult:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=_child_env(workdir),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
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
            _kill_group(proc)
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
            stdout, stderr, proc.returncode, timed_out, duration, network_isolated, cut_out or cut_err
        )

    def _limit_args(self) -> list[str]:
        cpu = self.cpu_seconds if self.cpu_seconds is not None else int(self.timeout_s) + 2
        nproc = -1 if self.max_processes is None else self.max_processes
        mib = 1024 * 1024
        return [str(cpu), str(self.memory_mb * mib), str(self.max_file_mb * mib), str(nproc)]

    def _namespace_prefix(self) -> list[str]:
        if self.isolate_network == "hook":
            return []
        prefix = network_namespace_prefix()
        if not prefix and self.isolate_network == "namespace":
            raise ConfigError(
                "PythonSandbox(isolate_network='namespace'): this system cannot create a network namespace "
                "(`unshare -n` / `unshare -rn` failed); use isolate_network='auto' to fall back to the "
                "audit hook"
            )
        return prefix


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


def python_tool(sandbox: PythonSandbox | None = None, name: str = "python") -> Tool:
    """A tool that runs a Python script in ``sandbox`` and returns its printed output (or the error)."""
    box = sandbox or PythonSandbox()

    def run_python(code: str) -> str:
        """Run a short Python script in a sandbox (no network, no files kept, limited time and memory) and
        return what it printed. Use print() to show results.

        Args:
            code: The Python source to run, e.g. "print(sum(range(10)))".
        """
        return box.run(code).to_observation()

    return tool(run_python, name=name)
