"""Watching one task to its end, through outages of the query endpoint.

A task that was created is paid for whatever happens to the connection: giving it up because the
query endpoint failed for a while (a dropped network, a 502 from a gateway, throttled queries)
would leave the run PENDING with nobody following it. The client already retries each query a few
times (``Client._call``, about 8 s); when those retries are spent, :func:`watch_task` takes the
failure as "no news" and keeps to the poll schedule, waiting longer while the outage lasts, until
the overall deadline — then it raises :class:`TaskTimeoutError` as for a task that is merely slow.
A failure that asking again cannot cure (a wrong key, a bad request) is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from wanbook._api.retry import poll_delays, repeat_last
from wanbook._api.tasks import Task, TaskStatus
from wanbook._errors import RateLimitError, ServerError, TaskTimeoutError, TransportError

__all__ = ["TRANSIENT_QUERY_ERRORS", "outage_wait", "watch_task"]

logger = logging.getLogger("wanbook.watch")

#: Query failures that say nothing about the task: the service may answer next time.
TRANSIENT_QUERY_ERRORS: tuple[type[Exception], ...] = (TransportError, ServerError, RateLimitError)
OUTAGE_FIRST = 2.0  # the wait after the first failed query (on top of the client's retries)
OUTAGE_CAP = 60.0  # never wait longer than this between two queries during an outage
# The service answers UNKNOWN for an id it does not know — past 24 h, but its pages also call a
# passing hiccup "status unknown". A young task's UNKNOWN is final only once it has been the
# answer this many times in a row, over at least UNKNOWN_GRACE seconds.
UNKNOWN_ANSWERS = 3
MIN_QUERY_TIME = 1.0  # a query always gets this long, even right at the deadline
UNKNOWN_GRACE = 60.0

Sleep = Callable[[float], Awaitable[Any]]


def outage_wait(failures: int, retry_after: float | None = None) -> float:
    """The least wait before the next query after ``failures`` failed ones in a row (>= 1):
    doubling from :data:`OUTAGE_FIRST` up to :data:`OUTAGE_CAP`; a server's Retry-After wins when
    it asks for longer."""
    wait = min(OUTAGE_CAP, OUTAGE_FIRST * 2.0 ** min(failures - 1, 30))
    if retry_after is not None and retry_after > wait:
        wait = min(retry_after, OUTAGE_CAP)
    return wait


async def watch_task(
    client: Any,
    task_id: str,
    *,
    deadline: float,
    delays: Iterable[float] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    on_answer: Callable[[Task], None] | None = None,
    unknown_grace: float = UNKNOWN_GRACE,
) -> AsyncIterator[Task]:
    """Yield ``task_id``'s task each time its status changes (the first answer always), ending
    after a terminal status; ``deadline`` is seconds from now, past which TaskTimeoutError.

    ``client`` needs ``query(task_id)`` (a :class:`~wanbook._api.client.Client`). ``delays`` are the
    waits between answered queries (default the client's ramp; a finite one repeats its last);
    ``on_answer`` sees every answer, changed or not (e.g. to note when the task was last seen).
    Transient failures (:data:`TRANSIENT_QUERY_ERRORS`) are logged and waited out, see the module
    docstring; any other error is raised. An UNKNOWN answer is taken as no news until it has
    been repeated :data:`UNKNOWN_ANSWERS` times over ``unknown_grace`` seconds (0: at once, for a
    task known to be past the vendor's 24 h).
    """
    started = clock()
    end = started + max(0.0, deadline)
    schedule = repeat_last(delays if delays is not None else poll_delays())
    last: TaskStatus | None = None
    failures = 0
    error: Exception | None = None
    unknown: list[float] = []  # when the answers UNKNOWN in a row came
    while True:
        try:
            # The deadline bounds each query too: a server dripping its answer is not waiting.
            async with asyncio.timeout(max(end - clock(), MIN_QUERY_TIME)):
                task: Task | None = await client.query(task_id)
        except TRANSIENT_QUERY_ERRORS as exc:
            task, error = None, exc
            failures += 1
            if failures == 1:
                logger.warning("query of task %s failed (%s); still waiting for it", task_id, exc)
        except TimeoutError:
            state = last.value if last is not None else "not seen yet"
            raise TaskTimeoutError(
                f"task {task_id} is still {state} after {clock() - started:.0f} s (the deadline "
                "passed during a query that got no whole answer); it may still finish: query it "
                "again or resume later"
            ) from None
        if task is not None:
            if failures:
                logger.info("task %s answers again after %d failed queries", task_id, failures)
            failures, error = 0, None
            if on_answer is not None:
                on_answer(task)
            unknown = [*unknown, clock()] if task.status is TaskStatus.UNKNOWN else []
            if (
                unknown
                and unknown_grace > 0
                and not (
                    len(unknown) >= UNKNOWN_ANSWERS and unknown[-1] - unknown[0] >= unknown_grace
                )
            ):
                if len(unknown) == 1:
                    logger.warning(
                        "task %s answered UNKNOWN; asking again before giving up", task_id
                    )
                task = None  # not final yet: keep to the schedule
        if task is not None:
            if task.status is not last:
                last = task.status
                yield task
            if task.is_terminal:
                return
        now = clock()
        if now >= end:
            state = last.value if last is not None else "not seen yet"
            why = f"; the last {failures} queries failed: {error}" if error is not None else ""
            raise TaskTimeoutError(
                f"task {task_id} is still {state} after {now - started:.0f} s (the deadline){why}; "
                "it may still finish: query it again or resume later"
            )
        wait = next(schedule)
        if failures:
            wait = max(wait, outage_wait(failures, getattr(error, "retry_after", None)))
        await sleep(min(wait, end - now))
