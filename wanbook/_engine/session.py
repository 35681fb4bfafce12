"""The session: the one orchestration path of a generation.

validate → estimate → budget → log (write-ahead) → create → poll → download → log

A :class:`Session` owns the settings, the run log, the price table, the HTTP clients (one per
event loop) and, when no key is configured, the embedded emulator: all opened on first use and
closed by ``close()``, in its base class (``_engine.resources``). Every public method exists twice:
``agenerate`` for ``await`` and ``generate`` for plain code, which runs the coroutine on wanbook's
own loop thread (safe inside Jupyter's running loop; see ``wanbook._portal``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from wanbook._api.account_state import StateUnavailable
from wanbook._api.pacing import Slot
from wanbook._engine.batch import Batch, Outcome
from wanbook._engine.budget import Budget, Reservation, budget_amount
from wanbook._engine.prepare import Prepared, prepare, request_of
from wanbook._engine.resources import Resources
from wanbook._engine.settings import Settings
from wanbook._engine.shared_budget import Draw, NamedBudget, settle_run
from wanbook._engine.submit import plan_for_record, submit_one
from wanbook._engine.tracker import OnUpdate, Tracker, put_in_store, task_fields
from wanbook._errors import (
    ConfigError,
    DownloadError,
    MediaError,
    Problem,
    ResumeError,
    StorageError,
    TaskTimeoutError,
    ValidationError,
    WanbookError,
)
from wanbook._media.videos import remove_stale_parts
from wanbook._portal import run_sync
from wanbook._runlog.dataframe import runs_frame
from wanbook._runlog.followers import followed_note, take_over
from wanbook._runlog.judgements import (
    add_preference,
    add_rating,
    preferences_frame,
    ratings_frame,
)
from wanbook._runlog.run import Run
from wanbook._secret import Secret
from wanbook._spec.catalogue import catalogue
from wanbook._spec.prices import Estimate, PriceTable
from wanbook._spec.request import Request, with_seed
from wanbook._warn import notice

__all__ = ["Session"]

RESUME_CONCURRENCY = 8  # runs resumed at once: each mostly sleeps between polls


class Session(Resources):
    """Settings, run log, prices and connections for a series of generations.

    Explicit arguments beat environment variables (``DASHSCOPE_API_KEY``, ``WANBOOK_REGION``,
    ``WANBOOK_WORKSPACE_ID``, ``WANBOOK_BASE_URL``, ``WANBOOK_HOME``, ``WANBOOK_DB``,
    ``WANBOOK_MEDIA``), which beat defaults. ``db`` (``WANBOOK_DB``): the run log's database,
    ``postgresql://user@host/dbname`` for a team (default: ``<home>/runs.sqlite``). ``media``
    (``WANBOOK_MEDIA``): the team's video store, ``s3://bucket/prefix`` (with the standard
    ``AWS_*`` variables) or ``file:///folder``; ``""`` for none.
    Without a key or a base URL, the embedded emulator is started on first use. What it holds and
    how it is opened and closed (``log``, ``prices``, ``endpoint()``, ``client()``, ``close()``)
    is :class:`~wanbook._engine.resources.Resources`.
    """

    def __init__(
        self,
        *,
        api_key: str | Secret | None = None,
        region: str | None = None,
        workspace_id: str | None = None,
        base_url: str | None = None,
        home: str | Path | None = None,
        db: str | None = None,
        experiment: str | None = None,
        tags: Iterable[str] = (),
        budget: float | str | None = None,
        budget_currency: str | None = None,
        prices: str | Path | PriceTable | None = None,
        deadline: float = 3600.0,
        transport: Any = None,
        emulator_options: dict[str, Any] | None = None,
        quiet: bool = False,
        emulator: bool = False,
        media: str | None = None,
    ) -> None:
        settings = Settings.from_env(
            api_key=api_key,
            region=region,
            workspace_id=workspace_id,
            base_url=base_url,
            home=home,
            db=db,
            emulator=emulator,
            media=media,
        )
        super().__init__(
            settings,
            prices=prices,
            transport=transport,
            emulator_options=emulator_options,
            quiet=quiet,
        )
        self.experiment = experiment
        self.tags = as_tags(tags)
        # a number: this session's own money; a name: a shared budget
        self.budget = budget_amount(budget)
        self.budget_currency = budget_currency
        self._named: NamedBudget | None = None
        self.deadline = deadline

    # ------------------------------------------------------------------ generation
    def request(self, prompt: str | None = None, *, model: str, **params: Any) -> Request:
        """A :class:`Request` from keyword arguments. ``model`` is required: it decides the price."""
        return Request(model=model, prompt=prompt, **params)

    def prepare(self, request: Request, *, warn: bool = True) -> Prepared:
        """Validate and price ``request`` without sending anything."""
        return prepare(request, self.region, self.prices, backend=self.backend, warn=warn)

    def estimate(self, request: Request | None = None, **kwargs: Any) -> Estimate:
        """What ``request`` would cost (NaN if the price is unknown). Sends nothing."""
        req = request if request is not None else self.request(**kwargs)
        return self.prepare(req, warn=False).estimate

    def generate(self, prompt: str | None = None, **kwargs: Any) -> Run:
        """Generate one video and wait for it. See :meth:`agenerate`."""
        return run_sync(self.agenerate(prompt, **kwargs))

    async def agenerate(
        self,
        prompt: str | None = None,
        *,
        request: Request | None = None,
        experiment: str | None = None,
        tags: Iterable[str] = (),
        reuse: bool = False,
        on_update: OnUpdate | None = None,
        raise_on_failure: bool = True,
        warn: bool = True,
        **params: Any,
    ) -> Run:
        """Validate, price, log, create, poll, download and log one generation.

        Invalid input raises before anything is sent. With ``reuse=True`` an identical earlier
        run (fixed seed, prompt_extend off) whose video is on disk is returned instead of paying
        again. A FAILED task raises :class:`TaskFailedError` unless ``raise_on_failure=False``;
        either way it is in the run log. ``warn=False`` keeps request warnings (a prompt the
        server will cut …) silent, for callers that show them themselves (the form).
        """
        req = request if request is not None else self.request(prompt, **params)
        prep = self.prepare(with_seed(req), warn=warn)  # a drawn seed is logged: repeatable
        if reuse and prep.repeatable:
            found = await self._reusable(prep.fingerprint)
            if found is not None:
                return found
        draw, reservation = self._check_budget(prep)  # checked and held as one step
        try:
            tracker = self.tracker(on_update)
            run_id = tracker.start(
                prep, experiment or self.experiment, [*self.tags, *as_tags(tags)]
            )
            self.ledger.own(run_id)  # counted as a run of the session: the share goes back
        except BaseException:
            if draw is not None:
                draw.release_unsent()
            raise
        finally:
            reservation.release_all()
        try:
            async with self.submission(prep, tracker, run_id, deadline=self.deadline) as hooks:
                if draw is not None:
                    hooks["before_send"] = _sending(hooks["before_send"], draw, run_id)
                run = await submit_one(self, prep, tracker, run_id, deadline=self.deadline, **hooks)
        finally:
            if draw is not None:  # settled, released, or left reserved while it may run
                draw.settle(0, self.log.get(run_id))
        if raise_on_failure and run.status != "SUCCEEDED":
            raise run.failure()
        return run

    async def _reusable(self, fingerprint: str) -> Run | None:
        """An earlier run of this fingerprint whose video is on this machine, or in the team's
        store and fetched here now (verified); one only here is put in the store on the way."""
        media = self.media

        def fetched(record: dict[str, Any]) -> bool:  # blocking: runs in a worker thread
            try:
                self.video_file(record)
            except WanbookError:
                return False
            return True

        if media is None:  # only videos on this machine: a quick look
            found = self.log.find_reusable(fingerprint)
        else:  # may fetch a video from the store: not on the event loop
            found = await asyncio.to_thread(self.log.find_reusable, fingerprint, in_store=fetched)
        if found is None:
            return None
        if media is not None and not found.get("video_uri"):
            uri = await put_in_store(self.log, media, found["run_id"])
            if uri is not None:
                self.log.update(found["run_id"], video_uri=uri)
        return Run(self.log.get(found["run_id"]) or found, reused=True)

    # ------------------------------------------------------------------ videos
    def video_file(self, run: Run | str | Mapping[str, Any]) -> Path:
        """The run's video as a file on this machine: the one it downloaded, or (when another
        machine did, and the team's store ``WANBOOK_MEDIA`` has it) a copy fetched into
        ``<home>/videos/<run_id>.mp4`` and checked against the logged SHA-256 and size first.
        Raises :class:`DownloadError` when there is neither (or the store's copy differs)."""
        if isinstance(run, Mapping) and run.get("video_uri") and run.get("video_sha256"):
            record = dict(run)  # all it takes to fetch it: no need to read the log
        else:
            record = self._record_of(run)
        run_id = str(record.get("run_id"))
        path = record.get("video_path")
        if path and Path(path).is_file():
            return Path(path)
        dest = self.home / "videos" / f"{run_id}.mp4"  # this machine's copy, checked when fetched
        if record.get("video_uri") and dest.is_file():
            return dest
        uri, sha = record.get("video_uri"), record.get("video_sha256")
        media = self.media
        if not uri or not sha:
            raise DownloadError(
                f"run {run_id}: its video is not on this machine"
                + (f" ({path})" if path else "")
                + " and not in a team store"
            )
        if media is None:
            raise DownloadError(
                f"run {run_id}: its video is in {uri}, but WANBOOK_MEDIA is not set here: set it "
                "(and the AWS_* variables) to fetch it"
            )
        size = record.get("video_bytes")
        return media.fetch(
            str(uri), dest, sha256=str(sha), size=None if size is None else int(size)
        )

    def video_url(self, run: Run | str | Mapping[str, Any], *, expires: float = 3600.0) -> str:
        """A presigned link to the run's video in the team's store, valid ``expires`` seconds:
        for a browser, or a teammate without credentials (whoever holds it can fetch the video
        until it expires, so share it as you would the video). Raises :class:`StorageError`
        when the video is not in a store."""
        record = self._record_of(run)
        uri, media = record.get("video_uri"), self.media
        if not uri or media is None:
            raise StorageError(
                f"run {record.get('run_id')}: its video is not in a team store "
                + ("(WANBOOK_MEDIA is not set)" if media is None else "(not stored yet: resume)")
            )
        return media.sign(str(uri), timedelta(seconds=float(expires)))

    def _record_of(self, run: Run | str | Mapping[str, Any]) -> dict[str, Any]:
        """The run as logged now (so a fetched copy is seen); a record not in this log as is."""
        if isinstance(run, Run):
            run = run.record
        run_id = run if isinstance(run, str) else run.get("run_id")
        found = self.log.get(str(run_id)) if run_id else None
        if found is not None:
            return found
        if isinstance(run, str):
            raise KeyError(f"no run {run!r} in {self.home}")
        return dict(run)

    # ------------------------------------------------------------------ batches
    def batch(
        self,
        requests: Sequence[Request] | None = None,
        *,
        prepared: Sequence[Prepared] | None = None,
        experiment: str | None = None,
        tags: Iterable[str] = (),
        deadline: float | None = None,
        limits: Mapping[str, tuple[int, int]] | None = None,
        on_update: OnUpdate | None = None,
        run_tags: Sequence[Sequence[str]] | None = None,
    ) -> Batch:
        """Start a batch of ``requests`` on the running event loop (see ``wanbook._engine.batch``).

        Every request is validated and priced first: one ValidationError names every failing
        index, and BudgetExceededError refuses the batch's total, before anything is sent.
        ``prepared`` instead of ``requests``: requests this session already checked and priced
        (``Session.prepare``), sent as they are. ``limits`` overrides the account's
        ``{family or group: (per_second, in_flight)}``. ``run_tags``: more tags for each
        request's run (one list per request, in order), beside ``tags`` for all.
        """
        if (requests is None) == (prepared is None):
            raise TypeError("Session.batch() takes either requests or prepared, not both")
        preps = list(prepared) if prepared is not None else self._prepare_all(requests)
        draw, reservation = self._check_budget(*preps)
        try:
            return Batch(
                self,
                self.tracker(on_update),
                preps,
                experiment=experiment if experiment is not None else self.experiment,
                tags=[*self.tags, *as_tags(tags)],
                deadline=deadline,
                run_deadline=self.deadline,
                limits=limits,
                run_tags=run_tags,
                draw=draw,
                reservation=reservation,
            )
        except BaseException:
            reservation.release_all()
            if draw is not None:  # not started: nothing was sent
                draw.release_unsent()
            raise

    def _prepare_all(self, requests: object) -> list[Prepared]:
        """Validate and price every request; one ValidationError naming every failing index (each
        problem's field is prefixed ``[i].``) before anything is sent."""
        if isinstance(requests, Request | str | bytes | Mapping) or not isinstance(
            requests, Iterable
        ):
            raise TypeError(
                f"requests must be a list of wanbook.Request, got {type(requests).__name__}"
            )
        preps: list[Prepared] = []
        problems: list[Problem] = []
        for i, req in enumerate(requests):
            if not isinstance(req, Request):
                problems.append(
                    Problem(
                        f"[{i}]", type(req).__name__, "must be a wanbook.Request (wb.Request(...))"
                    )
                )
                continue
            try:
                preps.append(self.prepare(with_seed(req)))  # every run's seed is logged
            except ValidationError as exc:
                problems += [replace(p, field=f"[{i}].{p.field}") for p in exc.problems]
            except MediaError as exc:
                problems.append(Problem(f"[{i}].{exc.field}", None, str(exc)))
        if problems:
            bad = sorted({int(p.field[1:].split("]")[0]) for p in problems})
            raise ValidationError(problems, model=f"batch requests {', '.join(map(str, bad))}")
        return preps

    async def asubmit_many(self, requests: Sequence[Request], **kwargs: Any) -> list[Outcome]:
        """Run a batch to the end; outcomes in input order. Cancelling this stops the batch."""
        batch = self.batch(requests, **kwargs)
        try:
            return await batch.wait()
        except asyncio.CancelledError:
            batch.abort()
            raise

    def submit_many(self, requests: Sequence[Request], **kwargs: Any) -> list[Outcome]:
        """Run a batch from plain code (see :meth:`batch`); outcomes in input order."""
        return run_sync(self.asubmit_many(requests, **kwargs))

    def named_budget(self) -> NamedBudget | None:
        """The shared budget this session draws on, when ``budget`` is a name."""
        if not isinstance(self.budget, str):
            return None
        if self._named is None:
            self._named = NamedBudget(
                self.state, self.budget, rehearsal=self.settings.uses_emulator
            )
        return self._named

    def _budget(self) -> Budget | None:
        if self.budget is None or isinstance(self.budget, str):
            return None
        currency = self.budget_currency or catalogue().regions[self.region].currency
        return Budget(self.budget, currency)

    def _spent_and_in_flight(self, currency: str) -> tuple[float, float]:
        """What this session's own runs spent and have in flight, plus its reservations."""
        return self.ledger.totals(self.log, currency)

    def _check_budget(self, *preps: Prepared) -> tuple[Draw | None, Reservation]:
        """Refuse (before anything is sent) runs whose estimates, together, would exceed the
        budget; else reserve them in this session's ledger in the same step, under one lock for
        every loop and thread (``Ledger.reserve_within``). On a named budget, also reserve them
        there and return those reservations."""
        named = self.named_budget()
        reservation = self.ledger.reserve_within(
            self._budget() if named is None else None, preps, self.log
        )
        try:
            return (named.reserve(preps) if named is not None and preps else None), reservation
        except BaseException:
            reservation.release_all()
            raise

    def budget_left(self) -> float | None:
        """Budget minus what is spent and in flight (None without a budget); on a named budget,
        what every session together has left of it (None when it cannot be read: no such
        budget, or its state file unusable — sending then refuses and says why)."""
        named = self.named_budget()
        if named is not None:
            try:
                return named.left()
            except (ConfigError, StateUnavailable):
                return None
        budget = self._budget()
        return None if budget is None else budget.left(*self._spent_and_in_flight(budget.currency))

    # ------------------------------------------------------------------ run log
    def runs(self, **filters: Any) -> Any:
        """The run log as a pandas DataFrame (filters: experiment, model, status, since, tag, backend)."""
        return runs_frame(self.log, **filters)

    # ------------------------------------------------------------------ judgements
    def rate(
        self,
        run_id: str,
        score: int,
        *,
        note: str | None = None,
        rater: str | None = None,
        blind: bool = False,
    ) -> dict[str, Any]:
        """Record a 1-5 score (and a short note) for ``run_id`` in the run log; returns the row.

        ``rater`` defaults to the OS user name; a rater's latest score of a run is the one that
        counts. ``blind``: the score was given without seeing model, seed or parameters."""
        return add_rating(self.log, run_id, score, note=note, rater=rater, blind=blind)

    def prefer(
        self,
        run_a: str,
        run_b: str,
        winner: str,
        *,
        note: str | None = None,
        rater: str | None = None,
        blind: bool = False,
    ) -> dict[str, Any]:
        """Record which of two runs is better: ``winner`` is ``run_a``, ``run_b`` or ``"tie"``."""
        return add_preference(self.log, run_a, run_b, winner, note=note, rater=rater, blind=blind)

    def ratings(
        self, *, experiment: str | None = None, rater: str | None = None, latest: bool = True
    ) -> Any:
        """The scores as a DataFrame (``latest=False``: every score ever given, not only the
        latest of each rater and run)."""
        return ratings_frame(self.log, experiment=experiment, rater=rater, latest=latest)

    def preferences(
        self, *, experiment: str | None = None, rater: str | None = None, latest: bool = True
    ) -> Any:
        """The pairwise judgements as a DataFrame."""
        return preferences_frame(self.log, experiment=experiment, rater=rater, latest=latest)

    def records(self, runs: Any) -> list[dict[str, Any]]:
        """The run-log records of ``runs``: a DataFrame (its ``run_id`` column, else its index:
        ``wb.runs()``, a comparison), run ids or ``Run`` objects, in that order."""
        if hasattr(runs, "iterrows"):
            items = list(runs["run_id"]) if "run_id" in runs.columns else list(runs.index)
        elif isinstance(runs, str | Run):
            items = [runs]
        else:
            items = list(runs)
        out = []
        for item in items:
            if isinstance(item, Run):
                out.append(dict(item.record))
            elif isinstance(item, str) and item:
                out.append(dict(self.run(item).record))
        return out

    def run(self, run_id: str) -> Run:
        record = self.log.get(run_id)
        if record is None:
            raise KeyError(f"no run {run_id!r} in {self.home}")
        return Run(record)

    def rerun(self, run_id: str, **changes: Any) -> Run:
        """Run the request of ``run_id`` again (with ``changes``) as a new run (``rerun_of``).

        The log keeps an image by hash, not its bytes: a local image is read again from the path
        it came from; an image given as bytes or a PIL image must be passed again as ``image=``.
        """
        record = self.run(run_id).record
        req = request_of(record, **changes)
        run = self.generate(
            request=req, experiment=record.get("experiment"), raise_on_failure=False
        )
        self.log.update(run.run_id, rerun_of=run_id)
        run = self.run(run.run_id)
        if run.status != "SUCCEEDED":
            raise run.failure()
        return run

    def cancel(self, run_id: str) -> Run:
        """Ask the service to cancel the task of ``run_id`` (only a PENDING task can be). See
        :meth:`acancel`."""
        return run_sync(self.acancel(run_id))

    async def acancel(self, run_id: str) -> Run:
        """Ask the service to cancel the task of ``run_id``; returns the run as logged now.

        Only a task still waiting in the queue (PENDING) can be canceled; the service refuses
        any other with :class:`BadRequestError` (``UnsupportedOperation``). The task's new state
        is logged at once (CANCELED, unbilled) — whoever follows the task sees it too.
        """
        record = self.log.get(run_id)
        if record is None:
            raise KeyError(f"no run {run_id!r} in {self.home}")
        task_id = record.get("task_id")
        if not task_id:
            raise WanbookError(
                f"run {run_id} has no task to cancel (status {record.get('status')}): "
                "a task can be canceled once the service has answered the create request"
            )
        client = self.client()
        await client.cancel(task_id)
        task = await client.query(task_id)
        tracker = self.tracker(None)
        tracker.update(run_id, **task_fields(task))
        if task.is_terminal:
            return await tracker.finish(client, run_id, task)  # priced: a canceled task is free
        return self.run(run_id)

    def resume(self, **kwargs: Any) -> list[Run]:
        """Finish every unfinished run (see :meth:`aresume`)."""
        return run_sync(self.aresume(**kwargs))

    async def aresume(
        self,
        *,
        on_update: OnUpdate | None = None,
        list_grace: float | None = None,
        concurrency: int = RESUME_CONCURRENCY,
        raise_on_failure: bool = True,
    ) -> list[Run]:
        """Finish every unfinished run: poll young tasks to the end, download, expire old ones.

        A create whose answer was lost is looked for through the list endpoint; if the list does
        not show it and the create is younger than ``list_grace`` seconds (default 15), the run
        is left for a later resume rather than declared never created.

        Runs are followed at the same time (at most ``concurrency`` at once). One that cannot be
        carried forward (a download that fails, a deadline passed, the service unreachable) does
        not stop the others: its error is logged on it (``error_code``, ``error_message``) and,
        once every run has been looked at, :class:`ResumeError` lists the failures (its ``runs``
        are all the runs) — or, with ``raise_on_failure=False``, the runs are returned as logged.
        """
        tracker = self.tracker(on_update)
        remove_stale_parts(tracker.videos)  # downloads killed mid-way leave these behind
        if list_grace is not None:
            tracker.list_grace = timedelta(seconds=list_grace)
        # a run of another backend is resumed by a session of that backend; one a live process
        # still sends or follows (a teammate's kernel, another notebook) is left to it
        mine = [r for r in self.log.unfinished() if r.get("backend") == self.backend]
        records, followed = take_over(self.log, mine)
        if followed and not self.quiet:
            notice(f"wanbook: {followed_note(followed)}")
        client = self.client()
        slots = asyncio.Semaphore(max(1, int(concurrency)))
        failures: dict[str, BaseException] = {}

        async def one(record: dict[str, Any]) -> Run:
            async with slots:
                held = self._adopt(record)  # its task runs: the account counts it in flight
                try:
                    poll = plan_for_record(self, record)
                    return await tracker.resume(client, record, deadline=self.deadline, poll=poll)
                except Exception as exc:  # kept on the run and reported once all are done
                    failures[record["run_id"]] = exc
                    return _log_failure(tracker, record, exc)
                finally:
                    if held is not None:
                        held.free()

        runs = list(await asyncio.gather(*(one(record) for record in records)))
        for run in runs:  # a named budget's reservation of a run sent by any session
            settle_run(self.state, run.record)
        await self._store_videos(tracker)
        if failures and raise_on_failure:
            raise ResumeError(runs, failures)
        return runs

    async def _store_videos(self, tracker: Tracker) -> int:
        """Put in the team's store the verified videos of this machine that are not there yet
        (an upload that failed, runs made before the store was set); how many. Stops at the
        first failure (said in a warning): the store is down, the rest would fail alike."""
        stored, media = 0, self.media
        if media is None:
            return 0
        for run_id in self.log.not_stored():  # only videos on this machine
            if not await tracker.store_video(run_id):
                break
            stored += 1
        if stored and not self.quiet:
            notice(f"wanbook: put {stored} video(s) in the team's store {media.url}")
        return stored

    def _adopt(self, record: dict[str, Any]) -> Slot | None:
        """A slot in flight for a resumed run whose task is known to be queued or running, so
        every process on the account counts it while it is followed (none for other runs)."""
        if not record.get("task_id") or record.get("status") not in ("PENDING", "RUNNING"):
            return None
        spec = catalogue().get(str(record.get("model") or ""))
        return None if spec is None else self.limiter().for_spec(spec).adopt()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "emulator" if self.settings.uses_emulator else self.settings.endpoint()
        return f"Session(backend={where!r}, region={self.region!r}, home={str(self.home)!r})"


def as_tags(tags: Iterable[str] | str | None) -> list[str]:
    """``tags=`` as a list: one string is one tag (never its letters); each must be a string."""
    if tags is None:
        return []
    items = [tags] if isinstance(tags, str) else list(tags)
    for tag in items:
        if not isinstance(tag, str):
            raise ValidationError([Problem("tags", tag, "each tag must be a string")])
    return items


def _log_failure(tracker: Tracker, record: dict[str, Any], exc: BaseException) -> Run:
    """Note on the run why resuming it failed (the tracker already wrote a message with advice
    for a timeout or a failed download), and return it as logged now."""
    fields: dict[str, Any] = {"error_code": getattr(exc, "code", None) or type(exc).__name__}
    if not isinstance(exc, TaskTimeoutError | DownloadError):
        fields["error_message"] = f"resume failed: {exc}"
    try:
        return tracker.update(record["run_id"], **fields)
    except WanbookError:  # the log itself failing: the error is still reported
        return Run({**record, **fields, "error_message": str(exc)})


def _sending(
    before_send: Callable[[], Awaitable[None]], draw: Draw, run_id: str
) -> Callable[[], Awaitable[None]]:
    """``before_send`` that, once the submission token is taken, ties the run's reservation on
    the named budget to the run (the create goes out now)."""

    async def hook() -> None:
        await before_send()
        draw.sending(0, run_id)

    return hook
