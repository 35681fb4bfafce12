"""What a task's answer means for its run's row: the run-log fields of an answer, the model name
the list endpoint knows a run by, and the row of a run whose outcome is lost.

Pure translations, kept apart from the :class:`~wanbook._engine.tracker.Tracker` that writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wanbook._api.tasks import Task
from wanbook._spec.catalogue import catalogue

__all__ = ["TASK_TTL", "expired", "task_fields", "wire_model"]

TASK_TTL = timedelta(hours=24)  # wan-api.md §1: task ids and video URLs live 24 hours


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
