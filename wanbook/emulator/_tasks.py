"""Tasks: their timing, their state computed from the clock, and the store that holds them.

A task's life is decided when it is created: it waits ``queue`` seconds (PENDING), runs ``run``
seconds (RUNNING) and then ends (SUCCEEDED or FAILED). State is computed from the clock at each
query, never advanced by a thread, with one exception: a task only SUCCEEDS once its video file
exists (the :class:`Artifact` rendered in a worker). If rendering is slower than the scaled run
time, the task stays RUNNING until the file is ready, and its ``end_time`` is when it was.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wanbook._spec.catalogue import ModelSpec, catalogue
from wanbook.emulator._protocol import format_time, list_time, parse_list_time, vendor_region

__all__ = [
    "DAY",
    "STATUSES",
    "Artifact",
    "ListQuery",
    "Task",
    "TaskStore",
    "parse_list_query",
    "timing",
    "total_pages",
]

DAY = 24 * 3600.0
MAX_PAGE_SIZE = 100
STATUSES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN")

# Timing of the real service at time_scale 1.0 (docs/dashscope-api.md §1: "1-5 minutes"): a queue of
# 8-16 s, then 50 s of rendering per 5 s of video at 480P, longer at higher tiers. A 5 s 480P
# task takes about a minute; a 15 s 1080P task about five.
QUEUE_BASE = 8.0
QUEUE_JITTER = 8.0
RUN_PER_5S = 50.0
TIER_FACTOR = {"480P": 1.0, "720P": 1.4, "1080P": 1.8}


def timing(
    tier: str, duration: int, task_id: str, time_scale: float, slow: float = 1.0
) -> tuple[float, float]:
    """(queue, run) seconds for a task: scaled, with a per-task queue jitter from its id."""
    u = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big") / 2**64
    queue = (QUEUE_BASE + QUEUE_JITTER * u) * time_scale * slow
    run = RUN_PER_5S * (duration / 5) * TIER_FACTOR.get(tier, 1.8) * time_scale * slow
    return queue, run


@dataclass
class Artifact:
    """A video being rendered, shared by every task with identical render inputs."""

    key: str
    path: Path
    ready_at: float | None = None  # clock time the file was complete
    error: str | None = None  # set if rendering failed


@dataclass
class Task:
    """One generation, as the service keeps it. Mutable fields are guarded by the store's lock."""

    task_id: str
    request_id: str
    model: str  # the name as submitted
    spec: ModelSpec
    region: str
    submit: float
    queue: float
    run: float
    task_ttl: float
    url_ttl: float
    orig_prompt: str
    actual_prompt: str | None
    usage: dict[str, Any]
    fail: tuple[str, str] | None = None
    artifact: Artifact | None = None
    canceled_at: float | None = None

    @property
    def scheduled(self) -> float:
        return self.submit + self.queue

    @property
    def planned_end(self) -> float:
        return self.scheduled + self.run

    def expired(self, now: float) -> bool:
        return now >= self.submit + self.task_ttl

    def status(self, now: float) -> str:
        if self.expired(now):
            return "UNKNOWN"
        if self.canceled_at is not None:
            return "CANCELED"
        if now < self.scheduled:
            return "PENDING"
        if now < self.planned_end:
            return "RUNNING"
        if self.fail is not None or (self.artifact is not None and self.artifact.error):
            return "FAILED"
        if self.artifact is None or self.artifact.ready_at is None:
            return "RUNNING"
        return "SUCCEEDED"

    def end_time(self, now: float) -> float | None:
        """When the task ended (None while it has not)."""
        status = self.status(now)
        if status == "CANCELED":
            return self.canceled_at
        if status == "FAILED":
            return self.planned_end
        if status == "SUCCEEDED":
            return self.success_time()
        return None

    def success_time(self) -> float | None:
        """When the task SUCCEEDED or will (None if it will not, or its video is not ready yet)."""
        a = self.artifact
        if self.fail is not None or self.canceled_at is not None or a is None or a.error:
            return None
        return None if a.ready_at is None else max(self.planned_end, a.ready_at)

    def url_expires(self) -> float | None:
        """When the video URL stops working (None if there is no video)."""
        done = self.success_time()
        return None if done is None else done + self.url_ttl

    def failure(self) -> tuple[str, str]:
        if self.fail is not None:
            return self.fail
        return (
            "InternalError",
            f"Rendering failed: {self.artifact.error if self.artifact else ''}",
        )

    def output(self, now: float, video_url: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The query answer's ``output`` and ``usage`` at ``now`` (docs/dashscope-api.md §3)."""
        status = self.status(now)
        out: dict[str, Any] = {"task_id": self.task_id, "task_status": status}
        if status == "UNKNOWN":
            return out, None
        out["submit_time"] = format_time(self.submit)
        if status in ("RUNNING", "SUCCEEDED", "FAILED"):
            out["scheduled_time"] = format_time(self.scheduled)
        end = self.end_time(now)
        if end is not None:
            out["end_time"] = format_time(end)
        if status == "FAILED":
            out["code"], out["message"] = self.failure()
        if status == "SUCCEEDED":
            out["orig_prompt"] = self.orig_prompt
            if self.actual_prompt is not None:
                out["actual_prompt"] = self.actual_prompt
            out["video_url"] = video_url
            return out, dict(self.usage)
        return out, None

    def list_entry(self, now: float) -> dict[str, Any]:
        """One entry of the task list (docs/dashscope-api.md §4.2): times in epoch milliseconds."""
        status = self.status(now)
        started = self.scheduled if status in ("RUNNING", "SUCCEEDED", "FAILED") else None
        end = self.end_time(now)
        return {
            "task_id": self.task_id,
            "status": status,
            "model_name": self.model,
            "request_id": self.request_id,
            "gmt_create": list_time(self.submit),
            "start_time": list_time(started),
            "end_time": list_time(end),
            "gmt_finished": list_time(end),
            "region": vendor_region(self.region),
        }


@dataclass(frozen=True)
class ListQuery:
    """Filters of the list endpoint, already parsed (epoch seconds)."""

    start: float
    end: float
    model: str | None = None
    status: str | None = None
    task_id: str | None = None
    page_no: int = 1
    page_size: int = 10


class TaskStore:
    """Every task the emulator knows, by id. Thread-safe; the lock also guards task fields."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._tasks: dict[str, Task] = {}

    def add(self, task: Task) -> None:
        with self.lock:
            self._tasks[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        with self.lock:
            return self._tasks.get(task_id)

    def in_flight(self, group: str, now: float) -> int:
        """Tasks of rate group ``group`` (or of a family in no group) PENDING or RUNNING at ``now``."""
        with self.lock:
            return sum(
                1
                for t in self._tasks.values()
                if (t.spec.rate_group or t.spec.family) == group
                and t.status(now) in ("PENDING", "RUNNING")
            )

    def cancel(self, task_id: str, now: float) -> bool:
        """Cancel a PENDING task; False if there is none with this id or it is not PENDING."""
        with self.lock:
            task = self._tasks.get(task_id)
            if task is None or task.status(now) != "PENDING":
                return False
            task.canceled_at = now
            return True

    def query(self, q: ListQuery, now: float) -> tuple[list[dict[str, Any]], int]:
        """One page of the tasks matching ``q`` (newest first) and the total that match."""
        canonical = None
        if q.model is not None:
            spec = catalogue().get(q.model)
            canonical = spec.name if spec else q.model
        with self.lock:
            matches = [
                t
                for t in self._tasks.values()
                if not t.expired(now)
                and q.start <= t.submit <= q.end
                and (canonical is None or t.spec.name == canonical)
                and (q.status is None or t.status(now) == q.status)
                and (q.task_id is None or t.task_id == q.task_id)
            ]
            matches.sort(key=lambda t: t.submit, reverse=True)
            first = (q.page_no - 1) * q.page_size
            page = [t.list_entry(now) for t in matches[first : first + q.page_size]]
        return page, len(matches)

    def purge(self, now: float) -> list[Task]:
        """Forget tasks whose id and URL have both expired; return them (to drop their files)."""
        with self.lock:
            gone = []
            for t in list(self._tasks.values()):
                url_end = t.url_expires()
                if t.expired(now) and (url_end is None or now >= url_end):
                    gone.append(self._tasks.pop(t.task_id))
            return gone

    def artifacts_in_use(self) -> set[str]:
        with self.lock:
            return {t.artifact.key for t in self._tasks.values() if t.artifact is not None}

    def __len__(self) -> int:
        with self.lock:
            return len(self._tasks)


def parse_list_query(arg: Callable[[str], str | None], now: float) -> ListQuery:
    """The list endpoint's filters (``arg(name)`` reads one); ValueError naming a bad one."""
    times = {}
    for name in ("start_time", "end_time"):
        text = arg(name)
        if text is not None:
            try:
                times[name] = parse_list_time(text)
            except ValueError:
                raise ValueError(f"{name} {text!r} must be YYYYMMDDhhmmss (UTC+8)") from None
    end = times.get("end_time", now)
    start = times.get("start_time", end - DAY)
    if end < start:
        raise ValueError("end_time must not be before start_time")
    if end - start > DAY:
        raise ValueError("start_time and end_time must be at most 24 hours apart")
    ints = {}
    for name, default, hi in (("page_no", 1, None), ("page_size", 10, MAX_PAGE_SIZE)):
        text = arg(name)
        try:
            value = default if text is None else int(text)
        except ValueError:
            raise ValueError(f"{name} {text!r} must be a whole number") from None
        if value < 1 or (hi is not None and value > hi):
            allowed = f"from 1 to {hi}" if hi else "at least 1"
            raise ValueError(f"{name} {value} must be {allowed}")
        ints[name] = value
    status = arg("status")
    if status is not None and status not in STATUSES[:-1]:
        raise ValueError(f"status {status!r} must be one of {', '.join(STATUSES[:-1])}")
    return ListQuery(
        start=start,
        end=end,
        model=arg("model_name"),
        status=status,
        task_id=arg("task_id"),
        **ints,
    )


def total_pages(total: int, page_size: int) -> int:
    return math.ceil(total / page_size) if total else 0
