"""The run log as a DataFrame: dtypes, parameters as columns, filters, order, the kept copy."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from wanbook._errors import RunLogError
from wanbook._frames import DEFAULT_COLUMNS
from wanbook._runlog import COLUMNS, STATUSES, RunLog

UTC = timezone.utc
TEXT = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"
TIME = "datetime64[us, UTC]"


@pytest.fixture
def log(tmp_path: Path) -> Any:
    with RunLog.open(tmp_path) as opened:
        yield opened


def add(log: RunLog, **fields: Any) -> str:
    base: dict[str, Any] = {
        "model": "wan2.2-t2v-plus",
        "kind": "t2v",
        "backend": "emulator",
        "region": "intl",
        "tier": "480P",
        "prompt": "a kitten",
        "seed": 1,
        "params": {"size": "832*480", "duration": 5, "prompt_extend": False, "seed": 1},
        "tags": ["a"],
        "experiment": "e1",
    }
    return log.insert(**{**base, **fields})


EXPECTED_DTYPES = {
    "created_at": TIME,
    "experiment": TEXT,
    "tags": "object",
    "backend": "category",
    "region": "category",
    "model": "category",
    "kind": "category",
    "prompt": TEXT,
    "negative_prompt": TEXT,
    "seed": "Int64",
    "param_duration": "Int64",
    "param_fps": "float64",
    "param_prompt_extend": "boolean",
    "param_sent": "object",
    "param_size": TEXT,
    "status": "category",
    "error_code": TEXT,
    "error_message": TEXT,
    "task_id": TEXT,
    "submit_time": TIME,
    "scheduled_time": TIME,
    "end_time": TIME,
    "queue_seconds": "float64",
    "run_seconds": "float64",
    "actual_prompt": TEXT,
    "video_path": TEXT,
    "width": "Int64",
    "height": "Int64",
    "duration": "float64",
    "has_audio": "boolean",
    "billed_seconds": "float64",
    "tier": "category",
    "cost": "float64",
    "currency": "category",
    "estimate": "float64",
    "estimate_currency": "category",
    "image_sha256": TEXT,
    "fingerprint": TEXT,
}


def test_default_view_dtypes(log: RunLog) -> None:
    a = add(log, params={"size": "832*480", "duration": 5, "fps": 30, "prompt_extend": True})
    add(log, params={"fps": 29.97, "sent": ["size"]}, seed=None)
    log.update(a, status="SUCCEEDED", cost=0.1, currency="USD", width=832, has_audio=False)
    df = log.dataframe()
    assert {c: str(t) for c, t in df.dtypes.items()} == EXPECTED_DTYPES
    assert list(df.columns) == list(EXPECTED_DTYPES)  # params where `params` is, by name
    assert df.index.name == "run_id" and df.index[0] == a
    assert list(df["status"].cat.categories) == list(STATUSES)
    first, second = df.iloc[0], df.iloc[1]
    assert (first["param_size"], first["param_duration"], first["param_fps"]) == ("832*480", 5, 30)
    assert bool(first["param_prompt_extend"]) and pd.isna(second["param_prompt_extend"])
    assert second["param_sent"] == ("size",) and pd.isna(second["seed"])
    assert first["tags"] == ["a"] and isinstance(first["tags"], list)
    assert first["cost"] == 0.1 and np.isnan(second["cost"])  # NULL cost: unknown, not 0
    assert not pd.isna(first["has_audio"]) and not first["has_audio"]
    assert pd.isna(second["has_audio"])


def test_all_columns_view(log: RunLog) -> None:
    run_id = add(log, usage={"duration": 5}, request_body={"model": "x", "input": {}})
    log.update(run_id, video_url_expires_at="2026-01-02T00:00:00+08:00", pid=7)
    df = log.dataframe(columns="all")
    assert "seq" not in df.columns and "params" not in df.columns
    expected = [c for c in COLUMNS if c not in ("run_id", "seq", "params")]
    assert [c for c in df.columns if not c.startswith("param_")] == expected
    row = df.iloc[0]
    assert row["usage"] == {"duration": 5} and row["request_body"] == {"model": "x", "input": {}}
    assert row["video_url_expires_at"] == pd.Timestamp("2026-01-01T16:00:00Z")
    assert str(df.dtypes["updated_at"]) == TIME and str(df.dtypes["pid"]) == "Int64"
    assert str(df.dtypes["price_table_date"]) == TEXT


def test_chosen_columns(log: RunLog) -> None:
    add(log)
    df = log.dataframe(columns=["cost", "model", "params"])
    assert list(df.columns) == ["cost", "model", "param_duration", "param_prompt_extend"] + [
        "param_size"
    ]
    for bad in (["colour"], ["seq"], ["run_id"]):
        with pytest.raises(RunLogError, match="not run log columns"):
            log.dataframe(columns=bad)


def test_an_empty_log_gives_an_empty_frame_with_dtypes(log: RunLog) -> None:
    df = log.dataframe()
    assert len(df) == 0 and df.index.name == "run_id"
    assert str(df.dtypes["created_at"]) == TIME and str(df.dtypes["cost"]) == "float64"
    assert str(df.dtypes["status"]) == "category" and str(df.dtypes["seed"]) == "Int64"


def test_rows_are_in_creation_order(log: RunLog) -> None:
    late = add(log, created_at="2026-03-01T00:00:00+00:00")
    early = add(log, created_at="2026-01-01T00:00:00+00:00")
    tie_b = add(log, run_id="b", created_at="2026-02-01T00:00:00+00:00")
    tie_a = add(log, run_id="a", created_at="2026-02-01T00:00:00+00:00")
    assert list(log.dataframe().index) == [early, tie_a, tie_b, late]
    assert list(log.dataframe(columns=["prompt"]).index) == [early, tie_a, tie_b, late]


FILTERS = [
    {},
    {"experiment": "e2"},
    {"experiment": ["e1", "e2"]},
    {"model": "wanx2.1-t2v-turbo"},  # an alias of wan2.1-t2v-turbo
    {"status": "SUCCEEDED"},
    {"status": ["FAILED", "SUCCEEDED"]},
    {"since": "2026-01-02"},
    {"since": datetime(2026, 1, 2, 12, tzinfo=UTC)},
    {"since": "2026-01-02T12:00:00"},  # naive: read as UTC
    {"tag": "b"},
    {"tag": ["a", "b"]},
    {"backend": "intl"},
    {"experiment": "e1", "status": "SUCCEEDED", "tag": "a", "backend": "emulator"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters_agree_with_the_sql_ones(log: RunLog, filters: dict[str, Any]) -> None:
    for day in range(1, 5):
        created = f"2026-01-0{day}T00:00:00+00:00"
        add(log, created_at=created, status="SUCCEEDED", experiment="e1", tags=["a"])
        add(log, created_at=created, model="wan2.1-t2v-turbo", experiment="e2", tags=["a", "b"])
        add(log, created_at=created, status="FAILED", backend="intl", tags=[])
    expected = [r["run_id"] for r in log.runs(**filters)]
    kept = log.dataframe(**filters)  # from the kept copy
    fresh = log.dataframe(columns=list(DEFAULT_COLUMNS), **filters)  # through SQL
    assert list(kept.index) == expected
    pd.testing.assert_frame_equal(kept, fresh)
    assert expected  # every filter here selects something


def test_bad_filters_are_refused(log: RunLog) -> None:
    with pytest.raises(RunLogError, match="status='DONE'"):
        log.dataframe(status="DONE")
    with pytest.raises(RunLogError, match="since='soon'"):
        log.dataframe(since="soon")


def test_the_caller_cannot_change_the_kept_copy(log: RunLog) -> None:
    add(log, usage={"duration": 5})
    df = log.dataframe(columns=None)
    df.iloc[0]["tags"].append("mutated")
    df["cost"] = 99.0
    again = log.dataframe()
    assert again.iloc[0]["tags"] == ["a"] and np.isnan(again.iloc[0]["cost"])


def cold(log: RunLog) -> pd.DataFrame:
    """The default view read afresh, as a new process would."""
    with RunLog.open(log.home) as other:
        return other.dataframe()


def test_the_kept_copy_follows_every_change(log: RunLog) -> None:
    """After each random change (here, by another process), the kept view == a fresh read."""
    rng = random.Random(4)
    writer = RunLog.open(log.home)
    ids = [add(writer) for _ in range(5)]
    log.dataframe()
    changes = [
        lambda: ids.append(add(writer, model=rng.choice(["wan2.6-t2v", "wan2.1-t2v-turbo"]))),
        lambda: writer.update(rng.choice(ids), status=rng.choice(STATUSES)),
        lambda: writer.update(
            rng.choice(ids), cost=rng.random(), currency=rng.choice(["USD", "CNY"])
        ),
        lambda: writer.update(rng.choice(ids), params={"size": "1280*720", "shot_type": "multi"}),
        lambda: writer.update(rng.choice(ids), tags=["x", str(rng.random())]),
        lambda: writer.update(rng.choice(ids), end_time=datetime.now(UTC), width=1280),
        lambda: ids.append(add(writer, created_at="2025-01-01T00:00:00+00:00", tier=None)),
        lambda: writer.update(rng.choice(ids), experiment=None, error_message="boom"),
    ]
    full_reads = []
    real = log.query

    def spy(sql: str, params: Any = ()) -> Any:
        if sql.startswith("SELECT run_id, seq") and "WHERE" not in sql:
            full_reads.append(sql)
        return real(sql, params)

    log.query = spy  # type: ignore[method-assign]
    for step in range(40):
        for _ in range(rng.randint(0, 3)):
            rng.choice(changes)()
        pd.testing.assert_frame_equal(log.dataframe(), cold(log), obj=f"step {step}")
    writer.close()
    assert full_reads == []  # every change merged into the kept copy


def test_a_change_of_dtype_reads_everything_again(log: RunLog) -> None:
    """A parameter that was always an integer gets a float: merging cannot keep Int64."""
    first = add(log)
    assert str(log.dataframe().dtypes["param_duration"]) == "Int64"
    log.update(first, params={"duration": 7.5})
    df = log.dataframe()
    assert str(df.dtypes["param_duration"]) == "float64" and df.loc[first, "param_duration"] == 7.5
    pd.testing.assert_frame_equal(df, cold(log))


def test_rows_removed_outside_wanbook_are_noticed(log: RunLog) -> None:
    keep, gone = add(log), add(log)
    assert len(log.dataframe()) == 2
    log._db().execute("DELETE FROM runs WHERE run_id = ?", [gone])  # e.g. the sqlite3 shell
    assert list(log.dataframe().index) == [keep]


def test_a_large_log_reads_only_what_changed(log: RunLog) -> None:
    rows = [(f"r{i:05d}", f"2026-01-01T00:00:{i % 60:02d}.{i:06d}+00:00") for i in range(2000)]
    db = log._db()
    db.executemany(
        "INSERT INTO runs (run_id, created_at, updated_at, status, model) "
        "VALUES (?, ?, ?, 'SUCCEEDED', 'wan2.6-t2v')",
        [(r, t, t) for r, t in rows],
    )
    assert len(log.dataframe()) == 2000
    seen: list[str] = []
    real = log.query

    def spy(sql: str, params: Any = ()) -> Any:
        seen.append(sql)
        return real(sql, params)

    log.query = spy  # type: ignore[method-assign]
    log.update("r00007", status="FAILED")
    df = log.dataframe()
    assert df.loc["r00007", "status"] == "FAILED" and len(df) == 2000
    assert any("WHERE seq > ?" in sql for sql in seen)
    reads = [sql for sql in seen if sql.startswith("SELECT run_id, seq")]
    assert reads and all("WHERE seq > ?" in sql for sql in reads)  # no full read


def test_import_wanbook_does_not_import_pandas() -> None:
    code = (
        "import sys, wanbook, wanbook._runlog, wanbook._frames, wanbook._pricing, "
        "wanbook._migrations; print('pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_columns_are_run_log_columns() -> None:
    assert set(DEFAULT_COLUMNS) <= set(COLUMNS)
