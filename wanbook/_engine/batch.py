"""Batches at the speed limit: many requests, one account's limits, results as they arrive.

``Session.batch(requests)`` validates and prices every request first (nothing is sent if any is
invalid or the total breaks the budget; the whole estimate is then reserved in the session's
budget until each run is logged), then a :class:`Batch` runs them on the session's one HTTP
client and one limiter of the running loop (the account's limits, shared with every other batch
and single run of the session):

* one dispatcher per rate group (see ``_api.pacing``) takes the group's requests in input order and
  releases each when a slot in flight is free; its submission token is taken just before its
  create is sent (inside the create gate);
* each released request gets its write-ahead row, its create and its follow through the same
  per-run steps as a single generation (``_engine.submit.submit_one``), with the adaptive poll schedule;
* a 429 (another client on the account) is absorbed: the group's window is held for the backoff
  (``Retry-After`` when given) and the create is sent again through the limiter — the task was
  not created, so nothing is lost or duplicated — until the run's deadline (then the run is
  NOT_CREATED, with a RateLimitError saying nothing was created or billed);
* a slot is freed the moment a task is seen ended (before its video is downloaded);
* ``deadline`` bounds the whole batch: requests not sent by then are not sent, tasks still
  running stop being waited for (``resume`` finishes them);
* ``cancel()`` stops sending; tasks already created keep being followed and downloaded (they
  are paid for);
* an interrupted caller (``await batch``, ``batch.wait()``, ``submit_many``, ``compare`` cancelled
  or stopped with Ctrl-C) stops the batch: nothing more is sent, tasks already created stay in
  the run log for ``resume`` (not followed in the background), and one line says how many.

Outcomes stream in completion order (``async for outcome in batch``); ``await batch`` (or
``await batch.wait()``) returns them in input order.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from wanbook._api.pacing import GroupLimit, Limiter, Slot, group_of, limits_for
from wanbook._api.tasks import Task
from wanbook._engine.prepare import Prepared
from wanbook._engine.submit import submit_one, throttle_pace
from wanbook._errors import (
    BatchCancelled,
    TaskTimeoutError,
)
from wanbook._runlog.run import Run
from wanbook._spec.catalogue import catalogue
from wanbook._spec.request import Request

if TYPE_CHECKING:
    from wanbook._engine.budget import Reservation
    from wanbook._engine.resources import Resources
    from wanbook._engine.shared_budget import Draw
    from wanbook._engine.tracker import Tracker

__all__ = ["Batch", "Outcome"]


@dataclass
class Outcome:
    """What became of one request of a batch."""

    index: int  # position in the input list
    request: Request
    run: Run | None = None  # the logged run (None only if it never got a run-log row)
    error: BaseException | None = None  # None on success

    @property
    def ok(self) -> bool:
        return self.error is None and self.run is not None and self.run.ok

    def __repr__(self) -> str:
        what = "ok" if self.ok else f"{type(self.error).__name__}: {self.error}"
        run = self.run.run_id if self.run is not None else None
        return f"Outcome(index={self.index}, run={run!r}, {what})"


class Batch:
    """A running batch (made by :meth:`Session.batch` inside a running event loop).

    ``total``, ``started`` (creates sent), ``finished`` (outcomes known) and ``failed`` are live
    counters; ``throttled`` counts the 429s absorbed. ``limits`` overrides set the session's
    shared limits for the groups they name (they are the account's): later batches and single
    runs of the session on this loop keep them.
    """

    def __init__(
        self,
        resources: Resources,
        tracker: Tracker,
        preps: Sequence[Prepared],
        *,
        experiment: str | None = None,
        tags: Sequence[str] = (),
        deadline: float | None = None,
        run_deadline: float,
        limits: Mapping[str, tuple[int, int]] | None = None,
        run_tags: Sequence[Sequence[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        draw: Draw | None = None,
        reservation: Reservation | None = None,
    ) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Session.batch() starts the batch on the running event loop, so call it from "
                "async code (then `await batch` or `async for outcome in batch`); from plain "
                "code use Session.submit_many() or wb.submit_many(). Nothing was sent."
            ) from None
        if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0):
            raise ValueError(f"deadline {deadline!r} must be a positive number of seconds")
        specs = [p.resolved.spec for p in preps]
        self._limiter = resources.limiter()
        if limits:
            groups = catalogue().rate_groups
            touched = {key if key in groups else group_of(key) for key in limits}
            wanted = limits_for(specs, limits, region=resources.region)  # validates overrides
            self._limiter.apply({g: v for g, v in wanted.items() if g in touched})
        for spec in specs:
            self._limiter.for_spec(spec)
        self._resources = resources
        self._preps = list(preps)
        self._experiment = experiment
        self._tags = list(tags)
        self._run_tags = [list(t) for t in run_tags] if run_tags is not None else None
        if self._run_tags is not None and len(self._run_tags) != len(preps):
            raise ValueError(
                f"run_tags has {len(self._run_tags)} lists for {len(preps)} requests; give one each"
            )
        self._run_deadline = run_deadline
        self._clock = clock
        self._end = None if deadline is None else clock() + float(deadline)
        self._client = resources.client()
        self._tracker = tracker
        self.total = len(self._preps)
        self.started = 0
        self.finished = 0
        self.failed = 0
        self.throttled = 0
        self._outcomes: list[Outcome | None] = [None] * self.total
        self._order: list[Outcome] = []
        self._arrived = asyncio.Event()
        self._stop = asyncio.Event()
        self._runs: set[asyncio.Task[None]] = set()
        self._sent: set[int] = set()  # requests whose create went out
        self._aborted = False
        # Accepted: the whole estimate is reserved (by the budget check, in the same step, or now);
        # each share given back as its run is logged or dropped (see _budget).
        self._reservation = reservation or resources.ledger.reserve(self._preps)
        self._draw = draw  # reservations on a named budget (each settled or released once)
        self._runner = loop.create_task(self._run(), name="wanbook-batch")

    def __repr__(self) -> str:
        return (
            f"Batch(total={self.total}, started={self.started}, finished={self.finished}, "
            f"failed={self.failed}{', cancelled' if self._stop.is_set() else ''})"
        )

    @property
    def limiter(self) -> Limiter:
        return self._limiter

    @property
    def done(self) -> bool:
        return self.finished == self.total

    # ------------------------------------------------------------------ results
    async def __aiter__(self) -> AsyncIterator[Outcome]:
        """Outcomes in completion order, as they arrive. Cancelling the loop (an interrupt)
        stops the batch as :meth:`wait` does; leaving it with ``break`` does not."""
        seen = 0
        while seen < self.total:
            if seen == len(self._order):
                try:
                    await self._arrived.wait()
                except asyncio.CancelledError:
                    self.abort()
                    raise
            while seen < len(self._order):
                seen += 1
                yield self._order[seen - 1]

    async def wait(self) -> list[Outcome]:
        """Every outcome, in input order, once all are known (``await batch`` is the same).

        Cancelling the wait (an interrupt) stops the batch: nothing more is sent, and tasks
        already created stay in the run log for ``wb.resume()`` (one line says how many)."""
        try:
            await asyncio.shield(self._runner)
        except asyncio.CancelledError:
            if not self._runner.done():
                self.abort()
            raise
        return [o for o in self._outcomes if o is not None]

    def __await__(self) -> Any:
        """``await batch``: the outcomes in input order (see :meth:`wait`)."""
        return self.wait().__await__()

    def cancel(self) -> None:
        """Send nothing more. Requests not yet sent end with :class:`BatchCancelled` (no run);
        tasks already created keep being followed and downloaded: they are paid for."""
        self._stop.set()

    def abort(self) -> None:
        """Stop everything now (the caller was interrupted): unsent requests are never sent;
        tasks created stay in the run log as they are, for ``resume``, and one line says so.
        Safe to call twice (only the first call acts)."""
        if self._aborted:
            return
        self._aborted = True
        self._stop.set()
        self._runner.cancel()
        for task in list(self._runs):
            task.cancel()
        self._reservation.release_all()
        if self._draw is not None:
            self._draw.release_unsent()
        created = sum(1 for i in self._sent if self._outcomes[i] is None)
        if created or not self._resources.quiet:
            print(self.interrupted_line(created), file=sys.stderr)

    def interrupted_line(self, created: int) -> str:
        """What an interrupted batch tells the user (one line)."""
        unsent = self.total - len(self._sent)
        if not created:
            return f"wanbook: batch interrupted: {unsent} not sent, no task left running."
        tasks = "task was" if created == 1 else "tasks were"
        return (
            f"wanbook: batch interrupted: {created} {tasks} created and may still be running "
            f"(logged; not followed now), {unsent} not sent. Run wb.resume() to finish them."
        )

    # ------------------------------------------------------------------ running
    def _stopped(self) -> bool:
        return self._stop.is_set() or (self._end is not None and self._clock() >= self._end)

    def _remaining(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - self._clock())

    def _not_sent(self) -> BaseException:
        if self._stop.is_set():
            return BatchCancelled("the batch was cancelled before this request was sent")
        return TaskTimeoutError(
            "the batch's deadline passed before this request was sent; nothing was created"
        )

    def _record(self, outcome: Outcome) -> None:
        self._reservation.release(outcome.index)
        if self._draw is not None:
            record = outcome.run.record if outcome.run is not None else None
            self._draw.settle(outcome.index, record)
        self._outcomes[outcome.index] = outcome
        self._order.append(outcome)
        self.finished += 1
        self.failed += not outcome.ok
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()  # wakes every iterator waiting for the next outcome

    async def _run(self) -> None:
        groups: dict[str, list[int]] = {}
        for i, prep in enumerate(self._preps):
            groups.setdefault(group_of(prep.resolved.spec.family), []).append(i)
        try:
            await asyncio.gather(*(self._dispatch(g, idx) for g, idx in groups.items()))
            while self._runs:
                await asyncio.gather(*list(self._runs), return_exceptions=True)
        except Exception as exc:  # a bug must not leave waiters hanging: each request an answer
            for i, prep in enumerate(self._preps):
                if self._outcomes[i] is None:
                    self._record(Outcome(i, prep.request, None, exc))
            raise
        finally:
            self._reservation.release_all()
            if self._draw is not None:
                self._draw.release_unsent()

    async def _until(self, aw: Awaitable[Any], undo: Callable[[], None] | None = None) -> bool:
        """Await ``aw`` unless the batch is cancelled or its deadline passes first. True if it
        completed in time; if it completed but the batch stopped meanwhile, ``undo()`` and False."""
        task = asyncio.ensure_future(aw)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait(
                {task, stop}, timeout=self._remaining(), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        completed = task.done() and not task.cancelled() and task.exception() is None
        if completed and self._stopped():
            if undo is not None:
                undo()
            return False
        return completed

    async def _dispatch(self, group: str, indexes: list[int]) -> None:
        """Release the group's requests in input order as a slot in flight frees."""
        limit = self._limiter[group]
        for pos, i in enumerate(indexes):
            got: list[Slot] = []  # the slot, once taken
            sent = not self._stopped() and await self._until(
                _take(limit, got), undo=partial(_free_all, got)
            )
            if not sent:
                for j in indexes[pos:]:
                    self._record(Outcome(j, self._preps[j].request, None, self._not_sent()))
                return
            task = asyncio.get_running_loop().create_task(self._one(i, got[0]))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _one(self, i: int, slot: Slot) -> None:
        """One request, from its write-ahead row to its outcome; frees its slot once it ended."""
        prep = self._preps[i]
        limit = slot.limit

        def on_task(task: Task) -> None:
            slot.on_task(task)

        def on_answer(task: Task) -> None:
            slot.on_answer(task)

        async def before_send() -> None:
            """A submission token, taken inside the create gate just before sending."""
            if self._stopped() or not await self._until(limit.rate.acquire()):
                raise self._not_sent()
            if i not in self._sent:
                self._sent.add(i)
                self.started += 1
                if self._draw is not None and run_id is not None:
                    self._draw.sending(i, run_id)

        def refused() -> None:
            self.throttled += 1

        run_id: str | None = None
        try:
            own = self._run_tags[i] if self._run_tags is not None else []
            run_id = self._tracker.start(prep, self._experiment, [*self._tags, *own])
            self._resources.ledger.own(run_id)  # counted as a run of the session from now on
            self._reservation.release(i)
            deadline = self._run_deadline
            remaining = self._remaining()
            if remaining is not None:
                deadline = min(deadline, remaining)
            pace = throttle_pace(
                limit.rate.hold,
                self._client.retry_policy,
                deadline=deadline,
                on_refused=refused,
            )
            run = await submit_one(
                self._resources,
                prep,
                self._tracker,
                run_id,
                deadline=deadline,
                pace=pace,
                on_task=on_task,
                on_answer=on_answer,
                before_send=before_send,
            )
            outcome = Outcome(i, prep.request, run, None if run.ok else run.failure())
        except Exception as exc:
            outcome = Outcome(i, prep.request, self._latest(run_id), exc)
        finally:
            slot.free()
        self._record(outcome)

    def _latest(self, run_id: str | None) -> Run | None:
        record = self._resources.log.get(run_id) if run_id else None
        return Run(record) if record else None


async def _take(limit: GroupLimit, into: list[Slot]) -> None:
    """Wait for a slot in flight of ``limit`` and put it ``into`` the list."""
    into.append(await limit.take())


def _free_all(slots: list[Slot]) -> None:
    for slot in slots:
        slot.free()
