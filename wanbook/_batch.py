"""Batches at the speed limit: many requests, one account's limits, results as they arrive.

``Session.batch(requests)`` validates and prices every request first (nothing is sent if any is
invalid or the total breaks the budget), then a :class:`Batch` runs them on the session's one
HTTP client of the running loop (connections reused):

* one dispatcher per limit group (see ``_limiter``) takes the group's requests in input order and
  releases each when a slot in flight is free and a submission token is available;
* each released request gets its write-ahead row, its create and its follow through the same
  per-run steps as a single generation (``_submit.submit_one``), with the adaptive poll schedule;
* a 429 (another client on the account) is absorbed: the group's window is held for the backoff
  (``Retry-After`` when given) and the create is sent again through the limiter — the task was
  not created, so nothing is lost or duplicated;
* a slot is freed the moment a task is seen ended (before its video is downloaded);
* ``deadline`` bounds the whole batch: requests not sent by then are not sent, tasks still
  running stop being waited for (``resume`` finishes them);
* ``cancel()`` stops sending; tasks already created keep being followed and downloaded (they
  are paid for).

Outcomes stream in completion order (``async for outcome in batch``) and ``await batch.wait()``
returns them in input order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from wanbook._errors import (
    BatchCancelled,
    MediaError,
    Problem,
    RateLimitError,
    TaskTimeoutError,
    ValidationError,
)
from wanbook._limiter import Limiter, group_of, limits_for
from wanbook._prepare import Prepared
from wanbook._request import Request
from wanbook._run import Run
from wanbook._submit import submit_one
from wanbook._wire import Task

if TYPE_CHECKING:
    from wanbook._session import Session

__all__ = ["MAX_THROTTLED", "Batch", "Outcome", "prepare_all"]

#: How many 429s one create absorbs before its run is recorded as refused (with the client's
#: capped backoff, about a minute: the vendor says throttling "usually clears within a minute").
MAX_THROTTLED = 10


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
    counters; ``throttled`` counts the 429s absorbed.
    """

    def __init__(
        self,
        session: Session,
        preps: Sequence[Prepared],
        *,
        experiment: str | None = None,
        tags: Sequence[str] = (),
        deadline: float | None = None,
        limits: Mapping[str, tuple[int, int]] | None = None,
        on_update: Callable[[Run], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Session.batch() needs a running event loop (await it in async code); "
                "from plain code use Session.submit_many() or wb.submit_many()"
            ) from None
        if deadline is not None and not (isinstance(deadline, int | float) and deadline > 0):
            raise ValueError(f"deadline {deadline!r} must be a positive number of seconds")
        self._session = session
        self._preps = list(preps)
        self._experiment = experiment if experiment is not None else session.experiment
        self._tags = [*session.tags, *tags]
        self._clock = clock
        self._end = None if deadline is None else clock() + float(deadline)
        self._limiter = Limiter(limits_for([p.resolved.spec for p in self._preps], limits))
        self._client = session.client()
        self._tracker = session._tracker(on_update)
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
        """Outcomes in completion order, as they arrive."""
        seen = 0
        while seen < self.total:
            if seen == len(self._order):
                await self._arrived.wait()
            while seen < len(self._order):
                seen += 1
                yield self._order[seen - 1]

    async def wait(self) -> list[Outcome]:
        """Every outcome, in input order, once all are known. Cancelling the wait leaves the batch
        running (use :meth:`cancel`)."""
        await asyncio.shield(self._runner)
        return [o for o in self._outcomes if o is not None]

    def cancel(self) -> None:
        """Send nothing more. Requests not yet sent end with :class:`BatchCancelled` (no run);
        tasks already created keep being followed and downloaded: they are paid for."""
        self._stop.set()

    def _abort(self) -> None:
        """Stop everything now (the caller was cancelled): unsent requests are not sent; tasks in
        flight stay in the run log as they are, for ``resume``."""
        self._stop.set()
        self._runner.cancel()
        for task in list(self._runs):
            task.cancel()

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
        except (
            Exception
        ) as exc:  # a bug must not leave waiters hanging: every request gets an answer
            for i, prep in enumerate(self._preps):
                if self._outcomes[i] is None:
                    self._record(Outcome(i, prep.request, None, exc))
            raise

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
        """Release the group's requests in input order as its limits allow."""
        limit = self._limiter[group]
        for pos, i in enumerate(indexes):
            sent = not self._stopped() and await self._until(limit.slot(), undo=limit.release)
            if sent and not await self._until(limit.rate.acquire()):
                limit.release()
                sent = False
            if not sent:
                for j in indexes[pos:]:
                    self._record(Outcome(j, self._preps[j].request, None, self._not_sent()))
                return
            self.started += 1
            task = asyncio.get_running_loop().create_task(self._one(i, group))
            self._runs.add(task)
            task.add_done_callback(self._runs.discard)

    async def _one(self, i: int, group: str) -> None:
        """One request, from its write-ahead row to its outcome; frees its slot once it ended."""
        prep = self._preps[i]
        limit = self._limiter[group]
        held = True

        def free() -> None:
            nonlocal held
            if held:
                held = False
                limit.release()

        def on_task(task: Task) -> None:
            if task.is_terminal:
                free()

        async def pace(error: RateLimitError, refused: int) -> None:
            self.throttled += 1
            if refused > MAX_THROTTLED:
                raise error
            limit.rate.hold(self._client.retry_policy.delay(refused - 1, error.retry_after))
            if not await self._until(limit.rate.acquire()):
                raise self._not_sent()

        run_id: str | None = None
        try:
            run_id = self._tracker.start(prep, self._experiment, list(self._tags))
            deadline = self._session.deadline
            remaining = self._remaining()
            if remaining is not None:
                deadline = min(deadline, remaining)
            run = await submit_one(
                self._session,
                prep,
                self._tracker,
                run_id,
                deadline=deadline,
                pace=pace,
                on_task=on_task,
            )
            outcome = Outcome(i, prep.request, run, None if run.ok else run.failure())
        except Exception as exc:
            outcome = Outcome(i, prep.request, self._latest(run_id), exc)
        finally:
            free()
        self._record(outcome)

    def _latest(self, run_id: str | None) -> Run | None:
        record = self._session.log.get(run_id) if run_id else None
        return Run(record) if record else None


def prepare_all(session: Session, requests: Iterable[Request]) -> list[Prepared]:
    """Validate and price every request; one ValidationError naming every failing index (each
    problem's field is prefixed ``[i].``) before anything is sent."""
    if isinstance(requests, Request | str | bytes | Mapping) or not isinstance(requests, Iterable):
        raise TypeError(
            f"requests must be a list of wanbook.Request, got {type(requests).__name__}"
        )
    preps: list[Prepared] = []
    problems: list[Problem] = []
    for i, req in enumerate(requests):
        if not isinstance(req, Request):
            problems.append(
                Problem(f"[{i}]", type(req).__name__, "must be a wanbook.Request (wb.Request(...))")
            )
            continue
        try:
            preps.append(session.prepare(req))
        except ValidationError as exc:
            problems += [replace(p, field=f"[{i}].{p.field}") for p in exc.problems]
        except MediaError as exc:
            problems.append(Problem(f"[{i}].{exc.field}", None, str(exc)))
    if problems:
        bad = sorted({int(p.field[1:].split("]")[0]) for p in problems})
        raise ValidationError(problems, model=f"batch requests {', '.join(map(str, bad))}")
    return preps
