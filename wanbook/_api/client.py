"""The async HTTP client of the DashScope task API: create, query, list, cancel, find, watch.

One ``httpx.AsyncClient`` per :class:`Client` (connections are reused; use a client on one event
loop only — the sync facade runs everything on its own portal loop). Requests are built and answers
parsed by the pure modules ``_api.protocol`` and ``_api.tasks``; this module only sends, retries and translates
httpx's errors into wanbook's tree, once.

Retries. Queries, lists and cancels are safe to repeat: transport failures, 429, 408 and 5xx are
retried with capped, jittered backoff that honours ``Retry-After``. **A create is not idempotent**
(docs/dashscope-api.md §4): it is re-sent only when no task can have been made —

* 429 (throttled: the request was rejected, so no task was made);
* a connect error or connect/pool timeout (nothing was sent);
* 5xx **with a DashScope error body** that is not a timeout (the service itself answered
  "failed", e.g. ``InternalError``, ``ModelUnavailable``).

Any other failure after the request may have gone out — read/write timeout, connection dropped,
``RemoteProtocolError``, a 5xx without an error body (e.g. a gateway's 502/504 page), a
server-side timeout (408 ``RequestTimeOut``, or a code naming a timeout such as
``InternalError.Timeout``), or a 2xx we cannot read — raises :class:`AmbiguousCreateError` and is
never re-sent; :meth:`Client.find_task` looks for the task through the list endpoint instead.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Mapping,
)
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx

from wanbook._api.protocol import (
    CREATE_PATH,
    PLACEHOLDER_KEY,
    ambiguous_create,
    as_utc,
    build_headers,
    describe_failure,
    error_body,
    error_from_response,
    explain_placeholder_key,
    list_params,
    names_oss,
    normalize_base_url,
    parse_answer,
    parse_upload_policy,
    server_timed_out,
    task_path,
)
from wanbook._api.retry import RetryPolicy, poll_delays, repeat_last
from wanbook._api.tasks import (
    Task,
    TaskPage,
    TaskStatus,
    TaskSummary,
    parse_task,
    parse_task_page,
    ranked_tasks,
)
from wanbook._errors import (
    Problem,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)
from wanbook._secret import Secret
from wanbook._spec.catalogue import catalogue
from wanbook._version import __version__

__all__ = ["DEFAULT_TIMEOUT", "Client"]

logger = logging.getLogger("wanbook.client")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[Any]]
Junk = Callable[[str], Exception]  # the error for an unreadable 2xx answer, from the reason

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: No attempt of an API request takes longer than this as a whole (httpx's timeouts are per read:
#: a server sending a byte every few seconds would never trip them).
REQUEST_DEADLINE = 120.0
#: httpx failures raised before any byte of the request went out: a create may be re-sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
#: Failures worth another try of an idempotent request (see :meth:`Client.retrying`).
_TRANSIENT = (httpx.RequestError, TransportError, RateLimitError, ServerError)


class Client:
    """Talks to one DashScope-compatible base URL (ending in ``/api/v1``) with one API key.

    ``transport`` (an ``httpx.MockTransport`` in tests), ``sleep``, ``clock`` and ``rng`` are
    seams for tests; ``retry`` overrides ``max_retries`` with a whole :class:`RetryPolicy`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret | str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 4,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        user_agent: str | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self._key = api_key if isinstance(api_key, Secret) else Secret(api_key)
        self._policy = retry or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self.user_agent = user_agent or f"wanbook/{__version__}"
        self.request_deadline = REQUEST_DEADLINE
        # No auth on the shared client: the media layer reuses it to fetch videos from OSS, and the
        # key must never travel to a third party. Each API request adds its own headers.
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, headers={"User-Agent": self.user_agent}
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key={self._key!r})"

    # ------------------------------------------------------------------ lifecycle and seams

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled httpx client (no credentials on it), for the media layer's downloads."""
        return self._http

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._policy

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def retrying(self, op: Callable[[], Awaitable[T]], *, what: str = "request") -> T:
        """Run ``op()``, retrying transient failures (httpx transport errors, TransportError,
        RateLimitError, ServerError) with this client's backoff. For idempotent work only, e.g.
        a video download; never wrap a create in it."""
        for attempt in itertools.count():
            try:
                return await op()
            except _TRANSIENT as exc:
                if not await self._backoff(attempt, exc, what):
                    raise

        raise AssertionError("unreachable")  # pragma: no cover

    async def _backoff(self, attempt: int, error: BaseException, what: str) -> bool:
        """Sleep before retry ``attempt`` and return True, or return False when retries are spent."""
        if attempt >= self._policy.max_retries:
            return False
        delay = self._policy.delay(attempt, getattr(error, "retry_after", None), self._rng)
        logger.info(
            "%s: %s; retry %d of %d in %.1f s",
            what,
            self._describe(error),
            attempt + 1,
            self._policy.max_retries,
            delay,
        )
        await self._sleep(delay)
        return True

    # ------------------------------------------------------------------ the one sending loop

    async def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        create: bool = False,
        retry_throttled: bool = True,
    ) -> tuple[httpx.Response, float]:
        """Send one API request with retries; return the 2xx response and when (epoch seconds) its
        attempt was sent. Raises the mapped error once retrying is over or not allowed
        (``retry_throttled=False``: a 429 raises RateLimitError at once)."""
        url = self.base_url + path
        headers = build_headers(
            self._key, user_agent=self.user_agent, create=create, oss=create and names_oss(json)
        )
        for attempt in itertools.count():
            sent_at = time.time()
            try:
                try:
                    async with asyncio.timeout(self.request_deadline):
                        response = await self._http.request(
                            method, url, json=json, params=params, headers=headers
                        )
                except TimeoutError:
                    raise httpx.ReadTimeout(
                        f"no whole answer within {self.request_deadline:g} s"
                    ) from None
            except httpx.RequestError as exc:
                if create and not isinstance(exc, _NOT_SENT):
                    raise ambiguous_create(json, self._describe(exc), sent_at) from exc
                if await self._backoff(attempt, exc, what):
                    continue
                nothing = "; nothing was sent, no task was created" if create else ""
                timed_out = isinstance(exc, httpx.TimeoutException)
                raise (RequestTimeoutError if timed_out else TransportError)(
                    f"{what} failed after {attempt + 1} attempt(s): {self._describe(exc)}{nothing}"
                ) from exc
            logger.debug("%s %s -> HTTP %d", method, url, response.status_code)
            if response.is_success:
                return response, sent_at
            error = error_from_response(
                response.status_code, response.content, response.headers, secrets=self._secrets()
            )
            if self._key.reveal() == PLACEHOLDER_KEY:
                error = explain_placeholder_key(error, self.base_url)
            retriable = isinstance(error, ServerError) or (
                retry_throttled and isinstance(error, RateLimitError)
            )
            if create and isinstance(error, ServerError) and error_body(response.content) is None:
                # A bare 5xx (a gateway's page, no DashScope answer): the service may have made it.
                raise ambiguous_create(
                    json, f"HTTP {response.status_code} without an error body", sent_at
                )
            if create and server_timed_out(error):
                # The service timed out while handling the create: it may have made the task
                # (docs/dashscope-api.md §4, see server_timed_out). Never re-sent; looked for instead.
                raise ambiguous_create(json, self._describe(error), sent_at) from error
            if not (retriable and await self._backoff(attempt, error, what)):
                raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _secrets(self) -> list[str]:
        """What to blank out of anything that quotes a server or a failure: the key."""
        return [self._key.reveal()]

    def _describe(self, error: BaseException) -> str:
        return describe_failure(error, self._secrets())

    def _parse(self, response: httpx.Response, parser: Callable[[bytes], T], junk: Junk) -> T:
        """Parse a 2xx body (see :func:`wanbook._api.protocol.parse_answer`)."""
        status, content = response.status_code, response.content
        return parse_answer(
            status, content, response.headers, parser, junk, secrets=self._secrets()
        )

    # ------------------------------------------------------------------ the API

    async def create(self, body: Mapping[str, Any], *, retry_throttled: bool = True) -> Task:
        """Create a task from a wire body (see ``_spec.request.build_body``). Re-sent only when no task
        can have been made; otherwise raises AmbiguousCreateError (see the module docstring).
        ``retry_throttled=False`` raises RateLimitError on a 429 instead of retrying it, for a
        caller that paces its creates itself (a batch's limiter)."""
        if not isinstance(body, Mapping) or not body.get("model"):
            model = body.get("model") if isinstance(body, Mapping) else body
            raise ValidationError([Problem("model", model, "the create body needs a model name")])
        spec = catalogue().get(str(body["model"]))
        response, sent_at = await self._call(
            "POST",
            spec.create_path if spec is not None else CREATE_PATH,
            what=f"create ({body['model']})",
            json=dict(body),
            create=True,
            retry_throttled=retry_throttled,
        )
        task = self._parse(
            response,
            lambda content: parse_task(content, default_status=TaskStatus.PENDING),
            lambda why: ambiguous_create(body, why, sent_at),  # the service said "OK": it may exist
        )
        logger.info("created task %s (%s)", task.task_id, body["model"])
        return task

    async def query(self, task_id: str) -> Task:
        """The task's current state (``UNKNOWN`` if the id is unknown or older than 24 h)."""
        response, _ = await self._call("GET", task_path(task_id), what=f"query {task_id}")
        return self._parse(response, parse_task, lambda why: ServerError(f"query {task_id}: {why}"))

    async def list_tasks(self, **filters: Any) -> TaskPage:
        """One page of the account's tasks. Filters are those of :func:`wanbook._api.protocol.list_params`:
        ``start_time``/``end_time`` (aware datetimes; window at most 24 h, default the last 24 h),
        ``model_name``, ``status``, ``task_id``, ``page_no``, ``page_size``."""
        params = list_params(**filters)
        response, _ = await self._call("GET", "/tasks/", what="list tasks", params=params)
        return self._parse(response, parse_task_page, lambda why: ServerError(f"list tasks: {why}"))

    async def upload(self, model: str, filename: str, data: bytes, content_type: str) -> str:
        """Put a local file in the vendor's temporary store; return its ``oss://`` URL (valid 48 h).

        As the vendor SDK does (docs/dashscope-wan27.md §3): ``GET /uploads?action=getPolicy&model=M``
        for a policy, then a form POST of the file to the policy's upload host. The API key goes
        only to the API; the store gets the policy's own signature.
        """
        response, _ = await self._call(
            "GET",
            "/uploads",
            what=f"upload policy ({model})",
            params={"action": "getPolicy", "model": model},
        )
        policy = self._parse(
            response,
            parse_upload_policy,
            lambda why: ServerError(f"upload policy ({model}): {why}"),
        )
        key = f"{policy['upload_dir']}/{filename}"
        form = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "x-oss-object-acl": policy["x_oss_object_acl"],
            "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
            "key": key,
            "success_action_status": "200",
        }
        try:
            answer = await self._http.post(
                policy["upload_host"],
                data=form,
                files={"file": (filename, data, content_type)},
                headers={"User-Agent": self.user_agent},
            )
        except httpx.RequestError as exc:
            raise TransportError(f"upload of {filename}: {self._describe(exc)}") from exc
        if not answer.is_success:
            raise ServerError(f"upload of {filename}: the store answered HTTP {answer.status_code}")
        logger.info("uploaded %s (%d bytes) for %s", filename, len(data), model)
        return f"oss://{key}"

    async def cancel(self, task_id: str) -> None:
        """Cancel a PENDING task. Any other status: BadRequestError ``UnsupportedOperation``."""
        await self._call("POST", task_path(task_id, "cancel"), what=f"cancel {task_id}")

    async def find_task(
        self,
        model: str,
        sent_after: datetime | float,
        sent_before: datetime | float | None = None,
        *,
        slack: timedelta = timedelta(minutes=2),
        exclude: Collection[str] = (),
        max_pages: int = 10,
        accept: Callable[[Task], bool] | None = None,
    ) -> Task | None:
        """Look for a task of ``model`` created by a request sent in ``[sent_after, sent_before]``
        (datetimes or epoch seconds, e.g. ``AmbiguousCreateError.sent_at``) — after an ambiguous
        create, instead of sending it again. ``slack`` widens the window for clock skew; ids in
        ``exclude`` (tasks already known, e.g. siblings in a batch) are skipped. Candidates are
        queried closest to the send window first; the first that ``accept`` takes (default: any)
        wins — a caller verifies there that the task is its request's (another client of the
        account may have created one of the same model at the same moment). None if none is."""
        low = as_utc(sent_after)
        high = as_utc(sent_before) if sent_before is not None else low
        start, end = low - slack, high + slack
        rows: list[TaskSummary] = []
        for page_no in range(1, max_pages + 1):
            page = await self.list_tasks(
                start_time=start, end_time=end, model_name=model, page_no=page_no
            )
            rows += page.tasks
            if not page.has_more:
                break
        for row in ranked_tasks(
            rows, model=model, window=(start, end), sent=(low, high), exclude=exclude
        ):
            task = await self.query(row.task_id)
            if accept is None or accept(task):
                return task
        return None

    async def watch(
        self,
        task_id: str,
        *,
        deadline: float | datetime | None = None,
        delays: Iterable[float] | None = None,
    ) -> AsyncIterator[Task]:
        """Yield the task each time its status changes (the first answer always), ending after a
        terminal status. ``deadline`` is seconds from now or an aware datetime; past it,
        TaskTimeoutError (also a TimeoutError) — the task itself may still finish. ``delays`` are
        the waits between queries (default :func:`poll_delays`; a finite one repeats its last)."""
        started = self._clock()
        end = _deadline_clock(deadline, started)
        schedule = repeat_last(delays if delays is not None else poll_delays(rng=self._rng))
        last: TaskStatus | None = None
        while True:
            task = await self.query(task_id)
            if task.status is not last:
                last = task.status
                yield task
            if task.is_terminal:
                return
            now = self._clock()
            if end is not None and now >= end:
                raise TaskTimeoutError(
                    f"task {task_id} is still {task.status.value} after {now - started:.0f} s "
                    "(the deadline); it may still finish: query it again or resume later"
                )
            delay = next(schedule)
            await self._sleep(min(delay, end - now) if end is not None else delay)

    async def wait(
        self,
        task_id: str,
        *,
        deadline: float | datetime | None = None,
        delays: Iterable[float] | None = None,
        on_change: Callable[[Task], Any] | None = None,
    ) -> Task:
        """Watch until the task ends; return it if SUCCEEDED, else raise TaskFailedError."""
        final: Task | None = None
        async for task in self.watch(task_id, deadline=deadline, delays=delays):
            final = task
            if on_change is not None:
                on_change(task)
        assert final is not None
        return final.raise_for_status()


def _deadline_clock(deadline: float | datetime | None, now: float) -> float | None:
    """A deadline (seconds from now, or an aware datetime) on the client's monotonic clock."""
    if deadline is None:
        return None
    if isinstance(deadline, datetime):
        return now + (as_utc(deadline) - datetime.now(UTC)).total_seconds()
    return now + float(deadline)
