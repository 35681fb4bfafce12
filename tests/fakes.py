"""The one fake clock of the test suite: time that moves only when a test (or a fake sleep) says.

Tests that depend on the machine's speed are flaky, so pacing, retries, deadlines and the
emulator's task times are tested on this clock. It is thread-safe (the emulator reads it from
its server threads) and works both as a plain callable (``clock()``, the seam most parts take
as ``clock=``) and as the async ``sleep`` seam (which records each delay and moves the clock).
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["FakeClock"]


class FakeClock:
    """Seconds that move only through :meth:`advance` or :meth:`sleep` (``start``: epoch-like)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()
        self.sleeps: list[float] = []  # every delay asked of ``sleep``, rounded to 1 µs

    def __call__(self) -> float:
        with self._lock:
            return self._t

    @property
    def now(self) -> float:
        return self()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """The ``sleep=`` seam: record the delay, move the clock, let other tasks run."""
        self.sleeps.append(round(seconds, 6))
        self.advance(seconds)
        await asyncio.sleep(0)
