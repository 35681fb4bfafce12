"""Keeping the run log in step with a task: write-ahead, every status change, the video, the cost.

The :class:`Tracker` is the part of the session that writes. Each step is one short committed
update, so a crash at any point leaves a row that says what is known; ``resume`` continues from
whatever that row says. The cost is written in the same update as the task's final status (it
needs only the answer's ``usage``), so a crash while the video downloads cannot lose it.

What an answer means for the row is a set of pure translations at the end of this module
(:func:`task_fields`, :func:`wire_model`, :func:`expired`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wanbook._api.client import Client
from wanbook._api.poll_schedule import PollPlan
from wanbook._api.tasks import Task, TaskStatus
from wanbook._api.watch import watch_task
from wanbook._engine.prepare import Prepared
from wanbook._errors import (
    ConfigError,
    DownloadError,
    RateLimitError,
    RunLogError,
    StorageError,
    TaskTimeoutError,
)
from wanbook._media.images import describe_for_log
from wanbook._media.store import StorageWarning, VideoStore
from wanbook._media.videos import DOWNLOAD_TIMEOUT, download_video, is_private_host, size_cap
from wanbook._runlog.run import Run
from wanbook._runlog.schema import parse_time
from wanbook._runlog.store import RunLog
from wanbook._spec.catalogue import catalogue
from wanbook._spec.prices import ImplausibleUsageWarning, PriceTable, cost, plausible_seconds
from wanbook._warn import warn_user

__all__ = [
    "TASK_TTL",
    "OnUpdate",
    "Tracker",
    "expired",
    "put_in_store",
    "task_fields",
    "wire_model",
]

#: Called with the run as logged after each change.
OnUpdate = Callable[[Run], None]

TASK_TTL = timedelta(hours=24)  # docs/dashscope-api.md §1: task ids and video URLs live 24 hours
logger = logging.getLogger("wanbook.tracking")

FIND_WINDOW = timedelta(minutes=2)  # how far around our send time an ambiguous task is looked for
# A create younger than this that the list does not show yet is left for a later resume: the list
# endpoint may lag a moment behind a create that was still in flight.
LIST_GRACE = timedelta(seconds=15)
# An answer that only repeats the status is noted (last_polled_at) at most this often, so a long
# wait costs a handful of writes, not one per poll; a changed status is always written at once.
POLL_NOTE_EVERY = 10.0
#: What an answer's row must keep even when the rest of it cannot be stored (record_answer).
_VITAL = frozenset(
    {
        "status",
        "cost",
        "currency",
        "price_per_second",
        "billed_seconds",
        "finished_at",
        "last_polled_at",
    }
)


class Tracker:
    """Writes one session's runs to the run log and follows their tasks to the end.

    ``clock`` (monotonic seconds) and ``sleep`` are seams for tests; they pace the polling."""

    def __init__(
        self,
        *,
        log: RunLog,
        prices: PriceTable,
        region: str,
        backend: str,
        endpoint: str,
        version: str,
        videos: Path,
        on_update: OnUpdate | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        media: VideoStore | None = None,
    ) -> None:
        self.log = log
        self.videos = videos
        self.media = media  # the team's store (WANBOOK_MEDIA): each verified video goes there too
        self.prices = prices
        self.region = region
        self.backend = backend
        self.endpoint = endpoint
        self.version = version
        self.on_update = on_update
        self.list_grace = LIST_GRACE
        self.clock = clock
        self.sleep = sleep
        self._implausible: set[str] = set()  # runs whose billed seconds were not believed
        self._callback_failed: set[str] = set()  # runs whose on_update raised (logged once each)
        self._search = asyncio.Lock()  # one ambiguous search at a time: no two runs take one task

    # -------------------------------------------------------------- writing
    def start(self, prep: Prepared, experiment: str | None, tags: list[str]) -> str:
        """The write-ahead row: everything known before the create request is sent."""
        r = prep.resolved
        image = describe_for_log(prep.image) if prep.image is not None else {}
        run_id = self.log.insert(
            status="PREPARED",
            experiment=experiment,
            tags=tags,
            backend=self.backend,
            endpoint_host=urlsplit(self.endpoint).netloc,
            wanbook_version=self.version,
            model=r.spec.name,
            kind=r.spec.kind,
            prompt=prep.request.prompt,
            negative_prompt=prep.request.negative_prompt,
            seed=r.seed,
            params=prep.params(),
            request_body=prep.logged_body,
            image_source=image.get("source"),
            image_sha256=image.get("sha256"),
            image_bytes=image.get("bytes"),
            image_width=image.get("width"),
            image_height=image.get("height"),
            tier=r.tier,
            has_audio=r.sound,
            estimate=prep.estimate.amount,
            estimate_currency=prep.estimate.currency,
            price_per_second=prep.estimate.per_second,
            price_table_date=self.prices.date,
            fingerprint=prep.fingerprint,
            region=self.region,
        )
        self._notify(run_id)
        return run_id

    def update(self, run_id: str, **fields: Any) -> Run:
        if fields.get("cost") == 0.0 and not fields.get("currency"):
            # nothing billed is still an amount of money: "0.0000 USD", never a bare 0.0000
            record = self.log.get(run_id) or {}
            currency = record.get("currency") or record.get("estimate_currency")
            if currency:
                fields["currency"] = currency
        self.log.update(run_id, **fields)
        return self._notify(run_id)

    def record_answer(self, run_id: str, **fields: Any) -> Run:
        """Write what an answer says. Should the run log refuse some of it (a value it cannot
        store), write what must never be lost — status, cost, times — in a minimal update, with
        a note: a paid task is never left PENDING because its answer was odd."""
        try:
            return self.update(run_id, **fields)
        except (RunLogError, ValueError) as exc:  # ValueError: UnicodeError and the like
            keep = {k: v for k, v in fields.items() if k in _VITAL}
            why = str(exc) if isinstance(exc, RunLogError) else type(exc).__name__
            keep["error_message"] = f"part of the service's answer could not be stored ({why})"
            return self.update(run_id, **keep)

    def not_sent(self, run_id: str) -> Run:
        """Interrupted before its create was sent: nothing can exist, nothing is billed."""
        return self.update(
            run_id,
            status="NOT_CREATED",
            error_message="interrupted before it was sent",
            cost=0.0,
            finished_at=datetime.now(UTC),
        )

    def _notify(self, run_id: str) -> Run:
        """Tell ``on_update`` about the run as logged now. A callback that raises is logged
        (once per run) and otherwise ignored: the task is paid for and must still be followed."""
        run = Run(self.log.get(run_id) or {"run_id": run_id})
        if self.on_update is not None:
            try:
                self.on_update(run)
            except Exception:
                if run_id not in self._callback_failed:
                    self._callback_failed.add(run_id)
                    logger.exception(
                        "the on_update callback raised for run %s; the run goes on without it",
                        run_id,
                    )
        return run

    def _price(self, record: dict[str, Any], task: Task, status: str) -> dict[str, Any]:
        """The cost fields of a run whose task ended with ``status``, from its ``usage``."""
        sound = record.get("has_audio")
        if task.usage is not None and task.usage.audio is not None:
            sound = task.usage.audio
        billed = record.get("billed_seconds")
        if task.usage is not None and task.usage.billed_seconds is not None:
            billed = task.usage.billed_seconds
        tier = (task.usage.tier if task.usage is not None else None) or record.get("tier")
        model = record.get("model") or ""
        if status == "SUCCEEDED" and billed is not None:
            billed = self._believed(record, model, float(billed))
        price = cost(self.prices, model, self.region, tier, billed, bool(sound), status)
        return {
            "cost": price.amount,
            "currency": price.currency,
            "price_per_second": price.per_second,
        }

    def _believed(self, record: dict[str, Any], model: str, billed: float) -> float | None:
        """``billed`` if it can be the bill of the run's video, else None (cost unknown), said
        once per run: 0 or fewer seconds, or far more than asked (``plausible_seconds``)."""
        requested = _requested_seconds(record)
        if plausible_seconds(billed, requested):
            return billed
        run_id = str(record.get("run_id"))
        if run_id not in self._implausible:
            self._implausible.add(run_id)
            warn_user(
                f"run {run_id}: the service billed {billed:g} s for a {model} video of "
                f"{f'{requested:g}' if requested else 'unknown'} s; that cannot be right, so its "
                "cost is NaN (unknown), not a figure from it: check the bill in the console",
                ImplausibleUsageWarning,
            )
        return None

    def _answer_fields(self, run_id: str, task: Task) -> dict[str, Any]:
        """What to log for an answer: its fields; when it is the end, its cost too (same write).

        A task the service answers UNKNOWN for existed (we hold its id): its outcome was lost,
        not free — EXPIRED, cost unknown."""
        if task.status is TaskStatus.UNKNOWN:
            return expired(task.task_id, "the service no longer knows this task (ids live 24 h)")
        fields = task_fields(task)
        if task.is_terminal:
            fields |= self._price(self.log.get(run_id) or {}, task, task.status.value)
        return fields

    # -------------------------------------------------------------- following
    async def follow(
        self,
        client: Client,
        run_id: str,
        task_id: str,
        *,
        deadline: float,
        poll: PollPlan | None = None,
        on_task: Callable[[Task], None] | None = None,
        on_answer: Callable[[Task], None] | None = None,
    ) -> Run:
        """Poll ``task_id`` to its end, logging each status change; then download and price it.

        ``poll`` is the schedule of waits (default: the client's); when it has already seen the
        task (the create's answer), the first query waits for it instead of going out at once.
        ``on_task`` is called with each new state of the task, after it is logged; ``on_answer``
        with every answer (the limiter's note that the task is still followed). Queries that
        fail for a while (network, 5xx, throttling) are waited out until ``deadline`` (seconds
        from now; see ``_api.watch``): the task is paid for, so it is not given up early.
        """
        end = self.clock() + deadline
        last: Task | None = None
        noted = -POLL_NOTE_EVERY

        def answered(task: Task) -> None:  # every answer: note it now and then (cheaply)
            nonlocal noted
            if on_answer is not None:
                on_answer(task)
            now = self.clock()
            if last is not None and task.status is last.status and now - noted >= POLL_NOTE_EVERY:
                self.log.update(run_id, last_polled_at=datetime.now(UTC))
                noted = now

        try:
            if poll is not None and poll.observed:
                await self.sleep(min(next(poll), max(0.0, end - self.clock())))
            async for task in watch_task(
                client,
                task_id,
                deadline=end - self.clock(),
                delays=poll,
                clock=self.clock,
                sleep=self.sleep,
                on_answer=answered,
            ):
                last, noted = task, self.clock()
                if poll is not None:
                    poll.observe(task)
                fields = self._answer_fields(run_id, task)
                self.record_answer(run_id, **fields, last_polled_at=datetime.now(UTC))
                if on_task is not None:
                    on_task(task)
        except TaskTimeoutError as exc:
            self.update(
                run_id, error_message=f"stopped waiting: {exc}; `wanbook resume` finishes it"
            )
            raise
        assert last is not None
        return await self.finish(client, run_id, last, deadline=end - self.clock())

    async def finish(
        self, client: Client, run_id: str, task: Task, *, deadline: float | None = None
    ) -> Run:
        """Download a SUCCEEDED task's video and price it; price anything else at zero (an
        UNKNOWN task: EXPIRED, cost unknown).

        The download is capped at what a video of the run's tier and duration can weigh, takes
        at most ``deadline`` seconds (and never more than ``DOWNLOAD_TIMEOUT``), and goes to no
        loopback, private or link-local address unless the API base URL is itself one."""
        if task.status is TaskStatus.UNKNOWN:
            return self.record_answer(run_id, **self._answer_fields(run_id, task))
        record = self.log.get(run_id) or {}
        if record.get("request_id") is None and not matches_request(record, task):
            # A task id from our own create's answer comes with its request_id; one without was
            # found by a search before its prompt showed: checked now that the answer says it.
            return self._disown(run_id, task)
        if task.status is TaskStatus.SUCCEEDED and task.video_url and not record.get("video_path"):
            dest = self.videos / f"{run_id}.mp4"  # named by our run id, never by the server
            try:
                video = await download_video(
                    client.http,
                    task.video_url,
                    dest,
                    max_bytes=size_cap(record.get("tier"), _requested_seconds(record)),
                    timeout=min(DOWNLOAD_TIMEOUT, max(1.0, deadline or DOWNLOAD_TIMEOUT)),
                    allow_private=is_private_host(urlsplit(self.endpoint).hostname),
                )
            except DownloadError as exc:
                self.update(run_id, error_message=f"video not downloaded yet: {exc}")
                raise
            info = video.info
            self.update(
                run_id,
                video_path=str(video.path.absolute()),
                video_sha256=video.sha256,
                video_bytes=video.bytes,
                width=info.width,
                height=info.height,
                fps=info.fps,
                duration=info.duration,
                has_audio=info.has_audio,
                error_code=None,  # whatever went wrong on the way (a timeout, a failed
                error_message=None,  # download) is over: the run has its video
            )
            record = self.log.get(run_id) or {}
        run = self.record_answer(
            run_id, **self._price(record, task, task.status.value), finished_at=datetime.now(UTC)
        )
        logged = run.record
        to_store = self.media is not None and not logged.get("video_uri")
        if to_store and logged.get("video_path") and await self.store_video(run_id):
            run = Run(self.log.get(run_id) or logged)  # a copy now in the team's store too
        return run

    async def store_video(self, run_id: str) -> bool:
        """Put the run's verified local video in the team's store (``media``) and log its URI;
        whether the run's video is there now.

        A store that fails (down, credentials refused) costs nothing paid: the run stays as it
        is (SUCCEEDED, its local file, ``video_uri`` NULL), one warning says so, and ``resume``
        (any later session with the store) stores it. A video that is not on this machine (the
        log is shared; another machine downloaded it) is left to the machine that has it."""
        if self.media is None:
            return False
        uri = await put_in_store(self.log, self.media, run_id)
        if uri is None:
            return False
        if (self.log.get(run_id) or {}).get("video_uri") != uri:
            self.update(run_id, video_uri=uri)
        return True

    def _disown(self, run_id: str, task: Task) -> Run:
        """The task followed for this run (found by a search while its prompt was not shown
        yet) turns out to be another request's: let it go; the run is ambiguous again."""
        return self.update(
            run_id,
            status="AMBIGUOUS",
            task_id=None,
            video_url=None,
            video_url_expires_at=None,
            usage=None,
            billed_seconds=None,
            actual_prompt=None,
            error_message=(
                f"task {task.task_id}, found for this run by its time, was made by another "
                "request (its prompt differs): not taken; `wanbook resume` looks again"
            ),
        )

    async def find_ambiguous(
        self,
        client: Client,
        run_id: str,
        wire_model: str,
        sent_at: datetime,
        answered_at: datetime | None = None,
        *,
        deadline: float = 0.0,
    ) -> Task | None:
        """Look for the task an ambiguous create may have made, through the list endpoint.

        ``wire_model`` is the model name as sent (the list reports that one). ``answered_at``
        (when the create failed, if known) narrows where the task is looked for to between
        sending and failing, so two ambiguous creates of a batch do not swap tasks. One search
        at a time per tracker: a task found is logged before the next search excludes it.
        A list still throttled (429) once the client's retries are spent is asked again after
        ``Retry-After`` or a backoff, until ``deadline`` seconds from now."""
        end = self.clock() + deadline
        async with self._search:
            # Never a task another run of the log owns (siblings of a batch, other kernels)...
            _, rows = self.log.query("SELECT task_id FROM runs WHERE task_id IS NOT NULL")
            record = self.log.get(run_id) or {}
            for attempt in itertools.count():
                try:
                    found = await client.find_task(
                        wire_model,
                        sent_after=sent_at,
                        sent_before=answered_at or sent_at + FIND_WINDOW,
                        slack=FIND_WINDOW,
                        exclude={task_id for (task_id,) in rows},
                        # ... and only one whose answer fits this run's request (another client
                        # of the account may have made one of the same model at the same moment).
                        accept=lambda task: matches_request(record, task),
                    )
                    break
                except RateLimitError as exc:
                    delay = client.retry_policy.delay(attempt, exc.retry_after)
                    if self.clock() + delay >= end:
                        raise
                    await self.sleep(delay)
            if found is None:
                return None
            self.update(
                run_id, task_id=found.task_id, status=found.status.value, error_message=None
            )
            return found

    async def resume(
        self,
        client: Client,
        record: dict[str, Any],
        *,
        deadline: float,
        poll: PollPlan | None = None,
    ) -> Run:
        """Carry one unfinished run forward as far as it can go. Running it twice changes nothing.

        Past 24 h a task can no longer be asked about (docs/dashscope-api.md §1), so the age is checked
        before anything else: such a run becomes EXPIRED with its cost unknown unless it was
        already priced — never "free", since its task may have run and been billed."""
        run_id = record["run_id"]
        task_id = record.get("task_id")
        created = record.get("submitted_at") or record.get("created_at")
        created_at = created if isinstance(created, datetime) else _logged_or_now(created)
        now = datetime.now(UTC)
        status = record.get("status")
        if not task_id and status not in ("SUBMITTING", "AMBIGUOUS"):
            # PREPARED: died before sending; nothing was created, whatever its age
            return self.update(run_id, status="NOT_CREATED", cost=0.0, finished_at=now)
        if now - created_at > TASK_TTL:
            why = "older than 24 h: the task id and its video URL have expired"
            if status == "SUCCEEDED":  # billed (and priced when it ended): only the video is lost
                message = f"{why} before the video was downloaded; it was billed"
                return self.update(run_id, status="EXPIRED", error_message=message)
            if task_id:
                return self.update(run_id, **expired(task_id, why), finished_at=now)
            why = "the create's answer was lost over 24 h ago and the task list no longer goes back"
            return self.update(run_id, **expired(None, why), finished_at=now)
        if not task_id:
            model = wire_model(record, self.region)
            task = await self.find_ambiguous(client, run_id, model, created_at, deadline=deadline)
            if task is None:
                if now - created_at < self.list_grace:
                    return Run(record)  # too soon to tell: the list may not show it yet
                return self.update(
                    run_id,
                    status="NOT_CREATED",
                    cost=0.0,
                    error_message="no task was found for this create request; nothing was billed",
                    finished_at=now,
                )
            task_id = task.task_id
        if status == "SUCCEEDED":
            task = await client.query(task_id)
            if task.status is not TaskStatus.SUCCEEDED:
                why = f"the video is lost: the service now answers {task.status.value} for it"
                self.update(run_id, error_message=why)
                raise DownloadError(f"run {run_id}: {why} (the run was billed)")
            return await self.finish(client, run_id, task)
        return await self.follow(client, run_id, task_id, deadline=deadline, poll=poll)


async def put_in_store(log: RunLog, media: VideoStore, run_id: str) -> str | None:
    """The URI of the run's video in the team's store: logged already, or put there now from
    this machine's verified copy (the caller logs it); None when it is not there and cannot be
    put (no local copy here, or the store failed: said once, in a :class:`StorageWarning`)."""
    record = log.get(run_id) or {}
    if record.get("video_uri"):
        return str(record["video_uri"])
    path, sha, size = (record.get(k) for k in ("video_path", "video_sha256", "video_bytes"))
    if not (path and sha and size is not None) or not Path(path).is_file():
        return None
    try:
        uri = await asyncio.to_thread(media.put_video, path, sha, int(size))
    except (StorageError, ConfigError) as exc:  # never lost: the local copy stays
        warn_user(
            f"run {run_id}: its video is kept on this machine ({path}) but could not be put in "
            f"the team's store {media.url}: {exc}. Nothing is lost: `wanbook resume` "
            "(wb.resume()) stores it once the store answers",
            StorageWarning,
        )
        return None
    return uri


# ------------------------------------------------------------------ answers -> row fields


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a and b else None


def task_fields(task: Task) -> dict[str, Any]:
    """Run-log fields from a parsed task answer (only what the answer actually says)."""
    fields: dict[str, Any] = {"status": task.status.value}
    for name in ("submit_time", "scheduled_time", "end_time", "actual_prompt"):
        value = getattr(task, name)
        if value:
            fields[name] = value
    if task.submit_time and task.scheduled_time:
        fields["queue_seconds"] = _seconds(task.submit_time, task.scheduled_time)
    if task.scheduled_time and task.end_time:
        fields["run_seconds"] = _seconds(task.scheduled_time, task.end_time)
    if task.video_url:
        fields["video_url"] = task.video_url
        fields["video_url_expires_at"] = (task.end_time or datetime.now(UTC)) + TASK_TTL
    if task.code or task.message:
        fields["error_code"] = task.code
        fields["error_message"] = task.message
    if task.usage is not None:
        fields["usage"] = task.usage.raw
        if task.usage.billed_seconds is not None:
            fields["billed_seconds"] = task.usage.billed_seconds
        if task.usage.tier:
            fields["tier"] = task.usage.tier
    return fields


def matches_request(record: dict[str, Any], task: Task) -> bool:
    """Whether what the service says of ``task`` fits the run's request: its ``orig_prompt`` is
    the run's prompt. (Not its usage: the service may bill other seconds or another tier than
    asked, so those prove nothing.) A task still queued shows no prompt yet: it fits until its
    answer says otherwise, and is checked again when it ends (see ``Tracker.finish``)."""
    return task.orig_prompt is None or _same_prompt(record.get("prompt"), task.orig_prompt)


def _same_prompt(ours: Any, theirs: str) -> bool:
    """The run's prompt and a task's ``orig_prompt``: equal, or the task's a cut of ours."""
    a, b = str(ours or "").strip(), theirs.strip()
    return a == b or (len(b) >= 100 and a.startswith(b))


def wire_model(record: dict[str, Any], region: str) -> str:
    """The model name as it was sent (and as the list endpoint reports it): the logged body's,
    else the catalogue's name for the run's region (wan2.1 is ``wanx2.1-…`` in ``cn``)."""
    body = record.get("request_body")
    if isinstance(body, dict) and isinstance(body.get("model"), str) and body["model"]:
        return str(body["model"])
    name = record.get("model") or ""
    spec = catalogue().get(name)
    return spec.wire_name(record.get("region") or region) if spec is not None else name


def expired(task_id: str | None, why: str) -> dict[str, Any]:
    """A run whose task may have been billed without us seeing the outcome: cost unknown."""
    about = f"task {task_id}" if task_id else "the task (if the create made one)"
    return {
        "status": "EXPIRED",
        "cost": None,
        "error_message": f"{why}: the outcome of {about} is lost; it may have been billed",
    }


def _requested_seconds(record: dict[str, Any]) -> float | None:
    """The duration the run asked for (its logged params), if known."""
    params = record.get("params")
    requested = params.get("duration") if isinstance(params, dict) else None
    return float(requested) if isinstance(requested, int | float) else None


def _logged_or_now(value: Any) -> datetime:
    """A logged time, or now when the row has none (or none that reads as a time)."""
    return parse_time(value) or datetime.now(UTC)
