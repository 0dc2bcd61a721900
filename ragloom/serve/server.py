"""Running the app: :class:`ServerThread` (uvicorn in a background thread, for tests and notebooks) and
:func:`serving`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ragloom.serve.app import create_app


class ServerThread:
    """uvicorn serving ``app`` in a background thread, on a socket bound before start (port 0 = any free).

    For tests and notebooks: ``with ServerThread(app) as server: httpx.get(server.url + "/health")``.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = self.socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True, name="ragloom-serve"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                crashed = not self.thread.is_alive()
                self.stop()  # __exit__ does not run when __enter__ raises: free the bound port here
                if crashed:
                    raise RuntimeError(f"the HTTP server on {self.url} failed to start (see the error above)")
                raise RuntimeError(f"the HTTP server on {self.url} did not start within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.socket.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serving(
    compiled: Any,
    context: Mapping[str, Any] | None = None,
    config: Any = None,
    embedder: Any = None,
    **keys: str,
) -> Iterator[ServerThread]:
    """Serve ``compiled`` on a free loopback port for the duration of the block."""
    with ServerThread(create_app(compiled, context, config=config, embedder=embedder, **keys)) as server:
        yield server
