"""When to look at a task again: a poll schedule from what the task is and what similar tasks took.

The vendor's SDK polls on a fixed ramp (at 0, 1, 2, 4, 6, 8, 12, 16, 20, 25, 30 … s, then every
5 s), so a one-minute task costs about 16 queries and is noticed up to 5 s late. wanbook instead
expects the task to end when similar tasks ended — the run log's recent SUCCEEDED runs of the same
model, tier, duration, backend and host (the engine asks the run log and passes them in as
``samples``), or failing that a prior from the catalogue's tier and duration (:func:`prior`) — and

* stays quiet while the task cannot be done yet, but never blind longer than ``cap`` (15 s);
* looks when most similar tasks were done (their 85th percentile);
* if it is not done then, looks again soon (half the spread of similar tasks), backing off 1.5×
  per look up to the cap.

A RUNNING answer carries ``scheduled_time``: from then on only the run time is uncertain, so the
look is re-aimed at start + run time. A task still PENDING when looked at cannot end sooner than
one (short) run time later. An expectation about an unknown backend (a base URL that may be a
proxy or an emulator of unknown pace, with no history yet) is not trusted: waits ramp up from 1 s
instead. Waits are jittered within the uncertainty window, so watchers do not poll in lock-step
and are never much later than aimed. A throttled query's ``Retry-After`` is honoured by the
client's retry underneath this schedule (``Client._call``), which this schedule never shortens.

The schedule is pure (:func:`next_delay`); :class:`PollPlan` keeps the state of one task and is the
endless iterator of waits that ``Client.watch(delays=...)`` consumes.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "Expectation",
    "Look",
    "PollPlan",
    "Spread",
    "Tuning",
    "due",
    "expect",
    "from_history",
    "next_delay",
    "prior",
    "quantile",
]

# The client's prior about the real service (docs/dashscope-api.md §1: a task takes 1-5 minutes): PENDING
# for about 8-16 s, then RUNNING about 50 s per 5 s of 480P video, longer at higher tiers. The
# embedded emulator models the same figures (scaled by its time scale), with an exact run time.
PRIOR_QUEUE = (9.0, 12.0, 15.0)  # about the 10th, 50th and 85th percentiles of 8-16 s
PRIOR_RUN_PER_5S = 50.0
PRIOR_RUN_SPREAD = (0.85, 1.0, 1.15)
TIER_FACTOR = {"480P": 1.0, "720P": 1.4, "1080P": 1.8}

QUANTILES = (0.10, 0.50, 0.85)  # early, likely, late
MIN_HISTORY = 3  # similar runs needed before history replaces the prior


def quantile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted ``xs`` by linear interpolation (``xs`` not empty)."""
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Spread:
    """How long something takes: few take less than ``early``, most no more than ``late``."""

    early: float
    likely: float
    late: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        xs = sorted(samples)
        return cls(*(quantile(xs, q) for q in QUANTILES))

    @property
    def width(self) -> float:
        return max(0.0, self.late - self.early)

    def times(self, factor: float) -> Spread:
        return Spread(self.early * factor, self.likely * factor, self.late * factor)

    def plus(self, other: Spread) -> Spread:
        return Spread(self.early + other.early, self.likely + other.likely, self.late + other.late)


@dataclass(frozen=True)
class Expectation:
    """How long a task should stay PENDING (``queue``), RUNNING (``run``) and both (``total``),
    in seconds; ``trusted`` False for a guess about a backend of unknown pace."""

    queue: Spread
    run: Spread
    total: Spread
    trusted: bool
    source: str


def prior(
    tier: str | None, duration: int | None, *, time_scale: float | None = None, trusted: bool = True
) -> Expectation:
    """The catalogue's expectation for a ``tier``/``duration`` task: the real service's pace, or
    the embedded emulator's when its ``time_scale`` is known (whose run time is exact)."""
    seconds = duration if duration and duration > 0 else 5
    nominal = (
        PRIOR_RUN_PER_5S * seconds / 5 * TIER_FACTOR.get(tier or "", max(TIER_FACTOR.values()))
    )
    queue = Spread(*PRIOR_QUEUE)
    if time_scale is not None:
        run = Spread(nominal, nominal, nominal)
        queue, run = queue.times(time_scale), run.times(time_scale)
        source = f"catalogue, emulator at time scale {time_scale:g}"
    else:
        run = Spread(*(nominal * f for f in PRIOR_RUN_SPREAD))
        source = "catalogue"
    return Expectation(queue, run, queue.plus(run), trusted, source)


def from_history(samples: Sequence[tuple[float | None, float | None]]) -> Expectation | None:
    """The expectation from (queue_seconds, run_seconds) of similar runs; None if too few."""
    good = [(q, r) for q, r in samples if q is not None and r is not None and q >= 0 and r > 0]
    if len(good) < MIN_HISTORY:
        return None
    return Expectation(
        queue=Spread.of([q for q, _ in good]),
        run=Spread.of([r for _, r in good]),
        total=Spread.of([q + r for q, r in good]),
        trusted=True,
        source=f"history of {len(good)} similar runs",
    )


def expect(
    tier: str | None,
    duration: int | None,
    samples: Sequence[tuple[float | None, float | None]] = (),
    *,
    time_scale: float | None = None,
    trusted: bool = True,
) -> Expectation:
    """History when there is enough of it, else the prior."""
    return from_history(samples) or prior(tier, duration, time_scale=time_scale, trusted=trusted)


@dataclass(frozen=True)
class Tuning:
    """The knobs of the schedule (seconds, real time)."""

    cap: float = 15.0  # never blind longer than this
    floor: float = 0.05  # never sooner than this
    first: float = 1.0  # first wait when the expectation is not trusted
    growth: float = 1.5  # ramp (untrusted) and back-off (overdue) factor
    jitter: float = 0.1  # fraction
    lag: float = 0.05  # aim this long after a start-based end (clock and network slack)
    # Someone is watching (a form's status line): one more look, when the queue has probably
    # ended, so RUNNING is seen (and when it started, which aims the last look better).
    look_when_running: bool = False


@dataclass(frozen=True)
class Look:
    """What is known about one task when choosing the next wait (times in seconds since it was
    created, on the local clock)."""

    elapsed: float
    status: str | None = None  # the last status seen; None before any answer
    seen_at: float | None = None  # when that status was last seen
    started: float | None = None  # when it started RUNNING (from its scheduled_time)
    polls: int = 0  # waits handed out so far
    overdue: int = 0  # waits handed out since the aimed time passed


def due(look: Look, exp: Expectation, tuning: Tuning = Tuning()) -> float:
    """When the task is probably done (seconds since created): where the next look is aimed."""
    if look.started is not None:  # aimed at one moment: a little after it, for clock slack
        return look.started + exp.run.late + tuning.lag
    at = exp.total.late  # a percentile of similar tasks: slack is already in it
    if tuning.look_when_running and look.status in (None, "PENDING"):
        queue_end = exp.queue.late + tuning.lag
        if look.seen_at is None or look.seen_at < queue_end:  # at most one such look
            return min(at, queue_end)
    if look.status == "PENDING" and look.seen_at is not None:
        at = max(at, look.seen_at + exp.run.early)  # still queued then: a whole run is left
    return at


def next_delay(look: Look, exp: Expectation, tuning: Tuning = Tuning(), u: float = 0.5) -> float:
    """Seconds to wait before the next query. ``u`` in [0, 1) is the random draw for jitter."""
    wait = due(look, exp, tuning) - look.elapsed
    window = exp.run.width if look.started is not None else exp.total.width
    spread = tuning.jitter * (2.0 * u - 1.0)  # in [-jitter, +jitter)
    if wait > tuning.floor:  # not due yet: wait for it, never blind for long
        if not exp.trusted:
            wait = min(wait, tuning.first * tuning.growth**look.polls)
        if wait >= tuning.cap:
            wait = tuning.cap * (1.0 - tuning.jitter * u)
        else:
            wait += spread * min(window, wait)
    else:  # due or overdue: look again soon, then less and less often
        close = max(tuning.floor, window / 2.0, 0.02 * exp.total.likely)
        wait = min(tuning.cap, close * tuning.growth ** min(look.overdue, 60)) * (1.0 + spread)
    return max(tuning.floor, min(wait, tuning.cap))


class PollPlan:
    """The waits between the queries of one task: an endless iterator for ``Client.watch``.

    Tell it each answer that changed the status with :meth:`observe` (the create's answer too);
    a wait asked for without a new observation means the last query said the same again.
    ``since`` is how long ago the task was created (for a resumed run).
    """

    def __init__(
        self,
        expectation: Expectation,
        *,
        since: float = 0.0,
        tuning: Tuning = Tuning(),
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.expectation = expectation
        self.tuning = tuning
        self._clock, self._rng = clock, rng
        self._t0 = clock() - max(0.0, since)
        self._look = Look(elapsed=max(0.0, since))
        self._fresh = False

    def __repr__(self) -> str:
        e = self.expectation
        return (
            f"PollPlan(total≈{e.total.likely:.3g}s [{e.total.early:.3g}-{e.total.late:.3g}], "
            f"from {e.source}, polls={self._look.polls})"
        )

    @property
    def look(self) -> Look:
        return self._look

    @property
    def observed(self) -> bool:
        """Whether any answer has been seen (then the first query need not be immediate)."""
        return self._look.status is not None

    def observe(self, task: Any) -> None:
        """Note an answer (a ``_api.tasks.Task``): its status and, once RUNNING, when it started."""
        elapsed = self._clock() - self._t0
        look = self._look
        started = look.started
        if started is None and task.scheduled_time is not None and task.submit_time is not None:
            started = max(0.0, (task.scheduled_time - task.submit_time).total_seconds())
        self._look = replace(
            look,
            elapsed=elapsed,
            status=task.status.value,
            seen_at=elapsed,
            started=started,
            overdue=look.overdue if started == look.started else 0,
        )
        self._fresh = True

    def __iter__(self) -> PollPlan:
        return self

    def __next__(self) -> float:
        elapsed = self._clock() - self._t0
        look = replace(self._look, elapsed=elapsed)
        if not self._fresh and look.status is not None:
            look = replace(look, seen_at=elapsed)  # the last query said the same status again
        self._fresh = False
        delay = next_delay(look, self.expectation, self.tuning, self._rng())
        overdue = elapsed >= due(look, self.expectation, self.tuning) - self.tuning.floor
        self._look = replace(look, polls=look.polls + 1, overdue=look.overdue + int(overdue))
        return delay
