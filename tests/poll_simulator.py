"""The poll schedule on paper: how many queries a watch makes and how late it notices the end.

No server and no waiting: a task that is PENDING for ``queue`` seconds and then RUNNING for ``run``
seconds is answered from a virtual clock, and a :class:`~wanbook._api.poll_schedule.PollPlan` is followed as
``Tracker.follow`` follows it (the create's answer observed, then a query after each wait). The
vendor SDK's ``wait`` ramp is modelled beside it. The tests check the schedule with these, and
``bench/polling.py`` measures it at the real service's pace, which no test can wait for.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from tests.fakes import FakeClock
from wanbook._api.poll_schedule import Expectation, PollPlan
from wanbook._api.tasks import Task, TaskStatus

__all__ = ["sdk_queries", "simulate_watch"]


def simulate_watch(
    exp: Expectation, queue: float, run: float, *, rng_seed: int = 0
) -> tuple[int, float]:
    """``(queries, seconds noticed late)`` for a task ending ``queue + run`` s after its create."""
    clock = FakeClock(start=0.0)
    plan = PollPlan(exp, clock=clock, rng=random.Random(rng_seed).random)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def answer() -> Task:
        t = clock.now
        if t < queue:
            return Task("t", TaskStatus.PENDING, submit_time=t0)
        started = t0 + timedelta(seconds=queue)
        if t < queue + run:
            return Task("t", TaskStatus.RUNNING, submit_time=t0, scheduled_time=started)
        return Task("t", TaskStatus.SUCCEEDED, submit_time=t0, scheduled_time=started)

    plan.observe(answer())  # the create's answer
    last = TaskStatus.PENDING
    queries = 0
    while True:
        clock.advance(next(plan))
        queries += 1
        task = answer()
        if task.status != last:
            last = task.status
            plan.observe(task)
        if task.is_terminal:
            return queries, clock.now - (queue + run)


def sdk_queries(total: float) -> tuple[int, float]:
    """``(queries, seconds noticed late)`` of the vendor SDK's ``wait`` for a task that ends
    ``total`` s after its create: it queries at once, then after 1, 1, 2, 2, 2, 4, 4, 4, 5, 5 … s."""
    t, wait, step, n = 0.0, 1.0, 0, 0
    while True:
        step += 1
        if wait < 5 and step % 3 == 0:
            wait = min(wait * 2, 5)
        n += 1
        if t >= total:
            return n, t - total
        t += wait
