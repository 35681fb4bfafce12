"""The run log's schema and values: columns, statuses, how each value is stored, and filters.

Pure (no connection): :mod:`wanbook._runlog.store` stores with these, :mod:`wanbook._runlog.dataframe` reads with
them. Times are UTC ISO-8601 text with microseconds, structured values JSON text. Local paths are
stored absolute; :func:`local_path` reads older relative ones back.
"""

from __future__ import annotations

import json
import math
import operator
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from wanbook._errors import RunLogError
from wanbook._spec.prices import canonical_model

__all__ = [
    "BUSY_TIMEOUT_S",
    "COLUMNS",
    "FILTERS",
    "STATUSES",
    "TERMINAL",
    "UNFINISHED",
    "as_list",
    "decode",
    "encode",
    "local_path",
    "new_run_id",
    "parse_time",
    "since_iso",
    "utc_iso",
    "utc_now",
    "where",
]

# Every column of `runs`, in table order, and how its values are stored: text, int, real,
# bool (0/1), json (text), time (UTC ISO text). The current schema, all migrations applied.
_SCHEMA = """
run_id:text created_at:time updated_at:time experiment:text tags:json backend:text
endpoint_host:text wanbook_version:text model:text kind:text prompt:text negative_prompt:text
seed:int params:json request_body:json image_sha256:text image_bytes:int image_width:int
image_height:int task_id:text request_id:text status:text error_code:text error_message:text
submitted_at:time submit_time:time scheduled_time:time end_time:time queue_seconds:real
run_seconds:real actual_prompt:text video_url:text video_url_expires_at:time video_path:text
video_sha256:text video_bytes:int width:int height:int fps:real duration:real has_audio:bool
usage:json billed_seconds:real tier:text price_per_second:real cost:real currency:text
price_table_date:text estimate:real estimate_currency:text fingerprint:text finished_at:time
region:text hostname:text pid:int last_polled_at:time image_source:text rerun_of:text seq:int
video_uri:text
"""


def _pair(item: str) -> tuple[str, str]:
    name, kind = item.split(":")
    return name, kind


COLUMNS: dict[str, str] = dict(_pair(item) for item in _SCHEMA.split())

UNFINISHED = ("PREPARED", "SUBMITTING", "AMBIGUOUS", "PENDING", "RUNNING")
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN", "EXPIRED", "ERROR", "NOT_CREATED")
STATUSES = UNFINISHED + TERMINAL
BUSY_TIMEOUT_S = 30.0
FILTERS = ("experiment", "model", "status", "since", "tag", "backend")


def new_run_id() -> str:
    """26 hex characters: milliseconds since the epoch, then 56 random bits (sorts by time)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(7).hex()}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def utc_iso(value: Any, field: str = "time") -> str:
    """A moment as stored: UTC ISO-8601 with microseconds. Naive times are refused (ambiguous)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            raise RunLogError(
                f"{field}={value!r} is not a time; expected an ISO-8601 time with a UTC offset"
            ) from None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        moment = datetime.fromtimestamp(value, UTC)  # epoch seconds
    else:
        raise RunLogError(f"{field}={value!r} is not a time; expected a datetime or ISO-8601 text")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RunLogError(
            f"{field}={value!r} has no time zone; give a UTC offset (server times are UTC+8)"
        )
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(value: Any) -> datetime | None:
    """A time read back from the log (ISO text as stored, or a datetime) as an aware UTC
    datetime; naive text is taken as UTC (rows written by early versions); None if not a time."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def since_iso(value: Any) -> str:
    """A ``since`` filter as stored time text. Unlike a stored time, a filter may be naive
    (``"2026-11-01"``, ``datetime(2026, 11, 1)``): it is read as UTC."""
    if isinstance(value, str) and len(value.strip()) == 10:
        value = value.strip() + "T00:00:00+00:00"  # a date
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is None:
            value = parsed.replace(tzinfo=UTC)
    elif isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return utc_iso(value, "since")


def encode(column: str, value: Any) -> Any:
    """A Python value as stored in ``column``; a clear error naming the column when it cannot be."""
    kind = COLUMNS[column]
    if value is None:
        return None
    if kind == "json":
        if column == "tags" and not (
            isinstance(value, (list, tuple)) and all(isinstance(t, str) for t in value)
        ):
            raise RunLogError(f"tags={value!r} is not allowed; expected a list of strings")
        if column != "tags" and not isinstance(value, dict):
            raise RunLogError(f"{column}={value!r} is not allowed; expected a dict")
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise RunLogError(f"{column} cannot be stored as JSON: {exc}") from exc
    if kind == "time":
        return utc_iso(value, column)
    if kind in ("int", "bool"):
        if kind == "bool" and isinstance(value, bool):
            return int(value)
        try:
            if isinstance(value, bool):
                raise TypeError
            number = operator.index(value)  # int and numpy integers, not floats or bools
        except TypeError:
            raise RunLogError(
                f"{column}={value!r} is not allowed; expected "
                + ("True or False" if kind == "bool" else "an integer")
            ) from None
        return number if kind == "int" else int(bool(number))
    if kind == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RunLogError(f"{column}={value!r} is not allowed; expected a number")
        return None if math.isnan(value) else float(value)  # NaN is stored as NULL (unknown)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise RunLogError(f"{column}={value!r} is not allowed; expected text")
    if column == "model":
        return canonical_model(value)  # one name per model: wanx2.1-t2v-turbo is wan2.1-t2v-turbo
    if column == "status" and value not in STATUSES:
        raise RunLogError(f"status={value!r} is not allowed; expected one of {', '.join(STATUSES)}")
    return value


def decode(row: sqlite3.Row | tuple[Any, ...], names: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in zip(names, row, strict=True):
        kind = COLUMNS.get(name)
        if kind == "json":
            value = json.loads(value) if value is not None else ([] if name == "tags" else None)
        elif kind == "bool" and value is not None:
            value = bool(value)
        out[name] = value
    if isinstance(out.get("params"), dict) and out.get("seed") is not None:
        out["params"].setdefault("seed", out["seed"])  # stored once, in the seed column
    return out


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def where(filters: Mapping[str, Any], dialect: str = "sqlite") -> tuple[str, list[Any]]:
    """The SQL ``WHERE`` clause (or "") and its parameters for the view filters, in the SQL of
    ``dialect`` (``"sqlite"`` or ``"postgresql"``: only the tag test differs).

    ``experiment``, ``model``, ``status``, ``backend``: a value or a list of values (any of them);
    ``since``: runs created at or after this time; ``tag``: a tag, or a list of tags (all of them).
    """
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise RunLogError(
            f"unknown filter {', '.join(sorted(unknown))}; allowed: {', '.join(FILTERS)}"
        )
    clauses: list[str] = []
    params: list[Any] = []
    for name in ("experiment", "model", "status", "backend"):
        value = filters.get(name)
        if value is None:
            continue
        values = as_list(value)
        if name == "model":
            values = [canonical_model(str(v)) for v in values]
        if name == "status":
            for v in values:
                encode("status", v)
        clauses.append(f"{name} IN ({', '.join('?' * len(values))})")
        params += values
    if filters.get("since") is not None:
        clauses.append("created_at >= ?")
        params.append(since_iso(filters["since"]))
    each = "jsonb_array_elements_text(runs.tags::jsonb)" if dialect == "postgresql" else None
    for tag in as_list(filters["tag"]) if filters.get("tag") is not None else []:
        if each is not None:
            clauses.append(f"EXISTS (SELECT 1 FROM {each} AS t (value) WHERE value = ?)")
        else:
            clauses.append("EXISTS (SELECT 1 FROM json_each(runs.tags) WHERE value = ?)")
        params.append(tag)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def local_path(value: str, home: Path, *, video: bool = False) -> str:
    """A logged local path, absolute. Paths are stored absolute; rows written before that (by
    wanbook 0.x with a relative ``WANBOOK_HOME``) hold paths relative to the working directory
    of the time, resolved here: a video by its name in ``<home>/videos`` (where every video is
    kept), anything else against the working directory, else the home's parent (the working
    directory of the default home) — the first that exists, else the working directory's.
    URLs and placeholders such as ``<bytes>`` are returned as given."""
    if value.startswith("<") or "://" in value or value[:5].lower() == "data:":
        return value
    path = Path(value)
    if path.is_absolute():
        return value
    here = Path.cwd() / path
    candidates = ([home / "videos" / path.name] if video else []) + [here, home.parent / path]
    return os.path.abspath(next((c for c in candidates if c.exists()), here))
