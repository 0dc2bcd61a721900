"""The sandboxed Python runner, for real: subprocesses with limits, a timeout and no network."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import warnings

import pytest

from ragloom.tools import PythonSandbox, python_tool
from ragloom.tools.isolation import isolation_problem, sandbox_processes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        isolation_problem() is not None,
        reason=f"no isolation here (.ci/run installs it): {isolation_problem()}",
    ),
]

BOX = PythonSandbox(timeout_s=5.0, memory_mb=256)


def test_runs_code_and_captures_output() -> None:
    result = BOX.run("import sys\nprint(sum(range(10)))\nprint('oops', file=sys.stderr)")
    assert result.ok
    assert result.stdout == "45\n"
    assert result.stderr == "oops\n"
    assert result.to_observation() == "45"


def test_exception_is_reported_not_raised() -> None:
    result = BOX.run("raise ValueError('bad input')")
    assert not result.ok and result.exit_code == 1
    assert "ValueError: bad input" in result.to_observation()


def test_isolated_interpreter_in_empty_temp_dir() -> None:
    result = BOX.run(
        "import os, sys\nprint(os.listdir('.'))\nprint(sys.flags.isolated)\nprint(os.environ.get('SECRET'))"
    )
    assert result.ok, result.stderr
    files, isolated, secret = result.stdout.splitlines()
    assert files == "['main.py']" and isolated == "1" and secret == "None"


def test_timeout_kills_the_process() -> None:
    box = PythonSandbox(timeout_s=1.0)
    result = box.run("while True:\n    pass")
    assert result.timed_out and not result.ok
    assert result.duration_s < 5
    assert "timed out" in result.to_observation()


def test_memory_limit() -> None:
    result = PythonSandbox(memory_mb=128).run("x = bytearray(1024 * 1024 * 1024)\nprint('allocated')")
    assert not result.ok
    assert "MemoryError" in result.stderr
    assert "allocated" not in result.stdout


def test_file_size_limit() -> None:
    result = PythonSandbox(max_file_mb=1).run("open('big.bin', 'wb').write(b'x' * (4 * 1024 * 1024))")
    assert not result.ok
    assert "File too large" in result.stderr or result.killed_by_signal == "SIGXFSZ"


def test_no_processes() -> None:
    """max_processes=0 (the default) is RLIMIT_NPROC 0 under the run's own uid: nothing can be started."""
    for code in ("import subprocess; subprocess.run(['true'])", "import os; os.fork()"):
        result = BOX.run(code)
        assert not result.ok and "BlockingIOError" in result.stderr, code


@pytest.mark.parametrize("unsafe", [False, True])
def test_no_network(unsafe: bool) -> None:
    """A server listening on loopback in this process is unreachable from the sandbox (in the unsafe mode:
    from a network namespace if one can be made, else the audit hook refuses the socket)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), 2)\nprint('connected')"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = PythonSandbox(timeout_s=5, unsafe_no_isolation=unsafe).run(code)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert not result.ok
    assert "connected" not in result.stdout
    assert result.isolated is not unsafe
    if unsafe and not result.network_isolated:
        assert "PermissionError: sandbox: socket" in result.stderr


def test_isolation_is_used() -> None:
    result = BOX.run("print(1)")
    assert result.isolated and result.network_isolated


def test_output_is_truncated() -> None:
    result = PythonSandbox(max_output_chars=100).run("print('x' * 10000)")
    assert result.ok and result.truncated and len(result.stdout) <= 100


def test_python_tool() -> None:
    run = python_tool(PythonSandbox(timeout_s=5))
    assert run.name == "python" and run.required_args == ["code"]
    assert run.invoke({"code": "print(6 * 7)"}) == "42"
    ok, text = run.observe({"code": "1/0"})
    assert ok and "ZeroDivisionError" in text  # the tool ran; the script failed, and says so


def test_resource_limits_are_set_in_the_child() -> None:
    box = PythonSandbox(timeout_s=3, memory_mb=200, max_file_mb=2, max_processes=0)
    code = (
        "import resource as r\n"
        "for k in ('RLIMIT_CPU', 'RLIMIT_AS', 'RLIMIT_FSIZE', 'RLIMIT_NPROC'):\n"
        "    print(r.getrlimit(getattr(r, k))[0])"
    )
    result = box.run(code)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["5", str(200 * 2**20), str(2 * 2**20), "0"]


def test_sys_exit_in_sandboxed_code_is_reported_and_the_caller_goes_on() -> None:
    """The script runs in a child process: its SystemExit ends the child, never the agent."""
    run = python_tool(PythonSandbox(timeout_s=5))
    ok, text = run.observe({"code": "import sys\nprint('before')\nsys.exit(3)"})
    assert ok and text == "before\nError: exit code 3"
    assert run.observe({"code": "import sys; sys.exit('bye')"}) == (True, "Error (exit code 1):\nbye")
    assert run.observe({"code": "import sys; print('done'); sys.exit(0)"}) == (True, "done")


def test_ctrl_c_while_waiting_kills_the_sandboxed_process() -> None:
    """KeyboardInterrupt reaches the caller, and the sandbox (in its own session, so Ctrl-C never reaches
    it) is killed rather than left sleeping forever."""
    if os.geteuid() != 0:
        pytest.skip("finds the sandboxed process by its uid, which is a fresh one only when run as root")

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 10
        while not sandbox_processes():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt_when_started, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        PythonSandbox(timeout_s=30).run("import time\ntime.sleep(60)")
    deadline = time.monotonic() + 3
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == []  # killed and reaped, not a live or zombie child
