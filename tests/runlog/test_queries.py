"""The run log's answers to the engine's questions."""

from __future__ import annotations

from pathlib import Path

from wanbook._runlog.queries import recent_timings
from wanbook._runlog.store import RunLog


def test_recent_timings_filters_like_runs(tmp_path: Path) -> None:
    log = RunLog.open(tmp_path)
    base = dict(
        model="wan2.5-t2v-preview",
        tier="480P",
        backend="emulator",
        endpoint_host="127.0.0.1:1",
        params={"duration": 5},
        status="SUCCEEDED",
        queue_seconds=1.0,
        run_seconds=3.0,
    )
    log.insert(**base)
    log.insert(**{**base, "queue_seconds": 2.0})
    log.insert(**{**base, "status": "FAILED"})
    log.insert(**{**base, "tier": "720P"})
    log.insert(**{**base, "params": {"duration": 10}})
    log.insert(**{**base, "endpoint_host": "127.0.0.1:2"})
    log.insert(**{**base, "backend": "intl"})
    log.insert(**{**base, "model": "wan2.2-t2v-plus"})
    log.insert(**{**base, "run_seconds": None})
    got = recent_timings(
        log,
        model="wan2.5-t2v-preview",
        tier="480P",
        duration=5,
        backend="emulator",
        endpoint_host="127.0.0.1:1",
    )
    assert sorted(got) == [(1.0, 3.0), (2.0, 3.0)]
    log.close()
