"""Bounded work and run ownership.

- :class:`RunSlots`: at most ``max_active`` runs at once, each in a worker thread of one bounded pool, and at
  most ``max_waiting`` requests queued for a slot (waiting costs no thread); beyond that a 429 with
  Retry-After, which OpenAI clients honour.
- :class:`RunTokens`: a run's token is an HMAC of its id under a server secret, returned when the run is
  created and required to resume it, so knowing a run id (or the shared API key) is not enough to read or
  continue another client's run. The secret is random per process unless one is given (``ragloom serve``
  keeps one next to the ``--checkpoint`` file, so tokens survive a restart and resuming after a crash works).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ragloom.serve.errors import ApiError

T = TypeVar("T")


class RunSlots:
    """A semaphore with a bounded queue and its own worker-thread limiter."""

    def __init__(self, max_active: int = 8, max_waiting: int = 64, retry_after_s: int = 1) -> None:
        if max_active < 1 or max_waiting < 0:
            raise ValueError(f"max_active must be >= 1 and max_waiting >= 0, got {max_active}, {max_waiting}")
        self.max_active, self.max_waiting, self.retry_after_s = max_active, max_waiting, retry_after_s
        self.active = 0
        self.waiting = 0
        self._semaphore: asyncio.Semaphore | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if there is room; ApiError 429 when the queue is full too."""
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.max_active)
        if self._semaphore.locked() and self.waiting >= self.max_waiting:
            raise ApiError(
                429,
                f"the server is busy ({self.active} runs, {self.waiting} queued); "
                f"retry in {self.retry_after_s} s",
                code="server_busy",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        assert self._semaphore is not None
        self._semaphore.release()

    async def run_in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the runs' worker pool (at most ``max_active`` threads; contextvars carried)."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_active)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)


class RunTokens:
    """Unguessable per-run tokens: HMAC-SHA256(secret, run id)."""

    HEADER = "X-Ragloom-Run-Token"

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)

    def token(self, run_id: str) -> str:
        return hmac.new(self._secret, run_id.encode(), hashlib.sha256).hexdigest()

    def verify(self, run_id: str, token: str | None) -> None:
        """ApiError 404 unless ``token`` is this run's (404, not 403: do not confirm that the run exists)."""
        if not token or not hmac.compare_digest(self.token(run_id), token.strip()):
            raise ApiError(
                404,
                f"no run {run_id[:64]!r} for this client: send the run_token its creation returned in the "
                f"{self.HEADER} header",
                "run_id",
                "run_not_found",
            )


def run_secret(path: Path) -> bytes:
    """The server secret kept in ``path`` (created with 32 random bytes, readable by its owner only)."""
    if path.is_file():
        secret = bytes.fromhex(path.read_text().strip())
        if len(secret) >= 16:
            return secret
    secret = os.urandom(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex())
    return secret
