"""The per-run steps shared by a single generation and a batch: create → log the id → follow.

``Session.agenerate`` and ``Batch`` both call :func:`submit_one` after writing the run's write-ahead
row; they differ only in what happens around the create and in what they do when the task ends
(``on_task``). Both absorb 429s the same way (:func:`throttle_pace`): a create answered 429 made
no task, so it is sent again through the limiter (``Retry-After``, else backoff with jitter, as a
hold on the whole rate group) until the deadline; only then does the run fail, NOT_CREATED.

Every create of a client passes the client's :class:`~wanbook._api.pacing.CreateGate`, so the search
for an ambiguous create's task never overlaps a sibling's create (see the gate's docstring).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wanbook._api.pacing import create_gate
from wanbook._api.poll_schedule import PollPlan, Tuning, expect
from wanbook._api.retry import RetryPolicy
from wanbook._api.tasks import Task
from wanbook._engine.prepare import Prepared
from wanbook._engine.tracker import Tracker
from wanbook._engine.uploads import body_with_uploads
from wanbook._errors import (
    AmbiguousCreateError,
    APIError,
    BatchCancelled,
    RateLimitError,
    TaskTimeoutError,
    TransportError,
)
from wanbook._runlog.queries import recent_timings
from wanbook._runlog.run import Run
from wanbook._runlog.schema import parse_time

if TYPE_CHECKING:
    from wanbook._api.client import Client
    from wanbook._engine.resources import Resources

__all__ = ["Pace", "poll_plan", "submit_one", "throttle_pace"]

#: Called before re-sending a create refused with 429 (the error, and how many were refused so
#: far): waits as the caller's limiter says, or raises to give up (nothing was created).
Pace = Callable[[RateLimitError, int], Awaitable[None]]


def throttle_pace(
    hold: Callable[[float], None] | None,
    policy: RetryPolicy,
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    on_refused: Callable[[], None] | None = None,
) -> Pace:
    """The :data:`Pace` of one create: after its ``n``-th 429, wait the server's ``Retry-After``
    (capped by ``policy``) or ``policy``'s jittered backoff, then send again — until ``deadline``
    seconds from now; then raise :class:`RateLimitError` saying nothing was created or billed.

    The wait is a ``hold`` on the rate group (every create of the account waits, not just this
    one; the create's next submission token comes after it). Without ``hold`` it sleeps here.
    """
    started = clock()
    end = started + max(0.0, deadline)

    async def pace(error: RateLimitError, refused: int) -> None:
        if on_refused is not None:
            on_refused()
        delay = policy.delay(refused - 1, error.retry_after, rng)
        now = clock()
        if now + delay >= end:
            raise RateLimitError(
                f"the service still refused this create as throttled (HTTP 429) after "
                f"{refused} tries over {now - started:.0f} s, and the deadline "
                f"({deadline:g} s) leaves no time for another; nothing was created or billed. "
                f"Last answer: {error}",
                status_code=error.status_code,
                code=error.code,
                request_id=error.request_id,
                retry_after=error.retry_after,
            ) from error
        if hold is not None:
            hold(delay)
        else:
            await sleep(delay)

    return pace


async def submit_one(
    resources: Resources,
    prep: Prepared,
    tracker: Tracker,
    run_id: str,
    *,
    deadline: float,
    pace: Pace | None = None,
    on_task: Callable[[Task], None] | None = None,
    before_send: Callable[[], Awaitable[None]] | None = None,  # the limiter's token
    on_answer: Callable[[Task], None] | None = None,  # every poll's answer (a heartbeat)
) -> Run:
    """Create the task of the logged run ``run_id``, log its id, follow it to the end (poll,
    download, price) and return the final run. A FAILED task is returned, not raised.

    Raises (after logging what is known) when no task can be followed: APIError/TransportError
    (run ERROR), AmbiguousCreateError that no search resolved (run AMBIGUOUS, for ``resume``),
    BatchCancelled/TaskTimeoutError from ``before_send``, RateLimitError from ``pace`` (still
    throttled at the deadline) (run NOT_CREATED), TaskTimeoutError past ``deadline`` while
    following (the task goes on; ``resume`` finishes it). Without ``pace``, 429s are absorbed by
    a :func:`throttle_pace` that sleeps, until ``deadline``.
    """
    client = resources.client()
    if pace is None:
        pace = throttle_pace(None, client.retry_policy, deadline=deadline)
    sent_at = datetime.now(UTC)  # (the row says SUBMITTING only once the create goes out)
    since = 0.0  # how long before now the task was made (it was just now, unless found later)
    sending: list[bool] = []  # non-empty once a create is on its way
    try:
        # An upload lives in the store of the endpoint it went to (an embedded emulator's dies
        # with it): recorded uploads are reused only for the same backend and host.
        where = f"{resources.backend}@{urlsplit(resources.endpoint()).netloc}"
        body = await body_with_uploads(client, resources.log, prep, backend=where)
        task = await _create(client, body, tracker, run_id, pace, before_send, sending)
    except asyncio.CancelledError:
        if not sending:  # interrupted before anything was sent: nothing can exist
            tracker.not_sent(run_id)
            raise
        # Interrupted mid-create: the task may exist. `resume` looks for it; never re-sent.
        tracker.update(run_id, status="AMBIGUOUS", error_message="interrupted during create")
        raise
    except AmbiguousCreateError as exc:
        answered_at = datetime.now(UTC)
        tracker.update(run_id, status="AMBIGUOUS", error_message=str(exc))
        if exc.sent_at is not None:  # the attempt that failed (after any 429s)
            sent_at = datetime.fromtimestamp(exc.sent_at, UTC)
        async with create_gate(client).searching():
            found = await tracker.find_ambiguous(
                client, run_id, prep.body["model"], sent_at, answered_at, deadline=deadline
            )
        if found is None:
            raise
        task = found
        since = (datetime.now(UTC) - sent_at).total_seconds()
    except (BatchCancelled, TaskTimeoutError, RateLimitError) as exc:
        tracker.update(  # nothing was created: a 429 made no task
            run_id,
            status="NOT_CREATED",
            error_code=getattr(exc, "code", None) or type(exc).__name__,
            error_message=str(exc),
            cost=0.0,
            finished_at=datetime.now(UTC),
        )
        raise
    except (APIError, TransportError) as exc:
        tracker.update(
            run_id,
            status="ERROR",
            error_code=getattr(exc, "code", None) or type(exc).__name__,
            error_message=getattr(exc, "message", None) or str(exc),
            cost=0.0,
            finished_at=datetime.now(UTC),
        )
        raise
    r = prep.resolved
    # a run someone watches (on_update: a form's status line) gets a look while it renders
    watched = tracker.on_update is not None
    poll = poll_plan(resources, r.spec.name, r.tier, r.duration, since=since, watched=watched)
    if not task.is_terminal:  # known state: the first query can wait (an ended one: ask at once)
        poll.observe(task)
    if on_task is not None:
        on_task(task)
    return await tracker.follow(
        client,
        run_id,
        task.task_id,
        deadline=deadline,
        poll=poll,
        on_task=on_task,
        on_answer=on_answer,
    )


async def _create(
    client: Client,
    body: dict[str, Any],
    tracker: Tracker,
    run_id: str,
    pace: Pace,
    before_send: Callable[[], Awaitable[None]] | None = None,
    sending: list[bool] | None = None,
) -> Task:
    """Send the create (again after each 429, when ``pace`` allows) and log the task id before
    leaving the gate. ``before_send`` (a submission token) is awaited inside the gate just
    before each send, so a search that held the gate does not bunch the delayed sends together;
    ``sending`` gets an item once a create is on its way."""
    gate = create_gate(client)
    refused = 0
    while True:
        try:
            async with gate.creating(body["model"]):
                if before_send is not None:
                    await before_send()
                if sending is not None:
                    sending.append(True)
                # "Sent" is written only now, just before the bytes go out: a run that never got
                # here is PREPARED, which resume takes as never created (no search, no guess).
                tracker.update(run_id, status="SUBMITTING", submitted_at=datetime.now(UTC))
                task = await client.create(body, retry_throttled=False)
                tracker.update(
                    run_id,
                    task_id=task.task_id,
                    request_id=task.request_id,
                    status=task.status.value,
                )
                return task
        except RateLimitError as exc:
            refused += 1
            if sending is not None:
                sending.clear()  # a 429 created nothing
            await pace(exc, refused)  # the task was not created: safe to send again


def poll_plan(
    resources: Resources,
    model: str,
    tier: str | None,
    duration: int | None,
    *,
    since: float = 0.0,
    watched: bool = False,
) -> PollPlan:
    """The poll schedule for a task of ``model``/``tier``/``duration`` on this session's backend:
    from the run log's similar runs, else the catalogue (at the embedded emulator's pace when that
    is the backend; untrusted when a base URL of unknown pace is set). ``watched``: one more look
    while it renders, so a status line shows RUNNING."""
    endpoint = resources.endpoint()
    samples = recent_timings(
        resources.log,
        model=model,
        tier=tier,
        duration=duration,
        backend=resources.backend,
        endpoint_host=urlsplit(endpoint).netloc,
    )
    scale = resources.time_scale
    trusted = scale is not None or resources.settings.base_url is None
    return PollPlan(
        expect(tier, duration, samples, time_scale=scale, trusted=trusted),
        since=since,
        tuning=Tuning(look_when_running=watched),
    )


def plan_for_record(resources: Resources, record: dict[str, Any]) -> PollPlan:
    """The poll schedule for a logged run being resumed (created ``since`` seconds ago)."""
    params = record.get("params") or {}
    created = parse_time(record.get("submitted_at") or record.get("created_at"))
    since = 0.0
    if created is not None:
        since = max(0.0, (datetime.now(UTC) - created).total_seconds())
    duration = params.get("duration") if isinstance(params, dict) else None
    return poll_plan(
        resources,
        record.get("model") or "",
        record.get("tier"),
        int(duration) if isinstance(duration, int | float) else None,
        since=since,
    )
