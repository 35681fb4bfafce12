"""The pure wire layer: every documented answer variant, times, errors, headers, schedules.

The answer bodies below are the vendor's own examples (the I2V and T2V API references, see
docs/dashscope-api.md "Sources"; each id says which) or built from the field lists of
docs/dashscope-api.md §3.1 where a page gives no full example.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import TEST_API_KEY
from wanbook._api.protocol import (
    build_headers,
    error_from_response,
    format_list_time,
    list_params,
    normalize_base_url,
    task_path,
)
from wanbook._api.retry import RetryPolicy, parse_retry_after, poll_delays, repeat_last
from wanbook._api.tasks import (
    Task,
    TaskStatus,
    TaskSummary,
    Usage,
    closest_task,
    parse_task,
    parse_task_page,
    parse_time,
)
from wanbook._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    RateLimitError,
    ServerError,
    TaskFailedError,
)
from wanbook._secret import Secret

UTC = UTC


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# (id, body, status, billed seconds, tier, size, audio, submit_time in UTC, video_url?)
VARIANTS = [
    (
        "wan2.6-i2v http query (000:556): SR int",
        {
            "request_id": "2ca1c497-f9e0-449d-9a3f-xxxxxx",
            "output": {
                "task_id": "af6efbc0-4bef-4194-8246-xxxxxx",
                "task_status": "SUCCEEDED",
                "submit_time": "2025-09-25 11:07:28.590",
                "scheduled_time": "2025-09-25 11:07:35.349",
                "end_time": "2025-09-25 11:17:11.650",
                "orig_prompt": "A scene of urban fantasy art.",
                "video_url": "https://dashscope-result-sh.oss-cn-shanghai.aliyuncs.com/xxx.mp4?Expires=xxx",
            },
            "usage": {
                "duration": 10,
                "input_video_duration": 0,
                "output_video_duration": 10,
                "video_count": 1,
                "SR": 720,
            },
        },
        TaskStatus.SUCCEEDED,
        10,
        "720P",
        None,
        None,
        utc(2025, 9, 25, 3, 7, 28, 590000),
        True,
    ),
    (
        "wan2.6-t2v http query (001:518): size next to SR",
        {
            "request_id": "abbf7aa3-9652-4785-a622-xxxxxx",
            "output": {
                "task_id": "38513c71-5190-48e1-9f3b-xxxxxx",
                "task_status": "SUCCEEDED",
                "submit_time": "2025-09-29 14:05:22.119",
                "scheduled_time": "2025-09-29 14:05:28.278",
                "end_time": "2025-09-29 14:10:00.437",
                "orig_prompt": "Shot from a low angle",
                "video_url": "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
            },
            "usage": {
                "duration": 10,
                "size": "1280*720",
                "input_video_duration": 0,
                "output_video_duration": 10,
                "video_count": 1,
                "SR": 720,
            },
        },
        TaskStatus.SUCCEEDED,
        10,
        "720P",
        "1280*720",
        None,
        utc(2025, 9, 29, 6, 5, 22, 119000),
        True,
    ),
    (
        "wan2.6-i2v-flash python sdk (000:872): video_duration 0 and video_ratio '' beside duration",
        {
            "status_code": 200,
            "request_id": "2794c7a3-fe8c-4dd4-a1b7-xxxxxx",
            "code": None,
            "message": "",
            "output": {
                "task_id": "c15d5b14-07c4-4af5-b862-xxxxxx",
                "task_status": "SUCCEEDED",
                "video_url": "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/xxx.mp4?Expires=xxx",
                "submit_time": "2026-01-22 23:24:46.527",
                "scheduled_time": "2026-01-22 23:24:46.565",
                "end_time": "2026-01-22 23:25:59.978",
                "orig_prompt": "A scene of urban fantasy art.",
            },
            "usage": {
                "video_count": 1,
                "video_duration": 0,
                "video_ratio": "",
                "duration": 10,
                "input_video_duration": 0,
                "output_video_duration": 10,
                "audio": True,
                "SR": 720,
            },
        },
        TaskStatus.SUCCEEDED,
        10,
        "720P",
        None,
        True,
        utc(2026, 1, 22, 15, 24, 46, 527000),
        True,
    ),
    (
        "wan2.6 java sdk (000:1160, 003:382): SR string, float durations",
        {
            "request_id": "87c091bb-7a3c-4904-8501-xxxxxx",
            "output": {
                "task_id": "413ed6e4-5f3a-4f57-8d58-xxxxxx",
                "task_status": "SUCCEEDED",
                "video_url": "https://dashscope-result-bj.oss-cn-beijing.aliyuncs.com/xxx.mp4?Expires=xxx",
                "orig_prompt": "A scene of urban fantasy art.",
                "submit_time": "2026-01-22 23:25:45.729",
                "scheduled_time": "2026-01-22 23:25:45.771",
                "end_time": "2026-01-22 23:26:44.942",
            },
            "usage": {
                "video_count": 1,
                "duration": 10.0,
                "input_video_duration": 0.0,
                "output_video_duration": 10.0,
                "SR": "720",
            },
            "status_code": 200,
            "code": "",
            "message": "",
        },
        TaskStatus.SUCCEEDED,
        10,
        "720P",
        None,
        None,
        utc(2026, 1, 22, 15, 25, 45, 729000),
        True,
    ),
    (
        "wan2.5 t2v python sdk (001:739): video_duration + video_ratio W*H",
        {
            "status_code": 200,
            "request_id": "167f3beb-3dd0-47fe-a83c-xxxxxx",
            "code": None,
            "message": "",
            "output": {
                "task_id": "5b65411f-d946-4e29-859e-xxxxxx",
                "task_status": "SUCCEEDED",
                "video_url": "https://dashscope-result-bj.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
                "submit_time": "2025-10-23 11:47:23.879",
                "scheduled_time": "2025-10-23 11:47:34.351",
                "end_time": "2025-10-23 11:52:35.323",
                "orig_prompt": "Shot from a low angle",
                "actual_prompt": "Low-angle shot, medium close-up",
            },
            "usage": {"video_count": 1, "video_duration": 10, "video_ratio": "832*480"},
        },
        TaskStatus.SUCCEEDED,
        10,
        "480P",
        "832*480",
        None,
        utc(2025, 10, 23, 3, 47, 23, 879000),
        True,
    ),
    (
        "t2v java sdk (001:927): no times at all",
        {
            "request_id": "4e9aab26-c50b-4ea7-b2c0-xxxxxx",
            "output": {
                "task_id": "9e0fc846-ee92-42ac-af42-xxxxxx",
                "task_status": "SUCCEEDED",
                "video_url": "https://dashscope-result-sh.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
            },
            "usage": {"video_count": 1, "video_duration": 10, "video_ratio": "832*480"},
        },
        TaskStatus.SUCCEEDED,
        10,
        "480P",
        "832*480",
        None,
        None,
        True,
    ),
    (
        "wan2.5/wan2.2 i2v (§3.1): duration + SR 1080",
        {
            "request_id": "r",
            "output": {
                "task_id": "t-22",
                "task_status": "SUCCEEDED",
                "video_url": "https://x/v.mp4",
            },
            "usage": {"duration": 5, "SR": 1080, "video_count": 1},
        },
        TaskStatus.SUCCEEDED,
        5,
        "1080P",
        None,
        None,
        None,
        True,
    ),
    (
        "wan2.1 i2v (§3.1): video_ratio 'standard' gives no tier",
        {
            "request_id": "r",
            "output": {
                "task_id": "t-21",
                "task_status": "SUCCEEDED",
                "video_url": "https://x/v.mp4",
            },
            "usage": {"video_duration": 3, "video_ratio": "standard", "video_count": 1},
        },
        TaskStatus.SUCCEEDED,
        3,
        None,
        None,
        None,
        None,
        True,
    ),
    (
        "SR as '1080P' string and size in tier",
        {
            "output": {"task_id": "t-x", "task_status": "SUCCEEDED"},
            "usage": {"duration": "15", "SR": "1080P", "size": "1920*1080"},
        },
        TaskStatus.SUCCEEDED,
        15,
        "1080P",
        "1920*1080",
        None,
        None,
        False,
    ),
    (
        "create via python sdk (000:963, 001:816): usage null, video_url ''",
        {
            "status_code": 200,
            "request_id": "6dc3bf6c-be18-9268-9c27-xxxxxx",
            "code": "",
            "message": "",
            "output": {
                "task_id": "686391d9-7ecf-4290-a8e9-xxxxxx",
                "task_status": "PENDING",
                "video_url": "",
            },
            "usage": None,
        },
        TaskStatus.PENDING,
        None,
        None,
        None,
        None,
        None,
        False,
    ),
    (
        "create via http (docs/dashscope-api.md §3)",
        {
            "output": {"task_status": "PENDING", "task_id": "0385dc79-xxxx"},
            "request_id": "4909100c-xxxx",
        },
        TaskStatus.PENDING,
        None,
        None,
        None,
        None,
        None,
        False,
    ),
    (
        "running",
        {
            "request_id": "r",
            "output": {
                "task_id": "t-run",
                "task_status": "RUNNING",
                "submit_time": "2025-12-31 23:59:59.999",
                "scheduled_time": "2026-01-01 00:00:01.000",
            },
        },
        TaskStatus.RUNNING,
        None,
        None,
        None,
        None,
        utc(2025, 12, 31, 15, 59, 59, 999000),
        False,
    ),
    (
        "failed (000:570)",
        {
            "request_id": "e5d70b02-ebd3-98ce-9fe8-759d7d7b107d",
            "output": {
                "task_id": "86ecf553-d340-4e21-af6e-a0c6a421c010",
                "task_status": "FAILED",
                "code": "InvalidParameter",
                "message": "The size is not match xxxxxx",
            },
        },
        TaskStatus.FAILED,
        None,
        None,
        None,
        None,
        None,
        False,
    ),
    (
        "expired (000:583)",
        {
            "request_id": "a4de7c32-7057-9f82-8581-xxxxxx",
            "output": {"task_id": "502a00b1-19d9-4839-a82f-xxxxxx", "task_status": "UNKNOWN"},
        },
        TaskStatus.UNKNOWN,
        None,
        None,
        None,
        None,
        None,
        False,
    ),
    (
        "canceled",
        {"request_id": "r", "output": {"task_id": "t-c", "task_status": "CANCELED"}},
        TaskStatus.CANCELED,
        None,
        None,
        None,
        None,
        None,
        False,
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "billed", "tier", "size", "audio", "submitted", "has_video"),
    [v[1:] for v in VARIANTS],
    ids=[v[0] for v in VARIANTS],
)
def test_every_documented_answer_parses(
    body, status, billed, tier, size, audio, submitted, has_video
) -> None:
    for wire in (body, json.dumps(body), json.dumps(body).encode()):
        task = parse_task(wire)
        assert task.status is status
        assert task.task_id == body["output"]["task_id"]
        assert task.submit_time == submitted
        assert task.submit_time is None or task.submit_time.tzinfo == UTC
        assert (task.video_url is not None) is has_video
        assert task.is_terminal is status.is_terminal
        if billed is None:
            assert task.usage is None
        else:
            assert task.usage is not None
            assert task.usage.billed_seconds == billed
            assert task.usage.tier == tier
            assert task.usage.size == size
            assert task.usage.audio is audio


def test_failed_task_carries_code_and_message_and_raises() -> None:
    body = dict(VARIANTS[-3][1])
    task = parse_task(body)
    assert (task.code, task.message) == ("InvalidParameter", "The size is not match xxxxxx")
    with pytest.raises(TaskFailedError) as info:
        task.raise_for_status()
    assert info.value.code == "InvalidParameter"
    assert "InvalidParameter" in str(info.value) and task.task_id in str(info.value)


@pytest.mark.parametrize("status", [TaskStatus.UNKNOWN, TaskStatus.CANCELED])
def test_other_endings_raise(status: TaskStatus) -> None:
    with pytest.raises(TaskFailedError, match=status.value):
        Task(task_id="t", status=status).raise_for_status()


@pytest.mark.parametrize("status", [TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED])
def test_raise_for_status_passes_unfinished_and_succeeded(status: TaskStatus) -> None:
    task = Task(task_id="t", status=status)
    assert task.raise_for_status() is task


def test_sdk_top_level_empty_code_is_not_an_error() -> None:
    task = parse_task(VARIANTS[2][1])
    assert task.code is None and task.message is None


def test_failed_falls_back_to_top_level_code() -> None:
    task = parse_task(
        {
            "code": "DataInspectionFailed",
            "message": "bad",
            "output": {"task_id": "t", "task_status": "FAILED"},
        }
    )
    assert (task.code, task.message) == ("DataInspectionFailed", "bad")


def test_actual_prompt_only_when_given() -> None:
    assert parse_task(VARIANTS[4][1]).actual_prompt == "Low-angle shot, medium close-up"
    assert parse_task(VARIANTS[0][1]).actual_prompt is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PENDING", TaskStatus.PENDING),
        ("running", TaskStatus.RUNNING),
        ("CANCELLED", TaskStatus.CANCELED),
        ("SUSPENDED", TaskStatus.UNKNOWN),
        (None, TaskStatus.UNKNOWN),
        ("", TaskStatus.UNKNOWN),
    ],
)
def test_status_parse(raw: object, status: TaskStatus) -> None:
    assert TaskStatus.parse(raw) is status


def test_terminal_statuses() -> None:
    assert {s for s in TaskStatus if s.is_terminal} == {
        TaskStatus.SUCCEEDED,
        TaskStatus.FAILED,
        TaskStatus.CANCELED,
        TaskStatus.UNKNOWN,
    }


def test_missing_status_takes_the_default() -> None:
    assert parse_task({"output": {"task_id": "t"}}).status is TaskStatus.UNKNOWN
    task = parse_task({"output": {"task_id": "t"}}, default_status=TaskStatus.PENDING)
    assert task.status is TaskStatus.PENDING


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        "[1, 2]",
        {"request_id": "r"},
        {"output": None},
        {"output": {"task_status": "PENDING"}},
        {"output": {"task_id": ""}},
    ],
)
def test_not_a_task_is_a_value_error(body: object) -> None:
    with pytest.raises(ValueError):
        parse_task(body)


@pytest.mark.parametrize(
    ("usage", "billed", "output", "tier", "count"),
    [
        ({}, None, None, None, None),
        ({"video_count": 1}, None, None, None, 1),
        ({"duration": 0, "video_duration": 0}, 0.0, 0.0, None, None),
        ({"duration": True, "SR": "abc"}, None, None, None, None),
        ({"duration": "nan", "SR": 540}, None, None, None, None),
        ({"input_video_duration": 0, "output_video_duration": 7}, 7, 7, None, None),
        ({"video_duration": 5, "video_ratio": "1x1"}, 5, 5, None, None),
        ({"duration": 10, "video_ratio": "624*624", "sr": 480}, 10, 10, "480P", None),
        ({"duration": 10, "SR": 720.0, "video_count": "1"}, 10, 10, "720P", 1),
    ],
)
def test_usage_edge_cases(usage: dict, billed, output, tier, count) -> None:
    parsed = Usage.from_wire(usage)
    assert parsed is not None
    assert (parsed.billed_seconds, parsed.output_seconds, parsed.tier, parsed.video_count) == (
        billed,
        output,
        tier,
        count,
    )
    assert parsed.raw == usage


@pytest.mark.parametrize("usage", [None, [], "x", 3])
def test_usage_that_is_not_an_object(usage: object) -> None:
    assert Usage.from_wire(usage) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-09-25 11:07:28.590", utc(2025, 9, 25, 3, 7, 28, 590000)),
        ("2025-09-25 11:07:28", utc(2025, 9, 25, 3, 7, 28)),
        ("2025-01-01 03:00:00.000", utc(2024, 12, 31, 19, 0, 0)),
        ("20250925110728", utc(2025, 9, 25, 3, 7, 28)),
        ("2025-09-25T11:07:28+00:00", utc(2025, 9, 25, 11, 7, 28)),
        ("2025-09-25T11:07:28Z", utc(2025, 9, 25, 11, 7, 28)),
        (1758769648590, utc(2025, 9, 25, 3, 7, 28, 590000)),
        ("1758769648590", utc(2025, 9, 25, 3, 7, 28, 590000)),
        (1758769648, utc(2025, 9, 25, 3, 7, 28)),
        ("", None),
        (None, None),
        (True, None),
        (0, None),
        ("yesterday", None),
    ],
)
def test_times_become_aware_utc(raw: object, expected: datetime | None) -> None:
    parsed = parse_time(raw)
    assert parsed == expected
    assert parsed is None or parsed.utcoffset() == timedelta(0)


LIST_BODY = {
    "request_id": "list-1",
    "data": [
        {
            "task_id": "a",
            "status": "SUCCEEDED",
            "model_name": "wan2.2-t2v-plus",
            "request_id": "ra",
            "gmt_create": 1758769648590,
            "start_time": 1758769650000,
            "end_time": 1758769700000,
            "region": "ap-southeast-1",
        },
        {"task_id": "b", "status": "RUNNING", "model_name": "wan2.2-t2v-plus"},
        {"status": "RUNNING"},
        "junk",
    ],
    "total": 2,
    "total_page": 1,
    "page_no": 1,
    "page_size": 10,
}


def test_list_page_parses() -> None:
    page = parse_task_page(LIST_BODY)
    assert [t.task_id for t in page.tasks] == ["a", "b"]
    first = page.tasks[0]
    assert first.status is TaskStatus.SUCCEEDED
    assert first.gmt_create == utc(2025, 9, 25, 3, 7, 28, 590000)
    assert first.region == "ap-southeast-1"
    assert (page.total, page.total_page, page.page_no, page.page_size) == (2, 1, 1, 10)
    assert page.request_id == "list-1" and not page.has_more


def test_list_page_sdk_shape_and_empty() -> None:
    nested = {
        "request_id": "x",
        "output": {k: v for k, v in LIST_BODY.items() if k != "request_id"},
    }
    assert [t.task_id for t in parse_task_page(nested).tasks] == ["a", "b"]
    empty = parse_task_page({"request_id": "x", "data": None, "total": 0})
    assert empty.tasks == () and empty.total == 0
    more = parse_task_page({"data": [], "page_no": 1, "total_page": 3})
    assert more.has_more
    with pytest.raises(ValueError):
        parse_task_page({"data": {"task_id": "a"}})


SENT = (utc(2026, 1, 1, 12, 0, 0), utc(2026, 1, 1, 12, 0, 5))
WINDOW = (SENT[0] - timedelta(minutes=2), SENT[1] + timedelta(minutes=2))


def row(task_id: str, seconds: float | None, model: str | None = "m") -> TaskSummary:
    created = None if seconds is None else SENT[0] + timedelta(seconds=seconds)
    return TaskSummary(
        task_id=task_id, status=TaskStatus.PENDING, model_name=model, gmt_create=created
    )


@pytest.mark.parametrize(
    ("rows", "exclude", "expected"),
    [
        ([], (), None),
        ([row("a", 2)], (), "a"),
        ([row("far", 60), row("near", -3), row("inside", 4)], (), "inside"),
        ([row("other", 1, model="x"), row("a", 30)], (), "a"),
        ([row("mine", 1), row("a", 30)], ("mine",), "a"),
        ([row("late", 600)], (), None),
        ([row("unknown", None), row("a", 90)], (), "a"),
        ([row("unknown", None, model=None)], (), "unknown"),
    ],
)
def test_closest_task(rows: list[TaskSummary], exclude: tuple, expected: str | None) -> None:
    best = closest_task(rows, model="m", window=WINDOW, sent=SENT, exclude=exclude)
    assert (best.task_id if best else None) == expected


# --------------------------------------------------------------------------- the HTTP envelope


def test_headers() -> None:
    key = Secret(TEST_API_KEY)
    create = build_headers(key, user_agent="wanbook/9", create=True)
    assert create == {
        "Authorization": f"Bearer {TEST_API_KEY}",
        "User-Agent": "wanbook/9",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-DashScope-Async": "enable",
    }
    query = build_headers(key, user_agent="wanbook/9")
    assert "X-DashScope-Async" not in query and "Content-Type" not in query
    assert query["Authorization"] == f"Bearer {TEST_API_KEY}"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        (
            "https://dashscope-intl.aliyuncs.com/api/v1",
            "https://dashscope-intl.aliyuncs.com/api/v1",
        ),
        ("http://127.0.0.1:8000/api/v1/ ", "http://127.0.0.1:8000/api/v1"),
        (
            "https://ws1.eu-central-1.maas.aliyuncs.com/api/v1/",
            "https://ws1.eu-central-1.maas.aliyuncs.com/api/v1",
        ),
    ],
)
def test_base_url(base: str, expected: str) -> None:
    assert normalize_base_url(base) == expected


@pytest.mark.parametrize(
    "base", ["", "dashscope.aliyuncs.com/api/v1", "ftp://x/api/v1", "https://"]
)
def test_bad_base_url(base: str) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        normalize_base_url(base)


def test_task_path_escapes_the_id() -> None:
    assert task_path("abc-123") == "/tasks/abc-123"
    assert task_path("a/../b", "cancel") == "/tasks/a%2F..%2Fb/cancel"
    with pytest.raises(ValueError, match="task_id"):
        task_path("  ")


def test_list_params_in_utc8() -> None:
    params = list_params(
        start_time=utc(2026, 1, 1, 16, 30, 0),
        end_time="20260102000000",
        model_name="wan2.2-t2v-plus",
        status="succeeded",
        page_size=50,
    )
    assert params == {
        "page_no": "1",
        "page_size": "50",
        "start_time": "20260102003000",
        "end_time": "20260102000000",
        "model_name": "wan2.2-t2v-plus",
        "status": "SUCCEEDED",
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        format_list_time(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="page_no"):
        list_params(page_no=0)


def err(code: str, message: str = "m") -> bytes:
    return json.dumps({"code": code, "message": message, "request_id": "rid"}).encode()


# (status, body, headers, class, code, retry_after) — docs/dashscope-api.md §4
ERRORS = [
    (400, err("InvalidParameter"), {}, BadRequestError, "InvalidParameter", None),
    (400, err("DataInspectionFailed"), {}, BadRequestError, "DataInspectionFailed", None),
    (400, err("IPInfringementSuspect"), {}, BadRequestError, "IPInfringementSuspect", None),
    (400, err("Arrearage"), {}, BadRequestError, "Arrearage", None),
    (400, err("UnsupportedOperation"), {}, BadRequestError, "UnsupportedOperation", None),
    (400, err("BadRequest.EmptyInput"), {}, BadRequestError, "BadRequest.EmptyInput", None),
    (
        401,
        err("InvalidApiKey", "Invalid API-key provided."),
        {},
        AuthenticationError,
        "InvalidApiKey",
        None,
    ),
    (
        403,
        err("AccessDenied.Unpurchased"),
        {},
        AuthenticationError,
        "AccessDenied.Unpurchased",
        None,
    ),
    (403, err("Model.AccessDenied"), {}, AuthenticationError, "Model.AccessDenied", None),
    (404, err("ModelNotFound"), {}, BadRequestError, "ModelNotFound", None),
    (408, err("RequestTimeOut"), {}, ServerError, "RequestTimeOut", None),
    (413, err("BadRequest.TooLarge"), {}, BadRequestError, "BadRequest.TooLarge", None),
    (
        415,
        err("BadRequest.InputDownloadFailed"),
        {},
        BadRequestError,
        "BadRequest.InputDownloadFailed",
        None,
    ),
    (
        429,
        err("Throttling.RateQuota"),
        {"Retry-After": "7"},
        RateLimitError,
        "Throttling.RateQuota",
        7.0,
    ),
    (429, err("LimitRequests"), {"retry-after": "0.5"}, RateLimitError, "LimitRequests", 0.5),
    (
        400,
        err("Throttling.AllocationQuota"),
        {},
        RateLimitError,
        "Throttling.AllocationQuota",
        None,
    ),
    (500, err("InternalError.Algo"), {}, ServerError, "InternalError.Algo", None),
    (503, err("ModelUnavailable"), {"Retry-After": "3"}, ServerError, "ModelUnavailable", 3.0),
    (502, b"<html><body>Bad Gateway</body></html>", {}, ServerError, None, None),
    (504, b"", {}, ServerError, None, None),
    (409, b"conflict", {}, BadRequestError, None, None),
    (302, b"", {}, APIError, None, None),
]


@pytest.mark.parametrize(("status", "body", "headers", "cls", "code", "retry_after"), ERRORS)
def test_error_mapping(status, body, headers, cls, code, retry_after) -> None:
    error = error_from_response(status, body, headers)
    assert type(error) is cls
    assert (error.status_code, error.code, error.retry_after) == (status, code, retry_after)
    assert f"HTTP {status}" in str(error)
    if code:
        assert error.request_id == "rid" and "rid" in str(error)


def test_non_json_error_is_quoted_briefly_and_scrubbed() -> None:
    page = f"<html>proxy says {TEST_API_KEY} " + "x" * 1000 + "</html>"
    error = error_from_response(502, page.encode(), {}, secrets=[TEST_API_KEY])
    assert "Bad Gateway" in str(error) and "proxy says" in str(error)
    assert TEST_API_KEY not in str(error) and len(str(error)) < 300


# --------------------------------------------------------------------------- schedules

NOW = utc(2026, 1, 1, 0, 0, 0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 1.5 ", 1.5),
        ("-3", 0.0),
        ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0),
        ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("inf", None),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_retries=8, base=0.5, cap=4.0)
    low = [policy.backoff(n, rng=lambda: 0.0) for n in range(7)]
    high = [policy.backoff(n, rng=lambda: 1.0) for n in range(7)]
    assert low == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert high == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert policy.backoff(10_000) <= 4.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=60.0)
    assert policy.delay(0, retry_after=7.0) == 7.0
    assert policy.delay(3, retry_after=0.0) == 0.0
    assert policy.delay(0, retry_after=3600.0) == 60.0
    assert policy.delay(0, None, rng=lambda: 1.0) == policy.base


@pytest.mark.parametrize("kwargs", [{"max_retries": -1}, {"base": 0}, {"cap": -1.0}])
def test_bad_policy(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def take(iterator, n: int) -> list[float]:
    return [round(next(iterator), 6) for _ in range(n)]


def test_poll_delays_grow_to_the_cap() -> None:
    assert take(poll_delays(rng=lambda: 0.5), 8) == [
        1.5,
        2.25,
        3.375,
        5.0625,
        7.59375,
        11.390625,
        15.0,
        15.0,
    ]
    assert take(poll_delays(expected_seconds=120, rng=lambda: 0.5), 3) == [12.0, 15.0, 15.0]
    assert take(poll_delays(expected_seconds=5, rng=lambda: 0.5), 1) == [1.5]
    spread = take(poll_delays(rng=lambda: 1.0, jitter=0.2), 1) + take(
        poll_delays(rng=lambda: 0.0), 1
    )
    assert spread == [1.8, 1.2]
    with pytest.raises(ValueError):
        next(poll_delays(first=0))


def test_repeat_last() -> None:
    assert take(repeat_last([1.0, 2.0]), 4) == [1.0, 2.0, 2.0, 2.0]
    assert take(repeat_last([]), 2) == [15.0, 15.0]


@pytest.mark.parametrize(
    ("usage", "billed", "tier"),
    [
        # docs/dashscope-wan27.md §4-§8, §10: the wan2.7 and kf2v shapes, numbers as strings too
        (
            {
                "duration": 10,
                "input_video_duration": 0,
                "output_video_duration": 10,
                "video_count": 1,
                "ratio": "16:9",
                "SR": 720,
            },
            10.0,
            "720P",
        ),
        (
            {
                "duration": 15,
                "input_video_duration": 3,
                "output_video_duration": 15,
                "video_count": 1,
                "SR": 720,
            },
            15.0,
            "720P",
        ),
        (
            {
                "duration": 15,
                "input_video_duration": 5,
                "output_video_duration": 10,
                "video_count": 1,
                "SR": 720,
                "ratio": "16:9",
            },
            15.0,
            "720P",
        ),
        (
            {
                "duration": "10.04",
                "input_video_duration": "5.02",
                "output_video_duration": "5.02",
                "video_count": 1,
                "SR": "1080",
            },
            10.04,
            "1080P",
        ),
        ({"duration": 10.0, "SR": "720"}, 10.0, "720P"),
        ({"video_duration": 5, "video_count": 1, "SR": 480}, 5.0, "480P"),
        ({"video_count": 1, "video_duration": 5, "video_ratio": "standard"}, 5.0, None),
    ],
    ids=["t2v", "i2v-continuation", "r2v", "videoedit-strings", "java-sdk", "kf2v-2.2", "kf2v-2.1"],
)
def test_wan27_and_kf2v_usage_is_billed_as_the_vendor_says(usage, billed, tier) -> None:
    parsed = Usage.from_wire(usage)
    assert parsed is not None and parsed.billed_seconds == pytest.approx(billed)
    assert parsed.tier == tier
