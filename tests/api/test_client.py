"""The async client over ``httpx.MockTransport``: what it sends, what it retries, what it never re-sends.

Time is faked: ``sleep`` records each delay and advances a fake monotonic clock, so retries and
polling run instantly and their schedules can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_API_KEY
from tests.fakes import FakeClock
from wanbook._api.client import Client
from wanbook._api.retry import RetryPolicy
from wanbook._api.tasks import TaskStatus
from wanbook._errors import (
    AmbiguousCreateError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)
from wanbook._secret import Secret
from wanbook._version import __version__

BASE = "https://dashscope.example/api/v1"
CREATE_URL = BASE + "/services/aigc/video-generation/video-synthesis"
BODY = {"model": "wan2.2-t2v-plus", "input": {"prompt": "a fox"}, "parameters": {"size": "832*480"}}
CREATED = {"output": {"task_status": "PENDING", "task_id": "task-1"}, "request_id": "req-1"}

Item = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Server:
    """A scripted transport: answers (or raises) the next item for every request, and records it."""

    def __init__(self, *items: Item) -> None:
        self.items = list(items)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, Exception):
            raise item
        return item(request) if callable(item) else item

    @property
    def creates(self) -> int:
        return sum(1 for r in self.requests if str(r.url) == CREATE_URL)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, headers=headers)


def error(status: int, code: str, message: str = "m", **headers: str) -> httpx.Response:
    body = {"code": code, "message": message, "request_id": "rid"}
    return answer(status, body, {k.replace("_", "-"): v for k, v in headers.items()})


def task(status: str, task_id: str = "task-1", **output: Any) -> httpx.Response:
    return answer(
        200, {"request_id": "r", "output": {"task_id": task_id, "task_status": status, **output}}
    )


def make(server: Server, clock: FakeClock | None = None, **kwargs: Any) -> Client:
    clock = clock or FakeClock(start=1000.0)
    kwargs.setdefault("retry", RetryPolicy(max_retries=2, base=1.0, cap=8.0))
    return Client(
        BASE,
        TEST_API_KEY,
        transport=httpx.MockTransport(server),
        sleep=clock.sleep,
        clock=clock,
        rng=lambda: 0.5,
        **kwargs,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def call(client: Client, op: str) -> Any:
    async with client:
        if op == "create":
            return await client.create(BODY)
        if op == "query":
            return await client.query("task-1")
        if op == "list":
            return await client.list_tasks()
        return await client.cancel("task-1")


# --------------------------------------------------------------------------- what is sent


def test_create_sends_what_the_vendor_requires() -> None:
    server = Server(answer(200, CREATED))
    created = run(call(make(server), "create"))
    (request,) = server.requests
    assert (request.method, str(request.url)) == ("POST", CREATE_URL)
    assert request.headers["Authorization"] == f"Bearer {TEST_API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-DashScope-Async"] == "enable"
    assert request.headers["User-Agent"] == f"wanbook/{__version__}"
    assert json.loads(request.content) == BODY
    assert (created.task_id, created.status, created.request_id) == (
        "task-1",
        TaskStatus.PENDING,
        "req-1",
    )


def test_query_list_cancel_urls_and_headers() -> None:
    server = Server(
        task("RUNNING"),
        answer(200, {"request_id": "l", "data": [{"task_id": "task-1", "status": "RUNNING"}]}),
        answer(200, {"request_id": "c"}),
    )

    async def go() -> tuple:
        async with make(server, user_agent="probe/1") as client:
            return (
                await client.query("task-1"),
                await client.list_tasks(model_name="m", status="RUNNING"),
                await client.cancel("task-1"),
            )

    queried, page, cancelled = run(go())
    assert queried.status is TaskStatus.RUNNING and cancelled is None
    assert [t.task_id for t in page.tasks] == ["task-1"]
    q, lst, c = server.requests
    assert (q.method, str(q.url)) == ("GET", BASE + "/tasks/task-1")
    assert (lst.method, lst.url.path, dict(lst.url.params)) == (
        "GET",
        "/api/v1/tasks/",
        {"page_no": "1", "page_size": "10", "model_name": "m", "status": "RUNNING"},
    )
    assert (c.method, str(c.url)) == ("POST", BASE + "/tasks/task-1/cancel")
    for request in server.requests:
        assert request.headers["Authorization"] == f"Bearer {TEST_API_KEY}"
        assert request.headers["User-Agent"] == "probe/1"
        assert "X-DashScope-Async" not in request.headers


def test_shared_http_client_carries_no_key() -> None:
    client = make(Server(answer(200, {})))
    assert "Authorization" not in client.http.headers
    assert client.http.headers["User-Agent"].startswith("wanbook/")
    run(client.aclose())
    assert client.http.is_closed


def test_base_url_and_body_are_checked() -> None:
    with pytest.raises(ConfigError):
        Client("dashscope.aliyuncs.com", TEST_API_KEY)
    with pytest.raises(ValueError, match="empty"):
        Client(BASE, "  ")
    server = Server(answer(200, CREATED))
    with pytest.raises(ValidationError, match="model"):
        run(make(server).create({"input": {}}))
    assert server.requests == []


# --------------------------------------------------------------------------- errors and retries

# (operation, answer, error class or None for success, requests the transport saw) with 2 retries
TABLE = [
    ("query", error(400, "InvalidParameter"), BadRequestError, 1),
    ("query", error(401, "InvalidApiKey"), AuthenticationError, 1),
    ("query", error(403, "AccessDenied"), AuthenticationError, 1),
    ("query", error(404, "ModelNotFound"), BadRequestError, 1),
    ("query", error(408, "RequestTimeOut"), ServerError, 3),
    ("query", error(413, "BadRequest.TooLarge"), BadRequestError, 1),
    ("query", error(415, "BadRequest.UnsupportedFileFormat"), BadRequestError, 1),
    ("query", error(429, "Throttling"), RateLimitError, 3),
    ("query", error(500, "InternalError"), ServerError, 3),
    ("query", error(503, "ModelUnavailable"), ServerError, 3),
    ("query", answer(502, b"<html>bad gateway</html>"), ServerError, 3),
    ("query", httpx.ReadTimeout("slow"), RequestTimeoutError, 3),
    ("query", httpx.RemoteProtocolError("dropped"), TransportError, 3),
    ("query", answer(200, b"<html>not json</html>"), ServerError, 1),
    ("query", error(200, "InvalidParameter"), APIError, 1),
    ("list", error(429, "Throttling"), RateLimitError, 3),
    ("list", httpx.ConnectError("refused"), TransportError, 3),
    ("cancel", error(400, "UnsupportedOperation"), BadRequestError, 1),
    ("cancel", error(500, "InternalError"), ServerError, 3),
    ("create", error(400, "InvalidParameter"), BadRequestError, 1),
    ("create", error(400, "DataInspectionFailed"), BadRequestError, 1),
    ("create", error(400, "Arrearage"), BadRequestError, 1),
    ("create", error(401, "InvalidApiKey"), AuthenticationError, 1),
    ("create", error(403, "AccessDenied.Unpurchased"), AuthenticationError, 1),
    ("create", error(404, "ModelNotFound"), BadRequestError, 1),
    ("create", error(413, "BadRequest.TooLarge"), BadRequestError, 1),
    ("create", error(415, "BadRequest.InputDownloadFailed"), BadRequestError, 1),
    ("create", error(429, "Throttling.RateQuota"), RateLimitError, 3),
    ("create", error(408, "RequestTimeOut"), AmbiguousCreateError, 1),
    ("create", error(500, "InternalError.Timeout"), AmbiguousCreateError, 1),
    ("create", error(500, "InternalError"), ServerError, 3),
    ("create", error(503, "ModelUnavailable"), ServerError, 3),
    ("create", error(200, "InvalidParameter"), APIError, 1),
    ("create", httpx.ConnectError("refused"), TransportError, 3),
    ("create", httpx.ConnectTimeout("no route"), RequestTimeoutError, 3),
    ("create", httpx.PoolTimeout("pool full"), RequestTimeoutError, 3),
    ("create", httpx.ReadTimeout("slow"), AmbiguousCreateError, 1),
    ("create", httpx.WriteTimeout("slow"), AmbiguousCreateError, 1),
    ("create", httpx.ReadError("reset"), AmbiguousCreateError, 1),
    ("create", httpx.RemoteProtocolError("Server disconnected"), AmbiguousCreateError, 1),
    ("create", answer(502, b"<html>bad gateway</html>"), AmbiguousCreateError, 1),
    ("create", answer(504, b""), AmbiguousCreateError, 1),
    ("create", answer(200, b"{}"), AmbiguousCreateError, 1),
    ("create", answer(200, b"<html>ok</html>"), AmbiguousCreateError, 1),
]


@pytest.mark.parametrize(
    ("op", "item", "cls", "requests"),
    TABLE,
    ids=[
        f"{op}-{type(i).__name__ if isinstance(i, Exception) else i.status_code}-{c.__name__}"
        for op, i, c, _ in TABLE
    ],
)
def test_error_table(op: str, item: Item, cls: type[Exception], requests: int) -> None:
    server = Server(item)
    clock = FakeClock(start=1000.0)
    with pytest.raises(cls) as info:
        run(call(make(server, clock), op))
    assert type(info.value) is cls
    assert len(server.requests) == requests
    assert len(clock.sleeps) == requests - 1
    if cls is AmbiguousCreateError:
        assert info.value.sent_at is not None and "wan2.2-t2v-plus" in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        error(429, "Throttling"),
        error(503, "ModelUnavailable"),
        error(500, "InternalError"),
        error(500, "InternalError.Algo"),
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("timeout"),
    ],
)
def test_create_is_resent_when_surely_not_created(first: Item) -> None:
    server = Server(first, answer(200, CREATED))
    created = run(call(make(server), "create"))
    assert created.task_id == "task-1"
    assert server.creates == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.WriteTimeout("write timed out"),
    ],
)
def test_ambiguous_create_is_never_resent(failure: Exception) -> None:
    """The transport received the create, then failed: exactly one create, even with retries left."""
    server = Server(failure, answer(200, CREATED))
    clock = FakeClock(start=1000.0)
    with pytest.raises(AmbiguousCreateError) as info:
        run(call(make(server, clock, retry=RetryPolicy(max_retries=10)), "create"))
    assert server.creates == 1 and clock.sleeps == []
    assert isinstance(info.value.__cause__, httpx.HTTPError)
    assert "find_task" in str(info.value)


@pytest.mark.parametrize(
    "answered",
    [
        error(408, "RequestTimeOut"),
        error(500, "InternalError.Timeout"),
        error(504, "RequestTimeout"),
        answer(408, b""),
    ],
)
def test_a_create_the_server_timed_out_on_is_never_resent(answered: httpx.Response) -> None:
    """docs/dashscope-api.md §4 (wanbook's rule): a service that timed out may have made the
    task, so the create is ambiguous: one request, no sleep, and the caller looks for the task."""
    server = Server(answered, answer(200, CREATED))
    clock = FakeClock(start=1000.0)
    with pytest.raises(AmbiguousCreateError) as info:
        run(call(make(server, clock, retry=RetryPolicy(max_retries=10)), "create"))
    assert server.creates == 1 and clock.sleeps == []
    assert info.value.sent_at is not None and "find_task" in str(info.value)
    assert TEST_API_KEY not in str(info.value)


def test_a_query_the_server_timed_out_on_is_retried() -> None:
    server = Server(
        error(408, "RequestTimeOut"), error(500, "InternalError.Timeout"), task("RUNNING")
    )
    assert run(call(make(server), "query")).status is TaskStatus.RUNNING
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    "timeout",
    [
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.PoolTimeout("slow"),
    ],
)
def test_http_timeouts_are_timeout_errors(timeout: Exception) -> None:
    """``except TimeoutError`` catches a request that got no answer in time, as it catches a
    task past its deadline; it is still a TransportError for code that catches that."""
    server = Server(timeout)
    with pytest.raises(TimeoutError) as info:
        run(call(make(server), "query"))
    assert type(info.value) is RequestTimeoutError
    assert isinstance(info.value, TransportError) and isinstance(
        info.value.__cause__, type(timeout)
    )
    assert "3 attempt(s)" in str(info.value)


def test_a_connection_refused_is_not_a_timeout() -> None:
    with pytest.raises(TransportError) as info:
        run(call(make(Server(httpx.ConnectError("refused"))), "query"))
    assert not isinstance(info.value, TimeoutError)


@pytest.mark.parametrize(("key", "explained"), [("sk-emulator-local", True), (TEST_API_KEY, False)])
def test_a_refused_placeholder_key_says_no_key_is_set(key: str, explained: bool) -> None:
    """A base URL without a key sends the emulator's placeholder key; a real proxy answers 401
    ``InvalidApiKey``, and the error must say why rather than leave a bare 401."""
    server = Server(error(401, "InvalidApiKey", "Invalid API-key provided."))
    client = Client(BASE, key, transport=httpx.MockTransport(server))
    with pytest.raises(AuthenticationError) as info:
        run(call(client, "create"))
    text = str(info.value)
    assert text.startswith("HTTP 401 InvalidApiKey: Invalid API-key provided.")
    assert ("no DASHSCOPE_API_KEY is set" in text) is explained
    assert info.value.code == "InvalidApiKey" and info.value.status_code == 401
    assert "sk-emulator-local" not in text and TEST_API_KEY not in text


def test_a_session_with_a_base_url_and_no_key_explains_the_401() -> None:
    """End to end: WANBOOK_BASE_URL set, no key, a proxy that wants a real one."""
    import wanbook as wb

    def proxy(request: httpx.Request) -> httpx.Response:
        return error(401, "InvalidApiKey", "Invalid API-key provided.")

    session = wb.Session(base_url=BASE, transport=httpx.MockTransport(proxy), quiet=True)
    with session, pytest.raises(AuthenticationError, match="no DASHSCOPE_API_KEY is set"):
        session.generate("a fox", model="wan2.2-t2v-plus")


@pytest.mark.parametrize("op", ["query", "list", "cancel"])
def test_safe_requests_recover(op: str) -> None:
    ok = {"query": task("RUNNING"), "list": answer(200, {"data": []}), "cancel": answer(200, {})}[
        op
    ]
    server = Server(httpx.ReadTimeout("slow"), error(503, "ModelUnavailable"), ok)
    run(call(make(server), op))
    assert len(server.requests) == 3


def test_retry_after_is_honoured() -> None:
    server = Server(
        error(429, "Throttling", Retry_After="7"),
        error(429, "Throttling", Retry_After="0"),
        error(429, "Throttling", Retry_After="3600"),
        answer(200, CREATED),
    )
    clock = FakeClock(start=1000.0)
    run(call(make(server, clock, retry=RetryPolicy(max_retries=5)), "create"))
    assert clock.sleeps == [7.0, 0.0, 60.0]


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_retries=6, base=1.0, cap=4.0)
    for jitter, expected in [
        (0.0, [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]),
        (1.0, [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]),
    ]:
        server = Server(error(503, "ModelUnavailable"))
        clock = FakeClock(start=1000.0)
        client = Client(
            BASE,
            TEST_API_KEY,
            transport=httpx.MockTransport(server),
            sleep=clock.sleep,
            rng=lambda j=jitter: j,
            retry=policy,
        )
        with pytest.raises(ServerError):
            run(call(client, "query"))
        assert clock.sleeps == expected and len(server.requests) == 7
    server = Server(error(503, "ModelUnavailable"))
    clock = FakeClock(start=1000.0)
    client = Client(
        BASE, TEST_API_KEY, transport=httpx.MockTransport(server), sleep=clock.sleep, retry=policy
    )
    with pytest.raises(ServerError):
        run(call(client, "query"))
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_retrying_helper_for_downloads() -> None:
    clock = FakeClock(start=1000.0)
    client = make(Server(answer(200, {})), clock)
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ReadTimeout("slow")
        return "done"

    async def refused() -> str:
        attempts.append(1)
        raise BadRequestError("no", status_code=404)

    assert run(client.retrying(flaky)) == "done" and len(attempts) == 3
    attempts.clear()
    with pytest.raises(BadRequestError):
        run(client.retrying(refused))
    assert len(attempts) == 1 and len(clock.sleeps) == 2


# --------------------------------------------------------------------------- watching


def test_watch_yields_each_status_change_once() -> None:
    server = Server(
        task("PENDING"),
        task("PENDING"),
        task("RUNNING"),
        task("RUNNING"),
        task("RUNNING"),
        task("SUCCEEDED", video_url="https://oss.example/v.mp4"),
    )
    clock = FakeClock(start=1000.0)

    async def go() -> list:
        async with make(server, clock) as client:
            return [t async for t in client.watch("task-1", delays=[1.0, 2.0, 5.0])]

    seen = run(go())
    assert [t.status for t in seen] == [
        TaskStatus.PENDING,
        TaskStatus.RUNNING,
        TaskStatus.SUCCEEDED,
    ]
    assert seen[-1].video_url == "https://oss.example/v.mp4"
    assert clock.sleeps == [1.0, 2.0, 5.0, 5.0, 5.0]
    assert len(server.requests) == 6


def test_watch_default_schedule_starts_fast_and_caps() -> None:
    server = Server(*[task("RUNNING")] * 12, task("SUCCEEDED"))
    clock = FakeClock(start=1000.0)

    async def go() -> None:
        async with make(server, clock) as client:
            async for _ in client.watch("task-1"):
                pass

    run(go())
    assert clock.sleeps[0] == 1.5 and max(clock.sleeps) == 15.0
    assert clock.sleeps == sorted(clock.sleeps)


def test_watch_deadline_raises_timeout() -> None:
    server = Server(task("RUNNING"))
    clock = FakeClock(start=1000.0)
    seen: list = []

    async def go() -> None:
        async with make(server, clock) as client:
            async for t in client.watch("task-1", deadline=10.0, delays=[3.0]):
                seen.append(t.status)

    with pytest.raises(TaskTimeoutError) as info:
        run(go())
    assert isinstance(info.value, TimeoutError)
    assert "task-1" in str(info.value) and "RUNNING" in str(info.value)
    assert seen == [TaskStatus.RUNNING]
    assert clock.sleeps == [3.0, 3.0, 3.0, 1.0] and len(server.requests) == 5


def test_watch_deadline_as_datetime_in_the_past() -> None:
    server = Server(task("PENDING"))
    past = datetime.now(UTC) - timedelta(seconds=5)
    with pytest.raises(TaskTimeoutError):
        run(make(server).wait("task-1", deadline=past))
    assert len(server.requests) == 1


def test_wait_returns_success_and_raises_failure() -> None:
    changes: list = []
    ok = Server(task("RUNNING"), task("SUCCEEDED", video_url="https://oss.example/v.mp4"))
    done = run(make(ok).wait("task-1", delays=[0.1], on_change=changes.append))
    assert done.status is TaskStatus.SUCCEEDED and len(changes) == 2
    bad = Server(task("FAILED", code="DataInspectionFailed", message="output flagged"))
    with pytest.raises(TaskFailedError) as info:
        run(make(bad).wait("task-1"))
    assert (info.value.code, info.value.message) == ("DataInspectionFailed", "output flagged")
    gone = Server(task("UNKNOWN"))
    with pytest.raises(TaskFailedError, match="UNKNOWN"):
        run(make(gone).wait("task-1"))


# --------------------------------------------------------------------------- finding a task

SENT = datetime(2026, 1, 1, 4, 0, 0, tzinfo=UTC)


def listed(task_id: str, seconds: float, model: str = "wan2.2-t2v-plus") -> dict:
    created = SENT + timedelta(seconds=seconds)
    return {
        "task_id": task_id,
        "status": "RUNNING",
        "model_name": model,
        "gmt_create": int(created.timestamp() * 1000),
    }


def test_find_task_picks_the_closest_and_queries_it() -> None:
    page1 = {
        "data": [
            listed("other-model", 1, "wan2.1-t2v-turbo"),
            listed("sibling", 0.5),
            listed("early", -20),
        ],
        "page_no": 1,
        "total_page": 2,
    }
    page2 = {"data": [listed("mine", 1.2), listed("later", 40)], "page_no": 2, "total_page": 2}
    server = Server(answer(200, page1), answer(200, page2), task("RUNNING", task_id="mine"))

    async def go() -> Any:
        async with make(server) as client:
            return await client.find_task(
                "wan2.2-t2v-plus", SENT, SENT + timedelta(seconds=2), exclude={"sibling"}
            )

    found = run(go())
    assert found.task_id == "mine" and found.status is TaskStatus.RUNNING
    first, second, query = server.requests
    assert dict(first.url.params) == {
        "page_no": "1",
        "page_size": "10",
        "start_time": "20260101115800",  # 04:00 UTC - 2 min, written in UTC+8
        "end_time": "20260101120202",
        "model_name": "wan2.2-t2v-plus",
    }
    assert second.url.params["page_no"] == "2"
    assert str(query.url) == BASE + "/tasks/mine"
    assert server.creates == 0


def test_find_task_none_and_epoch_seconds() -> None:
    server = Server(answer(200, {"data": [], "total": 0}))
    assert run(make(server).find_task("wan2.2-t2v-plus", SENT.timestamp())) is None
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- the key stays secret


def test_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = Secret(TEST_API_KEY)
    texts: list[str] = []
    echo = error(401, "InvalidApiKey", f"Invalid API-key provided: {TEST_API_KEY}")
    cases: list[tuple[str, Item]] = [
        ("create", echo),
        ("query", echo),
        ("create", httpx.ReadTimeout("slow")),
        ("create", httpx.ConnectError("refused")),
        ("query", answer(502, f"<html>{TEST_API_KEY}</html>".encode())),
        ("create", answer(200, f"<html>{TEST_API_KEY}</html>".encode())),
        ("query", answer(200, b"junk")),
    ]
    for op, item in cases:
        server = Server(item)
        client = Client(
            BASE, secret, transport=httpx.MockTransport(server), sleep=FakeClock(start=1000.0).sleep
        )
        texts.append(repr(client))
        with pytest.raises(Exception) as info:
            run(call(client, op))
        texts += [repr(info.value), "".join(traceback.format_exception(info.value))]
    texts += [r.getMessage() for r in caplog.records]
    assert caplog.records, "the client logs its retries and requests"
    assert texts and not [t for t in texts if TEST_API_KEY in t]


def test_a_session_finds_the_task_of_a_timed_out_create_instead_of_resending() -> None:
    """The session's ambiguous-create path takes over after a 408: one create, then the list."""
    import wanbook as wb

    server = Server(
        error(408, "RequestTimeOut"),
        answer(
            200,
            {"data": [{"task_id": "task-7", "status": "FAILED", "model_name": "wan2.2-t2v-plus"}]},
        ),
        task("FAILED", "task-7", code="InternalError.Algo", message="render failed"),
    )
    with wb.Session(api_key=TEST_API_KEY, transport=httpx.MockTransport(server), quiet=True) as s:
        run_ = s.generate("a fox", model="wan2.2-t2v-plus", raise_on_failure=False)
    paths = [(r.method, r.url.path.split("/api/v1")[-1]) for r in server.requests]
    assert paths[:3] == [
        ("POST", "/services/aigc/video-generation/video-synthesis"),
        ("GET", "/tasks/"),
        ("GET", "/tasks/task-7"),
    ]
    assert [m for m, _ in paths].count("POST") == 1
    assert (run_.task_id, run_.status, run_.error_code) == (
        "task-7",
        "FAILED",
        "InternalError.Algo",
    )
