"""Retry policy for HTTP LLM calls: which failures to retry and how long to wait (pure functions).

Exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff and Jitter", 2015): the wait
before attempt ``n`` is uniform in ``[0, min(cap, base * 2**n)]``; a server's ``Retry-After`` (seconds or an
HTTP date, RFC 9110 §10.2.3) takes precedence, capped at ``max_wait``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` extra attempts after the first; waits from ``base`` doubling up to ``cap`` seconds."""

    max_retries: int = 3
    base: float = 0.5
    cap: float = 20.0
    max_wait: float = 60.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_wait)
        upper = min(self.cap, self.base * (2**attempt))
        return (rng or random).uniform(0.0, upper)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or unparsable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "nan" parses as a float, and time.sleep(nan) raises ValueError
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS
