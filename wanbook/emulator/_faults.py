"""Fault injection: what goes wrong, how often, and a seeded plan that decides it.

Every decision is drawn from ``random.Random(f"{seed}:{kind}:{n}")`` where ``n`` counts the
requests (or tasks) of that kind, so a run with the same seed and the same sequence of requests
sees the same faults, whatever else the emulator is doing.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields

__all__ = ["TASK_FAIL_CODES", "FaultPlan", "Faults"]

# Codes a task may end FAILED with under injection, and the vendor-style message for each.
TASK_FAIL_CODES: dict[str, str] = {
    "InternalError": "An internal error has occured, please try again later or contact service support.",
    "DataInspectionFailed": "Output data may contain inappropriate content.",
}


@dataclass(frozen=True)
class Faults:
    """What the emulator gets wrong on purpose. All rates are fractions in [0, 1].

    - ``task_fail_rate``: tasks that end FAILED (``task_fail_code``, or a seeded pick of
      ``InternalError`` / ``DataInspectionFailed`` when None). Not billed, no video.
    - ``server_error_rate``: API requests (create, query, list, cancel) answered 500
      ``InternalError``. A create answered this way made no task.
    - ``unavailable_rate``: creates answered 503 ``ModelUnavailable`` (no task made).
    - ``throttle_next`` / ``throttle_rate``: the next N creates, and a fraction of the rest,
      answered 429 ``Throttling`` (no task made), on top of the real rate limits.
    - ``slow_rate`` / ``slow_factor``: tasks whose queue and run time are ``slow_factor`` × longer.
    - ``lost_response_next`` / ``lost_response_rate``: creates that *do* make the task and then
      close the connection without any HTTP response (the ambiguous create of docs/dashscope-api.md §4).
    """

    seed: int = 0
    task_fail_rate: float = 0.0
    task_fail_code: str | None = None
    server_error_rate: float = 0.0
    unavailable_rate: float = 0.0
    throttle_next: int = 0
    throttle_rate: float = 0.0
    slow_rate: float = 0.0
    slow_factor: float = 5.0
    lost_response_next: int = 0
    lost_response_rate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_rate") and not (
                isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
            ):
                raise ValueError(f"Faults.{f.name} {value!r} must be a fraction from 0 to 1")
            if f.name.endswith("_next") and not (
                isinstance(value, int) and not isinstance(value, bool) and value >= 0
            ):
                raise ValueError(f"Faults.{f.name} {value!r} must be a whole number >= 0")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"Faults.seed {self.seed!r} must be an integer")
        if not (isinstance(self.slow_factor, int | float) and self.slow_factor >= 1):
            raise ValueError(f"Faults.slow_factor {self.slow_factor!r} must be a number >= 1")
        if self.task_fail_code is not None and self.task_fail_code not in TASK_FAIL_CODES:
            raise ValueError(
                f"Faults.task_fail_code {self.task_fail_code!r} must be one of "
                f"{', '.join(TASK_FAIL_CODES)} (or None for a seeded pick)"
            )

    @property
    def any(self) -> bool:
        """Whether any fault is switched on."""
        return self != Faults(seed=self.seed)


@dataclass(frozen=True)
class TaskFate:
    """What injection decided for one new task."""

    fail: tuple[str, str] | None = None  # (code, message) if it will end FAILED
    slow: float = 1.0  # multiplier on its queue and run time


class FaultPlan:
    """The stateful side of :class:`Faults`: counters and the seeded draws. Thread-safe."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self.reset(faults or Faults())

    @property
    def faults(self) -> Faults:
        return self._faults

    def reset(self, faults: Faults) -> None:
        """Switch to ``faults`` and restart every counter (the plan replays from the start)."""
        with self._lock:
            self._faults = faults
            self._counters: dict[str, int] = {}
            self._throttle_left = faults.throttle_next
            self._lost_left = faults.lost_response_next

    def _draw(self, kind: str) -> random.Random:
        n = self._counters.get(kind, 0)
        self._counters[kind] = n + 1
        return random.Random(f"{self._faults.seed}:{kind}:{n}")

    def request_error(self) -> bool:
        """Whether this API request is answered 500 InternalError."""
        with self._lock:
            rate = self._faults.server_error_rate
            return rate > 0 and self._draw("request").random() < rate

    def create_error(self) -> str | None:
        """``"unavailable"`` (503), ``"throttle"`` (429) or None for a create that got through."""
        with self._lock:
            f = self._faults
            if f.unavailable_rate > 0 and self._draw("unavailable").random() < f.unavailable_rate:
                return "unavailable"
            if self._throttle_left > 0:
                self._throttle_left -= 1
                return "throttle"
            if f.throttle_rate > 0 and self._draw("throttle").random() < f.throttle_rate:
                return "throttle"
            return None

    def lose_response(self) -> bool:
        """Whether this (committed) create's response is dropped."""
        with self._lock:
            if self._lost_left > 0:
                self._lost_left -= 1
                return True
            rate = self._faults.lost_response_rate
            return rate > 0 and self._draw("lost").random() < rate

    def task_fate(self) -> TaskFate:
        """Failure and slowness for the next task created."""
        with self._lock:
            f = self._faults
            rng = self._draw("task")
            fail = None
            if rng.random() < f.task_fail_rate:
                code = f.task_fail_code or rng.choice(sorted(TASK_FAIL_CODES))
                fail = (code, TASK_FAIL_CODES[code])
            slow = float(f.slow_factor) if rng.random() < f.slow_rate else 1.0
            return TaskFate(fail=fail, slow=slow)
