"""Submission rate limits: a sliding one-second window per model family (docs/dashscope-api.md §4.1).

The window counts *accepted* submissions by their arrival time on the emulator's clock. A create
is refused when ``limit`` submissions arrived within the last ``WINDOW`` seconds. ``WINDOW`` is one
second less ``SLACK`` (50 ms): a client that paces itself on its own clock so that no more than
``limit`` creates *start* within any one second never sees a 429, even when loopback latency
varies by a few milliseconds between requests. A client that bursts above the limit is refused.

The in-flight limit (tasks PENDING or RUNNING) is not counted here: it is a property of the
task store, which computes state from the clock.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["SLACK", "WINDOW", "SlidingWindow"]

SLACK = 0.05
WINDOW = 1.0 - SLACK


class SlidingWindow:
    """At most ``limit`` events in any window of ``WINDOW`` seconds. Thread-safe."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        if limit < 1:
            raise ValueError(f"rate limit {limit!r} must be at least 1")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()

    def acquire(self, now: float, limit: int | None = None) -> bool:
        """Record an event at ``now`` if the window has room; False (nothing recorded) if not.

        ``limit`` (at most the window's own) is a stricter limit for this one event: a model
        whose region allows it fewer submissions than its rate group (docs/dashscope-wan27.md §12.1)."""
        cap = self.limit if limit is None else min(limit, self.limit)
        with self._lock:
            self._expire(now)
            if len(self._times) >= cap:
                return False
            self._times.append(now)
            return True

    def release_last(self) -> None:
        """Forget the most recent event (a create that was refused after acquiring)."""
        with self._lock:
            if self._times:
                self._times.pop()
