"""Questions the engine asks the run log, answered with SQL over the ``runs`` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wanbook._runlog.store import RunLog

__all__ = ["HISTORY_AGE", "HISTORY_SIZE", "recent_timings"]

HISTORY_SIZE = 20  # the most recent similar runs considered
HISTORY_AGE = timedelta(days=2)  # older runs say little about today's queue


def recent_timings(
    log: RunLog,
    *,
    model: str,
    tier: str | None,
    duration: int | None,
    backend: str,
    endpoint_host: str | None,
    limit: int = HISTORY_SIZE,
    max_age: timedelta = HISTORY_AGE,
) -> list[tuple[float | None, float | None]]:
    """(queue_seconds, run_seconds) of the most recent SUCCEEDED runs like this one in the run log.
    The host is part of "like": two emulators may run at other paces."""
    since = (datetime.now(UTC) - max_age).isoformat(timespec="microseconds")
    if log.dialect == "postgresql":  # no `IS ?` and no json_extract: JSON values compared
        same, length = "IS NOT DISTINCT FROM", "params::jsonb -> 'duration'"
        number = "to_jsonb(?::bigint)"
    else:
        same, length, number = "IS", "json_extract(params, '$.duration')", "?"
    _, rows = log.query(
        "SELECT queue_seconds, run_seconds FROM runs"
        f" WHERE status = 'SUCCEEDED' AND model = ? AND tier {same} ? AND backend = ?"
        f" AND endpoint_host {same} ? AND {length} {same} {number}"
        " AND queue_seconds IS NOT NULL AND run_seconds IS NOT NULL AND created_at >= ?"
        " ORDER BY created_at DESC LIMIT ?",
        [model, tier, backend, endpoint_host, duration, since, limit],
    )
    return [(q, r) for q, r in rows]
