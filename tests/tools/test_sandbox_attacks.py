"""Every escape from issue 13, run against the real sandbox (bubblewrap): each must be blocked.

Each test asserts the outcome (the secret is not printed, the file does not exist, the parent still runs, no
process survives), not merely that the script failed.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragloom.core.errors import ConfigError
from ragloom.tools import PythonSandbox, python_tool
from ragloom.tools.isolation import isolation_problem, sandbox_processes

pytestmark = pytest.mark.integration
needs_isolation = pytest.mark.skipif(
    isolation_problem() is not None, reason=f"no isolation here (.ci/run installs it): {isolation_problem()}"
)

BOX = PythonSandbox(timeout_s=10.0, memory_mb=256)
SECRET = "sk-fake-0123456789-do-not-leak"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    yield


def _no_sandbox_process_left(within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while sandbox_processes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@needs_isolation
def test_parent_environment_is_unreadable(secret_env: None) -> None:
    code = (
        "import os, glob\n"
        f"for path in ['/proc/{os.getpid()}/environ', f'/proc/{{os.getppid()}}/environ', '/proc/1/environ']"
        " + glob.glob('/proc/*/environ'):\n"
        "    try:\n        print(path, open(path, 'rb').read())\n"
        "    except OSError as e:\n        print(path, 'denied', e.errno)\n"
        "print(dict(os.environ))\n"
    )
    result = BOX.run(code)
    assert SECRET not in result.stdout + result.stderr
    assert "OPENAI_API_KEY" not in result.stdout
    assert f"/proc/{os.getpid()}/environ denied" in result.stdout  # the agent's pid does not exist in there


@needs_isolation
def test_parent_memory_is_unreadable() -> None:
    marker = SECRET.encode()  # kept alive in this process's memory
    code = (
        "import os\n"
        f"for pid in ({os.getpid()}, os.getppid(), 1):\n"
        "    try:\n"
        "        with open(f'/proc/{pid}/mem', 'rb') as f:\n"
        "            print(pid, 'read', len(f.read(4096)))\n"
        "    except (OSError, ValueError) as e:\n"
        "        print(pid, 'denied', type(e).__name__)\n"
        "try:\n"
        "    import ctypes\n"
        f"    print('ptrace', ctypes.CDLL(None, use_errno=True).ptrace(16, {os.getpid()}, 0, 0))\n"
        "except Exception as e:\n"
        "    print('ptrace denied', type(e).__name__)\n"
    )
    result = BOX.run(code)
    assert " read " not in result.stdout, result.stdout
    assert f"{os.getpid()} denied" in result.stdout
    assert "ptrace -1" in result.stdout or "ptrace denied" in result.stdout
    assert marker


@needs_isolation
def test_files_written_do_not_persist(tmp_path: Path) -> None:
    tag = f"ragloom-sandbox-marker-{os.getpid()}-{time.monotonic_ns()}"
    outside = [tmp_path / "escaped.txt", Path("/tmp", tag), Path("/usr", tag), Path("/root", tag)]
    code = (
        "import os\n"
        f"for path in {[str(p) for p in outside]!r} + [os.path.expanduser('~/m'), 'here.txt']:\n"
        "    try:\n        open(path, 'w').write('x'); print('wrote', path)\n"
        "    except OSError as e:\n        print('denied', path, e.errno)\n"
    )
    try:
        result = BOX.run(code)
        assert [p for p in outside if p.exists()] == []  # the sandbox's /tmp is its own tmpfs
    finally:
        for path in outside:
            path.unlink(missing_ok=True)
    assert f"denied {outside[0]}" in result.stdout
    again = BOX.run("import os; print(sorted(os.listdir('.')))")
    assert again.stdout == "['main.py']\n"  # the previous run's files are gone


@needs_isolation
def test_spawning_through_posixsubprocess_and_os_system_is_refused() -> None:
    for code in (
        "import _posixsubprocess, os\nr, w = os.pipe()\n"
        "print('spawned', _posixsubprocess.fork_exec(['/bin/true'], [b'/bin/true'], True, (w,), None, None,"
        " -1, -1, -1, -1, -1, -1, r, w, False, False, -1, None, None, None, -1, None, False))",
        "import os; print('status', os.system('echo spawned'))",
        "import subprocess; print(subprocess.run(['echo', 'spawned'], capture_output=True).stdout)",
        "import os\npid = os.fork()\nprint('forked', pid)",
    ):
        result = BOX.run(code)
        assert "spawned" not in result.stdout and "forked" not in result.stdout, code
        if "os.system" in code:  # libc's system() reports a failed spawn as "exit 127"
            assert result.stdout == f"status {127 << 8}\n"
            continue
        assert not result.ok, code
        assert "Resource temporarily unavailable" in result.stderr or "BlockingIOError" in result.stderr, code


@needs_isolation
def test_disabling_the_audit_hook_changes_nothing(tmp_path: Path) -> None:
    """The old guard's off switch; the kernel's limits do not read Python variables."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = (
            "import sys\nsys.modules['__main__']._BLOCKED = ()\n"
            "import os\ntry:\n    os.system('true'); os.fork(); print('forked')\nexcept OSError as e:\n"
            "    print('fork', e.errno)\n"
            "import socket\ntry:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), 1); print('connected')\n"
            "except OSError as e:\n    print('net', e.errno)\n"
        )
        result = BOX.run(code)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()
    assert "forked" not in result.stdout and "connected" not in result.stdout
    assert "fork 11" in result.stdout and "net " in result.stdout


@needs_isolation
@pytest.mark.parametrize("family", ["inet", "unix-to-inet"])
def test_loopback_server_is_unreachable(family: str) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = (
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), 2)\nprint('connected')\n"
            if family == "inet"
            else "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
            f"s.connect(('localhost', {port}))\nprint('connected')\n"
        )
        result = BOX.run(code)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert not result.ok and "connected" not in result.stdout
    assert any(e in result.stderr for e in ("PermissionError", "ConnectionRefused", "OSError"))


@needs_isolation
def test_the_parent_cannot_be_signalled() -> None:
    received: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        code = (  # (never kill(-1): were the sandbox broken, that would end every process of the machine)
            "import os, signal\n"
            "if os.getpid() > 16:\n    raise SystemExit('not in a PID namespace: not attacking')\n"
            f"for pid in ({os.getpid()}, os.getppid(), {os.getppid()}):\n"
            "    try:\n        os.kill(pid, signal.SIGTERM); print('sent', pid)\n"
            "    except OSError as e:\n        print('refused', pid, e.errno)\n"
        )
        result = BOX.run(code)
        time.sleep(0.2)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert result.ok, result.stderr
    assert received == []
    assert f"refused {os.getpid()} 3" in result.stdout  # ESRCH: the agent is not in the sandbox's namespace


@needs_isolation
def test_a_setsid_grandchild_dies_at_the_timeout(tmp_path: Path) -> None:
    """Spawning is allowed here (max_processes=8) to show containment, not prevention."""
    box = PythonSandbox(timeout_s=1.5, memory_mb=256, max_processes=8)
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "    os._exit(0)\n"
        "print('daemonised', flush=True)\n"
        "time.sleep(60)\n"
    )
    result = box.run(code)
    assert result.timed_out and "daemonised" in result.stdout
    assert _no_sandbox_process_left(), f"left running: {sandbox_processes()}"


@needs_isolation
def test_a_background_grandchild_dies_when_the_script_exits() -> None:
    box = PythonSandbox(timeout_s=10.0, memory_mb=256, max_processes=8)
    code = "import os, time\nif os.fork() == 0:\n    os.setsid(); time.sleep(60)\nelse:\n    print('bye')\n"
    result = box.run(code)
    assert result.ok and result.stdout == "bye\n" and result.duration_s < 5
    assert _no_sandbox_process_left()


@needs_isolation
def test_fork_bomb_is_bounded() -> None:
    box = PythonSandbox(timeout_s=5.0, memory_mb=256, max_processes=16)
    code = (
        "import os, time\nn = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n            time.sleep(60); os._exit(0)\n"
        "        n += 1\n"
        "except OSError:\n    print('stopped at', n, flush=True)\n"
    )
    result = box.run(code)
    assert result.ok, result.stderr
    started = int(result.stdout.split()[-1])
    assert started < 16
    assert _no_sandbox_process_left()


@needs_isolation
def test_memory_bomb_is_bounded() -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))\n"
    result = PythonSandbox(timeout_s=10.0, memory_mb=128).run(code)
    assert not result.ok and not result.timed_out
    assert "MemoryError" in result.stderr


@needs_isolation
def test_disk_bomb_in_the_work_dir_is_bounded() -> None:
    code = (
        "i = 0\ntry:\n    while True:\n"
        "        open(f'f{i}', 'wb').write(b'x' * (1 << 20)); i += 1\n"
        "except OSError as e:\n    print('stopped at', i, e.errno)\n"
    )
    result = PythonSandbox(timeout_s=10.0, max_disk_mb=8).run(code)
    assert result.ok, result.stderr
    assert int(result.stdout.split()[2]) <= 8 and result.stdout.split()[3] == "28"  # ENOSPC


@needs_isolation
def test_limits_hold_and_cannot_be_raised() -> None:
    code = (
        "import os, resource\nprint('uid', os.getuid())\n"
        "for kind in ('RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_CPU', 'RLIMIT_NOFILE', 'RLIMIT_FSIZE'):\n"
        "    k = getattr(resource, kind)\n"
        "    try:\n        resource.setrlimit(k, (resource.RLIM_INFINITY,) * 2); print('raised', kind)\n"
        "    except (ValueError, OSError) as e:\n        print('refused', kind)\n"
    )
    result = BOX.run(code)
    assert result.ok, result.stderr
    assert "raised" not in result.stdout
    assert result.stdout.count("refused") == 5
    assert not result.stdout.startswith("uid 0\n")


@needs_isolation
def test_kernel_interfaces_are_filtered() -> None:
    code = (
        "import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "def unshare():\n"
        "    if libc.unshare(0x10000000) != 0:\n        raise OSError(ctypes.get_errno(), 'unshare')\n"
        "for name, call in [('unshare', unshare),\n"
        "                   ('udp', lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),\n"
        "                   ('inet6', lambda: socket.socket(socket.AF_INET6))]:\n"
        "    try:\n        call(); print('allowed', name)\n"
        "    except OSError as e:\n        print('refused', name, e.errno)\n"
        "a, b = socket.socketpair(); a.send(b'ok'); print(b.recv(2))\n"
    )
    result = BOX.run(code)
    assert result.ok, result.stderr
    assert "allowed" not in result.stdout
    assert "refused unshare 1" in result.stdout and "refused udp 1" in result.stdout
    assert "b'ok'" in result.stdout  # AF_UNIX pairs still work


def test_refuses_without_isolation_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap on PATH
    monkeypatch.delenv("RAGLOOM_SANDBOX_UNSAFE", raising=False)
    isolation_problem.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"bubblewrap is not installed.*unsafe_no_isolation=True"):
            PythonSandbox().run("print(1)")
        with pytest.warns(RuntimeWarning, match="WITHOUT isolation"):
            result = PythonSandbox(unsafe_no_isolation=True).run("print(1)")
        assert result.ok and not result.isolated
        monkeypatch.setenv("RAGLOOM_SANDBOX_UNSAFE", "1")
        assert "NOT isolated" in python_tool().description
    finally:
        isolation_problem.cache_clear()


@needs_isolation
def test_tool_description_states_the_guarantees() -> None:
    description = python_tool().description
    for promise in ("isolated sandbox", "no network", "nothing is kept", "processes or environment"):
        assert promise in description
