"""Pure schedules: how long to wait before a retry, before the next poll, and what Retry-After says.

No I/O and no clock reads of its own: the client passes the random source in, so tests can pin the
jitter and record every delay it would sleep.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "RETRIABLE_STATUS",
    "RetryPolicy",
    "parse_retry_after",
    "poll_delays",
    "repeat_last",
]

#: HTTP statuses a safe (idempotent) request is retried on: throttling, server-side timeout, 5xx.
RETRIABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

Random = Callable[[], float]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None when absent or unreadable.

    The header is either a number of seconds or an HTTP date (RFC 9110 §10.2.3); a date in the
    past means "now" (0). ``now`` is only for tests; by default the current UTC time.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, and how many retries a request gets.

    Attempt ``n`` (0 for the first retry) waits a random time in ``[d/2, d]`` where
    ``d = min(cap, base * 2**n)`` ("equal jitter": never zero, never in lock-step with other
    kernels). A server's ``Retry-After`` wins over the backoff, up to ``retry_after_cap``, because
    the server knows when its limit clears (429 "usually clears within a minute").
    """

    max_retries: int = 4
    base: float = 0.5
    cap: float = 8.0
    retry_after_cap: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.base <= 0 or self.cap <= 0:
            raise ValueError(f"base and cap must be > 0, got base={self.base}, cap={self.cap}")

    def backoff(self, attempt: int, rng: Random = random.random) -> float:
        """The jittered, capped delay before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2.0 ** min(attempt, 62)))
        return ceiling / 2.0 + rng() * ceiling / 2.0

    def delay(
        self, attempt: int, retry_after: float | None = None, rng: Random = random.random
    ) -> float:
        """The delay before retry ``attempt``: the server's Retry-After if it gave one, else backoff."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_cap)
        return self.backoff(attempt, rng)


def poll_delays(
    expected_seconds: float | None = None,
    *,
    first: float = 1.5,
    growth: float = 1.5,
    cap: float = 15.0,
    jitter: float = 0.2,
    rng: Random = random.random,
) -> Iterator[float]:
    """An endless schedule of waits between status queries.

    Starts at ``first`` seconds (quick enough for the emulator, which finishes in seconds), grows by
    ``growth`` each poll and stays at ``cap`` (the vendor suggests polling about every 15 s). When
    the caller knows roughly how long the job takes (``expected_seconds``), the first wait is a
    tenth of that, still within ``[first, cap]``: a 3-minute real job does not need 1.5 s polls.
    Each value is spread by ±``jitter`` (a fraction) so many watchers do not poll in lock-step.
    """
    if first <= 0 or cap <= 0 or growth < 1:
        raise ValueError(f"need first > 0, cap > 0, growth >= 1 (got {first}, {cap}, {growth})")
    delay = first
    if expected_seconds is not None and expected_seconds > 0:
        delay = min(cap, max(first, expected_seconds / 10.0))
    delay = min(delay, cap)
    while True:
        spread = 1.0 + jitter * (2.0 * rng() - 1.0)
        yield max(0.0, delay * spread)
        delay = min(cap, delay * growth)


def repeat_last(delays: Iterable[float], default: float = 15.0) -> Iterator[float]:
    """Iterate ``delays``, then keep repeating its last value (``default`` if it was empty), so a
    caller may pass a short list such as ``[0.1, 0.2]`` as a poll schedule."""
    last = default
    for last in delays:
        yield last
    while True:
        yield last
