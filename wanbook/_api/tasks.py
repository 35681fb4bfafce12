"""The task payloads of the DashScope API, as pure types and tolerant parsers.

Everything here is I/O-free so it can be tested with the vendor's own example answers
(docs/dashscope-api.md §3). The parsers accept every variant the references show: ``usage`` in four
families, ``"SR": "720"`` or ``720``, ``"duration": 10.0``, ``"usage": null``, ``"video_url": ""``,
``"video_duration": 0`` next to ``"duration": 10``, and missing fields. A body that is not a task at
all raises ``ValueError``; the client translates that at its boundary. The HTTP envelope (URLs,
headers, error answers) is in ``_api.protocol``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from wanbook._errors import TaskFailedError
from wanbook._spec.catalogue import tier_of_size

__all__ = [
    "UTC8",
    "clean_text",
    "clean_value",
    "is_task_id",
    "Task",
    "TaskPage",
    "TaskStatus",
    "TaskSummary",
    "Usage",
    "closest_task",
    "ranked_tasks",
    "parse_task",
    "parse_task_page",
    "parse_time",
]

#: The service writes its times in China Standard Time.
UTC8 = timezone(timedelta(hours=8), "UTC+8")
_TIERS = {480: "480P", 720: "720P", 1080: "1080P"}
_SIZE = re.compile(r"^\s*(\d+)\s*[*xX×]\s*(\d+)\s*$")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S")


class TaskStatus(StrEnum):
    """A task's status. ``UNKNOWN`` means the id does not exist or is older than 24 hours."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True when the status will not change any more (polling can stop)."""
        return self not in (TaskStatus.PENDING, TaskStatus.RUNNING)

    @classmethod
    def parse(cls, value: Any) -> TaskStatus:
        """The status named by ``value``; anything unrecognised is ``UNKNOWN`` (kept in ``raw``)."""
        text = str(value or "").strip().upper()
        if text == "CANCELLED":
            return cls.CANCELED
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN


# --------------------------------------------------------------------------- small tolerant readers


def _num(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (which JSON can carry and UTF-8 cannot) made U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def clean_value(value: Any) -> Any:
    """A JSON value that can be stored: non-finite numbers become None (unknown), text is
    cleaned (:func:`clean_text`), containers are cleaned through."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


MAX_TASK_ID = 256  # the service's ids are UUIDs (36 characters); anything far longer is not one
_TASK_ID = re.compile(f"[!-~]{{1,{MAX_TASK_ID}}}")


def is_task_id(value: Any) -> bool:
    """Whether a server's ``task_id`` can be one: printable ASCII, no spaces, not absurdly long
    (it goes into URLs, the run log and terminals)."""
    return (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and bool(_TASK_ID.fullmatch(str(value)))
    )


def as_text(value: Any) -> str | None:
    """A non-empty string, or None (``""`` and ``null`` both mean "not given"); cleaned."""
    if value is None:
        return None
    text = clean_text(str(value))
    return text if text.strip() else None


def parse_time(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from any time the service writes; None when absent or unreadable.

    ``YYYY-MM-DD HH:mm:ss.SSS`` (task times) and ``YYYYMMDDhhmmss`` are UTC+8; an ISO string with
    an offset keeps its offset; a number is epoch milliseconds (list times), or seconds when small.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit() and len(text) == 13:
        return parse_time(int(text))
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC8).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC8)
    return parsed.astimezone(UTC)


# --------------------------------------------------------------------------- usage


@dataclass(frozen=True)
class Usage:
    """What a finished task used, whatever family of ``usage`` fields the model reports.

    ``billed_seconds`` is what the price is multiplied by: ``duration`` (wan2.6: input + output;
    wan2.5/2.2 i2v) or ``video_duration`` (wan2.5 and earlier t2v, wan2.1 i2v), whichever is
    positive. ``tier`` comes from ``SR`` or from a ``W*H`` size; None when the answer does not say
    (wan2.1 i2v writes ``video_ratio: "standard"``).
    """

    billed_seconds: float | None
    output_seconds: float | None
    tier: str | None
    size: str | None
    video_count: int | None
    audio: bool | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_wire(cls, usage: Any) -> Usage | None:
        """Parse a ``usage`` object; None for ``null`` or anything that is not an object."""
        if not isinstance(usage, Mapping):
            return None
        numbers = {k: _num(usage.get(k)) for k in _DURATION_KEYS}
        billed = _first_positive(numbers, ("duration", "video_duration"))
        if billed is None and numbers["output_video_duration"]:
            billed = (numbers["input_video_duration"] or 0.0) + numbers["output_video_duration"]
        output = _first_positive(numbers, ("output_video_duration", "video_duration", "duration"))
        if any(n is not None for n in numbers.values()):
            billed = 0.0 if billed is None else billed
            output = 0.0 if output is None else output
        size = _size_of(usage.get("size")) or _size_of(usage.get("video_ratio"))
        count = _num(usage.get("video_count"))
        audio = usage.get("audio")
        return cls(
            billed_seconds=billed,
            output_seconds=output,
            tier=_tier_of_sr(usage.get("SR", usage.get("sr"))) or (size and tier_of_size(size)),
            size=size,
            video_count=int(count) if count is not None else None,
            audio=audio if isinstance(audio, bool) else None,
            raw=clean_value(dict(usage)),
        )


_DURATION_KEYS = ("duration", "video_duration", "input_video_duration", "output_video_duration")


def _first_positive(numbers: Mapping[str, float | None], keys: Iterable[str]) -> float | None:
    for key in keys:
        n = numbers.get(key)
        if n is not None and n > 0:
            return n
    return None


def _tier_of_sr(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip().upper().removesuffix("P")
    n = _num(value)
    return _TIERS.get(int(n)) if n is not None and n.is_integer() else None


def _size_of(value: Any) -> str | None:
    match = _SIZE.match(value) if isinstance(value, str) else None
    return f"{int(match[1])}*{int(match[2])}" if match else None


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One task as the service last described it (create or query answer)."""

    task_id: str
    status: TaskStatus
    request_id: str | None = None
    submit_time: datetime | None = None
    scheduled_time: datetime | None = None
    end_time: datetime | None = None
    orig_prompt: str | None = None
    actual_prompt: str | None = None
    video_url: str | None = None
    code: str | None = None
    message: str | None = None
    usage: Usage | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def raise_for_status(self) -> Task:
        """Return self if SUCCEEDED; raise TaskFailedError (with the server's code/message) if it
        ended any other way. A task still PENDING/RUNNING is returned as is."""
        if self.status.is_terminal and self.status is not TaskStatus.SUCCEEDED:
            raise TaskFailedError(self)
        return self


def as_object(body: Any) -> Mapping[str, Any]:
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise ValueError(f"the answer is not JSON: {str(body)[:120]!r}") from exc
    if not isinstance(body, Mapping):
        raise ValueError(f"the answer is not a JSON object: {str(body)[:120]!r}")
    return body


def parse_task(body: Any, *, default_status: TaskStatus = TaskStatus.UNKNOWN) -> Task:
    """Parse a create or query answer. Raises ValueError if it carries no ``output.task_id``."""
    body = as_object(body)
    output = body.get("output")
    if not isinstance(output, Mapping) or not as_text(output.get("task_id")):
        raise ValueError(f"the answer has no output.task_id: {json.dumps(body)[:200]}")
    if not is_task_id(output["task_id"]):
        raise ValueError(
            f"the answer's output.task_id is not a task id ({len(str(output['task_id']))} "
            f"characters; an id is at most {MAX_TASK_ID} printable ones)"
        )
    raw_status = output.get("task_status")
    status = TaskStatus.parse(raw_status) if as_text(raw_status) else default_status
    failed = status is not TaskStatus.SUCCEEDED
    return Task(
        task_id=str(output["task_id"]),
        status=status,
        request_id=as_text(body.get("request_id")),
        submit_time=parse_time(output.get("submit_time")),
        scheduled_time=parse_time(output.get("scheduled_time")),
        end_time=parse_time(output.get("end_time")),
        orig_prompt=as_text(output.get("orig_prompt")),
        actual_prompt=as_text(output.get("actual_prompt")),
        video_url=as_text(output.get("video_url")),
        # The SDK-shaped answer repeats code/message at the top level (often ""): only a failed
        # task falls back to those.
        code=as_text(output.get("code")) or (as_text(body.get("code")) if failed else None),
        message=as_text(output.get("message"))
        or (as_text(body.get("message")) if failed else None),
        usage=Usage.from_wire(body.get("usage")),
        raw=dict(body),
    )


@dataclass(frozen=True)
class TaskSummary:
    """One row of the list endpoint (times are epoch milliseconds on the wire)."""

    task_id: str
    status: TaskStatus
    model_name: str | None = None
    request_id: str | None = None
    gmt_create: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    region: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TaskPage:
    """One page of the list endpoint."""

    tasks: tuple[TaskSummary, ...]
    total: int | None = None
    total_page: int | None = None
    page_no: int | None = None
    page_size: int | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_more(self) -> bool:
        if self.total_page is not None and self.page_no is not None:
            return self.page_no < self.total_page
        return False


def parse_task_page(body: Any) -> TaskPage:
    """Parse a list answer; rows without a task id are skipped. Raises ValueError if not a list."""
    body = as_object(body)
    holder = body
    if "data" not in body and isinstance(body.get("output"), Mapping):
        holder = body["output"]  # the SDK's shape nests the page under "output"
    data = holder.get("data") or []
    if not isinstance(data, list):
        raise ValueError(f"the list answer's data is not a list: {json.dumps(body)[:200]}")
    rows = [
        TaskSummary(
            task_id=str(row["task_id"]),
            status=TaskStatus.parse(row.get("status", row.get("task_status"))),
            model_name=as_text(row.get("model_name")),
            request_id=as_text(row.get("request_id")),
            gmt_create=parse_time(row.get("gmt_create")),
            start_time=parse_time(row.get("start_time")),
            end_time=parse_time(row.get("end_time")),
            region=as_text(row.get("region")),
            raw=dict(row),
        )
        for row in data
        if isinstance(row, Mapping) and is_task_id(row.get("task_id"))
    ]

    def count(key: str) -> int | None:
        n = _num(holder.get(key))
        return int(n) if n is not None else None

    return TaskPage(
        tasks=tuple(rows),
        total=count("total"),
        total_page=count("total_page"),
        page_no=count("page_no"),
        page_size=count("page_size"),
        request_id=as_text(body.get("request_id")),
        raw=dict(body),
    )


def ranked_tasks(
    rows: Iterable[TaskSummary],
    *,
    model: str,
    window: tuple[datetime, datetime],
    sent: tuple[datetime, datetime],
    exclude: Collection[str] = (),
) -> list[TaskSummary]:
    """The listed tasks that a create sent between ``sent[0]`` and ``sent[1]`` may have made,
    most likely first.

    Candidates are rows of ``model`` (or with no model given) created inside ``window`` and not in
    ``exclude``; the one created closest to the send interval first (0 inside it), rows without a
    creation time last.
    """
    low, high = sent

    def distance(row: TaskSummary) -> float:
        created = row.gmt_create
        if created is None:
            return math.inf
        return max((low - created).total_seconds(), (created - high).total_seconds(), 0.0)

    candidates = [
        row
        for row in rows
        if row.task_id not in exclude
        and row.model_name in (None, model)
        and (row.gmt_create is None or window[0] <= row.gmt_create <= window[1])
    ]
    return sorted(candidates, key=distance)


def closest_task(
    rows: Iterable[TaskSummary],
    *,
    model: str,
    window: tuple[datetime, datetime],
    sent: tuple[datetime, datetime],
    exclude: Collection[str] = (),
) -> TaskSummary | None:
    """The most likely of :func:`ranked_tasks`, or None when there is no candidate."""
    ranked = ranked_tasks(rows, model=model, window=window, sent=sent, exclude=exclude)
    return ranked[0] if ranked else None
