"""A run: one generation as the run log remembers it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from wanbook._errors import TaskFailedError
from wanbook._runlog.schema import TERMINAL

__all__ = ["Run"]


class Run:
    """A read-only view of one run-log row. ``run.record`` is the whole row as a dict.

    Attribute access reads the row (``run.seed``, ``run.cost``, ``run.task_id`` ...).
    """

    __slots__ = ("_record", "reused")

    def __init__(self, record: Mapping[str, Any], *, reused: bool = False) -> None:
        self._record = dict(record)
        self.reused = reused

    @property
    def record(self) -> dict[str, Any]:
        return dict(self._record)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(f"a run has no field {name!r}") from None

    @property
    def ok(self) -> bool:
        return self._record.get("status") == "SUCCEEDED" and bool(self._record.get("video_path"))

    @property
    def finished(self) -> bool:
        return self._record.get("status") in TERMINAL

    @property
    def cost(self) -> float:
        """The cost in ``currency``; NaN while unknown (never a made-up zero)."""
        value = self._record.get("cost")
        return math.nan if value is None else float(value)

    @property
    def video(self) -> Path | None:
        path = self._record.get("video_path")
        return Path(path) if path else None

    def cost_text(self) -> str:
        cost, cur = self.cost, self._record.get("currency")
        if math.isnan(cost):
            return "cost unknown"
        return f"{cost:.4f} {cur or ''}".strip()

    def failure(self) -> TaskFailedError:
        """The error of a run that ended without a video, with the server's code and message."""
        r = self._record
        code: str | None
        message: str | None
        if r.get("status") == "SUCCEEDED":  # ended well, but the video is not on disk
            code, message = "VideoMissing", r.get("error_message") or "no video file"
        else:
            code, message = r.get("error_code"), r.get("error_message")
        return TaskFailedError(_Ended(r.get("task_id"), r.get("status"), code, message, self))

    def to_dict(self) -> dict[str, Any]:
        return self.record

    def __repr__(self) -> str:
        r = self._record
        bits = [
            f"run_id={r.get('run_id')!r}",
            f"model={r.get('model')!r}",
            f"status={r.get('status')!r}",
            f"seed={r.get('seed')!r}",
        ]
        if r.get("video_path"):
            bits.append(f"video={r.get('video_path')!r}")
        bits.append(f"cost={self.cost_text()!r}")
        return f"Run({', '.join(bits)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._record == self._record

    __hash__ = None  # type: ignore[assignment]


class _Ended(NamedTuple):
    """What TaskFailedError reads from a run that ended without a video."""

    task_id: str | None
    status: str | None
    code: str | None
    message: str | None
    run: Run
