"""The run log as a DataFrame: dtypes, parameters as columns, filters, order, the kept copy."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from wanbook._errors import RunLogError
from wanbook._runlog import dataframe as _frames
from wanbook._runlog import dataframe_cache as _framestore
from wanbook._runlog.dataframe import DEFAULT_COLUMNS, _store_path, runs_frame
from wanbook._runlog.store import COLUMNS, STATUSES, RunLog
from wanbook._sql import Database, render

UTC = UTC
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
    "model": "category",
    "status": "category",
    "cost": "float64",
    "currency": "category",
    "seed": "Int64",
    "tier": "category",
    "duration": "float64",
    "created_at": TIME,
    "experiment": TEXT,
    "prompt": TEXT,
    "error_message": TEXT,
    "tags": "object",
    "backend": "category",
    "region": "category",
    "kind": "category",
    "negative_prompt": TEXT,
    "param_duration": "Int64",
    "param_fps": "float64",
    "param_prompt_extend": "boolean",
    "param_sent": "object",
    "param_size": TEXT,
    "error_code": TEXT,
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
    "has_audio": "boolean",
    "billed_seconds": "float64",
    "estimate": "float64",
    "estimate_currency": "category",
    "image_sha256": TEXT,
    "fingerprint": TEXT,
}


def test_default_view_dtypes(log: RunLog) -> None:
    a = add(log, params={"size": "832*480", "duration": 5, "fps": 30, "prompt_extend": True})
    add(log, params={"fps": 29.97, "sent": ["size"]}, seed=None)
    log.update(a, status="SUCCEEDED", cost=0.1, currency="USD", width=832, has_audio=False)
    df = runs_frame(log)
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
    df = runs_frame(log, columns="all")
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
    df = runs_frame(log, columns=["cost", "model", "params"])
    assert list(df.columns) == ["cost", "model", "param_duration", "param_prompt_extend"] + [
        "param_size"
    ]
    for bad in (["colour"], ["seq"], ["run_id"]):
        with pytest.raises(RunLogError, match="not run log columns"):
            runs_frame(log, columns=bad)


def test_an_empty_log_gives_an_empty_frame_with_dtypes(log: RunLog) -> None:
    df = runs_frame(log)
    assert len(df) == 0 and df.index.name == "run_id"
    assert str(df.dtypes["created_at"]) == TIME and str(df.dtypes["cost"]) == "float64"
    assert str(df.dtypes["status"]) == "category" and str(df.dtypes["seed"]) == "Int64"


def test_rows_are_in_creation_order(log: RunLog) -> None:
    late = add(log, created_at="2026-03-01T00:00:00+00:00")
    early = add(log, created_at="2026-01-01T00:00:00+00:00")
    tie_b = add(log, run_id="b", created_at="2026-02-01T00:00:00+00:00")
    tie_a = add(log, run_id="a", created_at="2026-02-01T00:00:00+00:00")
    assert list(runs_frame(log).index) == [early, tie_a, tie_b, late]
    assert list(runs_frame(log, columns=["prompt"]).index) == [early, tie_a, tie_b, late]


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
    kept = runs_frame(log, **filters)  # from the kept copy
    fresh = runs_frame(log, columns=list(DEFAULT_COLUMNS), **filters)  # through SQL
    assert list(kept.index) == expected
    pd.testing.assert_frame_equal(kept, fresh)
    assert expected  # every filter here selects something


def test_bad_filters_are_refused(log: RunLog) -> None:
    with pytest.raises(RunLogError, match="status='DONE'"):
        runs_frame(log, status="DONE")
    with pytest.raises(RunLogError, match="since='soon'"):
        runs_frame(log, since="soon")


def test_the_caller_cannot_change_the_kept_copy(log: RunLog) -> None:
    add(log, usage={"duration": 5})
    df = runs_frame(log, columns=None)
    df.iloc[0]["tags"].append("mutated")
    df["cost"] = 99.0
    again = runs_frame(log)
    assert again.iloc[0]["tags"] == ["a"] and np.isnan(again.iloc[0]["cost"])


def cold(log: RunLog) -> pd.DataFrame:
    """The default view read afresh from SQLite (no kept copy, in memory or on disk)."""
    with RunLog.open(log.home) as other:
        return runs_frame(other, columns=list(DEFAULT_COLUMNS))


def spy_full_reads(log: RunLog) -> list[str]:
    """The full reads (every run from SQLite) ``log`` makes from now on."""
    full_reads: list[str] = []
    real = log.query

    def spy(sql: str, params: Any = (), **kw: Any) -> Any:
        if sql.startswith("SELECT run_id, seq") and "WHERE" not in sql:
            full_reads.append(sql)
        return real(sql, params, **kw)

    log.query = spy  # type: ignore[method-assign]
    return full_reads


def test_the_kept_copy_follows_every_change(log: RunLog) -> None:
    """After each random change (here, by another process), the kept view == a fresh read."""
    rng = random.Random(4)
    writer = RunLog.open(log.home)
    ids = [add(writer) for _ in range(5)]
    runs_frame(log)
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

    def spy(sql: str, params: Any = (), **kw: Any) -> Any:
        if sql.startswith("SELECT run_id, seq") and "WHERE" not in sql:
            full_reads.append(sql)
        return real(sql, params, **kw)

    log.query = spy  # type: ignore[method-assign]
    for step in range(40):
        for _ in range(rng.randint(0, 3)):
            rng.choice(changes)()
        pd.testing.assert_frame_equal(runs_frame(log), cold(log), obj=f"step {step}")
    writer.close()
    assert full_reads == []  # every change merged into the kept copy


def test_a_change_of_dtype_reads_everything_again(log: RunLog) -> None:
    """A parameter that was always an integer gets a float: merging cannot keep Int64."""
    first = add(log)
    assert str(runs_frame(log).dtypes["param_duration"]) == "Int64"
    log.update(first, params={"duration": 7.5})
    df = runs_frame(log)
    assert str(df.dtypes["param_duration"]) == "float64" and df.loc[first, "param_duration"] == 7.5
    pd.testing.assert_frame_equal(df, cold(log))


def test_rows_removed_outside_wanbook_are_noticed(log: RunLog) -> None:
    keep, gone = add(log), add(log)
    assert len(runs_frame(log)) == 2
    log.db.execute("DELETE FROM runs WHERE run_id = ?", [gone])  # e.g. the sqlite3 shell
    assert list(runs_frame(log).index) == [keep]


def test_a_large_log_reads_only_what_changed(log: RunLog) -> None:
    rows = [(f"r{i:05d}", f"2026-01-01T00:00:{i % 60:02d}.{i:06d}+00:00") for i in range(2000)]
    insert_many(
        log,
        "INSERT INTO runs (run_id, created_at, updated_at, status, model) "
        "VALUES (?, ?, ?, 'SUCCEEDED', 'wan2.6-t2v')",
        [(r, t, t) for r, t in rows],
    )
    assert len(runs_frame(log)) == 2000
    seen: list[str] = []
    real = log.query

    def spy(sql: str, params: Any = (), **kw: Any) -> Any:
        seen.append(sql)
        return real(sql, params, **kw)

    log.query = spy  # type: ignore[method-assign]
    log.update("r00007", status="FAILED")
    df = runs_frame(log)
    assert df.loc["r00007", "status"] == "FAILED" and len(df) == 2000
    since = _frames._changed_since(log)  # WHERE seq > ? (PostgreSQL: change_xid >= ?)
    reads = [sql for sql in seen if sql.startswith("SELECT run_id, seq")]
    assert reads and all(since in sql for sql in reads)  # no full read


def insert_many(log: RunLog, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows written as another tool would (many at once, past wanbook's checks)."""
    if log.dialect == "sqlite":
        log.db.raw().executemany(sql, rows)
        return
    with log.db.raw().cursor() as cur:
        cur.executemany(render(sql), rows)


def test_import_wanbook_does_not_import_pandas() -> None:
    code = (
        "import sys, wanbook, wanbook._runlog.store, wanbook._runlog.dataframe, "
        "wanbook._runlog.dataframe_cache, wanbook._spec.prices, wanbook._runlog.migrations; "
        "print('pandas' in sys.modules or 'numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_default_columns_are_run_log_columns() -> None:
    assert set(DEFAULT_COLUMNS) <= set(COLUMNS)


# ------------------------------------------------------------------ the kept copy, on disk
def varied(log: RunLog, n: int) -> list[str]:
    """``n`` runs with every kind of column filled in different ways."""
    ids = []
    for i in range(n):
        ids.append(
            add(
                log,
                created_at=f"2026-01-01T00:00:{i:02d}.{i:06d}+00:00",
                model=["wan2.6-t2v", "wan2.1-t2v-turbo"][i % 2],
                seed=None if i % 3 == 0 else i,
                params={"size": "832*480", "duration": 5 + i % 2, "sent": ["size"] * (i % 2)},
                tags=[f"t{i % 3}", "x"][: 1 + i % 2],
                prompt=f"prompt {i} ✓" if i % 4 else f"with a {NUL[log.dialect]} inside",
            )
        )
        if i % 2:
            log.update(ids[-1], status="SUCCEEDED", cost=0.1 * i, currency="USD", width=832)
    return ids


# PostgreSQL text cannot hold NUL (test_store: refused with a clear error); another control there
NUL = {"sqlite": "NUL \x00", "postgresql": "control \x01"}


def on_disk(log: RunLog) -> Path:
    return _store_path(log)


def test_a_new_log_object_loads_the_copy_on_disk(log: RunLog, monkeypatch: Any) -> None:
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 5)
    varied(log, 4)
    runs_frame(log)
    assert not on_disk(log).exists()  # below PERSIST_MIN_ROWS: not worth a file
    varied(log, 4)
    first = runs_frame(log)
    assert on_disk(log).exists()
    with RunLog.open(log.home) as other:
        full_reads = spy_full_reads(other)
        pd.testing.assert_frame_equal(runs_frame(other), first)
        assert full_reads == []  # loaded, not read from SQLite
        runs_frame(other, model="wan2.6-t2v")  # filters work on the loaded copy
    pd.testing.assert_frame_equal(first, cold(log))


def saved_seq(log: RunLog) -> int:
    with np.load(on_disk(log), allow_pickle=False) as archive:
        return int(json.loads(archive["meta"].tobytes())["seq"])


def test_the_copy_is_rewritten_once_enough_runs_changed(log: RunLog, monkeypatch: Any) -> None:
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 5)
    ids = varied(log, 6)
    runs_frame(log)
    written = saved_seq(log)
    for run_id in ids[:4]:  # 4 runs changed: fewer than 5, the file stays
        log.update(run_id, status="FAILED")
        runs_frame(log)
    assert saved_seq(log) == written
    log.update(ids[4], status="FAILED")
    runs_frame(log)  # the 5th: rewritten
    assert saved_seq(log) > written
    with RunLog.open(log.home) as other:
        full_reads = spy_full_reads(other)
        pd.testing.assert_frame_equal(runs_frame(other), cold(log))
        assert full_reads == []


def replace_log(log: RunLog, source: Path) -> None:
    """Put the SQLite file ``source`` where ``log``'s is (as a user restoring a backup would)."""
    log.close()
    for suffix in ("-wal", "-shm"):
        log.path.with_name(log.path.name + suffix).unlink(missing_ok=True)
    log.path.write_bytes(source.read_bytes())


def backup(log: RunLog, to: Path) -> Path:
    target = sqlite3.connect(to)
    log.db.raw().backup(target)
    target.close()
    return to


def delete(log: RunLog, run_id: str) -> None:
    log.db.execute("DELETE FROM runs WHERE run_id = ?", [run_id])  # e.g. the sqlite3 shell


def newest(log: RunLog) -> str:
    return str(log.query("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1")[1][0][0])


# What happens between the copy being written and a new process reading it, and whether that
# process can use the copy (True) or must read every run (False).
CHANGES: dict[str, tuple[Any, bool]] = {
    "nothing": (lambda log, tmp: None, True),
    "runs added and changed": (
        lambda log, tmp: (varied(log, 2), log.update(newest(log), tags=["new"])),
        True,
    ),
    "the newest run updated": (lambda log, tmp: log.update(newest(log), error_code="E"), True),
    "a run deleted": (lambda log, tmp: delete(log, log.runs()[0]["run_id"]), False),
    "the newest deleted, another added (its seq given again)": (
        lambda log, tmp: (delete(log, newest(log)), add(log, prompt="new")),
        False,
    ),
    "the log replaced by another": (
        lambda log, tmp: replace_log(log, fresh_log(tmp / "other", 9)),
        False,
    ),
    "an older backup restored": (
        lambda log, tmp: replace_log(log, tmp / "backup.sqlite"),
        False,
    ),
}


def fresh_log(home: Path, n: int) -> Path:
    with RunLog.open(home) as other:
        varied(other, n)
    return home / "runs.sqlite"


@pytest.mark.sqlite_only  # backups and files put in place; PostgreSQL: test_pg_watermark below
@pytest.mark.parametrize("change", list(CHANGES))
def test_the_copy_on_disk_is_used_only_when_it_still_fits(
    tmp_path: Path, monkeypatch: Any, change: str
) -> None:
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    home = tmp_path / "home"
    log = RunLog.open(home)
    varied(log, 6)
    backup(log, tmp_path / "backup.sqlite")
    varied(log, 2)
    runs_frame(log)  # the copy on disk
    make, usable = CHANGES[change]
    make(log, tmp_path)
    log.close()
    with RunLog.open(home) as reader:
        full_reads = spy_full_reads(reader)
        df = runs_frame(reader)
        assert (full_reads == []) is usable
        pd.testing.assert_frame_equal(df, cold(reader))
        assert list(df.index) == [r["run_id"] for r in reader.runs()]


@pytest.mark.parametrize("how", ["garbage", "another view", "another pandas"])
def test_a_copy_on_disk_that_does_not_fit_is_replaced(
    log: RunLog, monkeypatch: Any, how: str
) -> None:
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    varied(log, 3)
    expected = runs_frame(log)
    if how == "garbage":
        on_disk(log).write_bytes(b"PK\x03\x04 not really a zip")
    else:
        key = {"view": ["prompt"]} if how == "another view" else {"pandas": "1"}
        meta = {**_frames._view_key(), "seq": 10**9, "marker": None, **key}
        assert _framestore.save(on_disk(log), expected, meta)
    with RunLog.open(log.home) as reader:
        full_reads = spy_full_reads(reader)
        pd.testing.assert_frame_equal(runs_frame(reader), expected)
        assert len(full_reads) == 1
    with RunLog.open(log.home) as reader:  # and the file was written afresh
        full_reads = spy_full_reads(reader)
        pd.testing.assert_frame_equal(runs_frame(reader), expected)
        assert full_reads == []


def test_a_home_where_the_copy_cannot_be_written_still_works(log: RunLog, monkeypatch: Any) -> None:
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    on_disk(log).mkdir()  # nothing can be written there
    varied(log, 3)
    pd.testing.assert_frame_equal(runs_frame(log), cold(log))
    assert sorted(p.name for p in log.home.iterdir() if "frame" in p.name) == [on_disk(log).name]


def test_the_newest_run_deleted_and_its_seq_given_again_is_noticed(log: RunLog) -> None:
    """In memory too: the kept copy's newest run is gone, a new run takes its change number."""
    writer = RunLog.open(log.home)
    varied(writer, 3)
    runs_frame(log)
    gone = newest(writer)
    delete(writer, gone)
    new = add(writer, prompt="takes the same seq")
    assert log.get(new)["seq"] == log.query("SELECT MAX(seq) FROM runs")[1][0][0]
    df = runs_frame(log)
    assert new in df.index and gone not in df.index
    pd.testing.assert_frame_equal(df, cold(log))
    writer.close()


CHILD = r"""
import json, sys
import pandas as pd
from wanbook._runlog import dataframe as _frames
from wanbook._runlog.dataframe import DEFAULT_COLUMNS, runs_frame
from wanbook._runlog.store import RunLog

home, action, db = sys.argv[1], sys.argv[2], sys.argv[3] or None
_frames.PERSIST_MIN_ROWS = 1
with RunLog.open(home, db=db) as log:
    full_reads = []
    real = log.query
    def spy(sql, params=(), **kw):
        if sql.startswith("SELECT run_id, seq") and "WHERE" not in sql:
            full_reads.append(sql)
        return real(sql, params, **kw)
    log.query = spy
    df = runs_frame(log)
    used_copy = not full_reads
    pd.testing.assert_frame_equal(df, runs_frame(log, columns=list(DEFAULT_COLUMNS)))
    if action == "change":
        new = log.insert(model="wan2.6-t2v", prompt="from the child", tags=["child"])
        log.update(new, status="SUCCEEDED", cost=0.5, currency="CNY", params={"fps": 24.5})
        first = log.runs()[0]["run_id"]
        log.update(first, status="FAILED", error_message="changed by the child")
    elif action == "delete the newest":
        newest = log.query("SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1")[1][0][0]
        log.db.execute("DELETE FROM runs WHERE run_id = ?", [newest])
        log.insert(model="wan2.6-t2v", prompt="takes its seq")
print(json.dumps({"used_copy": used_copy, "rows": len(df)}))
"""


def child(log: RunLog, action: str) -> dict[str, Any]:
    """Run CHILD in a new process on ``log`` (its home, and its PostgreSQL URL if it has one)."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(log.home), action, log.db.target.url or ""],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_copy_on_disk_across_processes(log: RunLog, monkeypatch: Any) -> None:
    """Processes read the copy another wrote, and see each other's changes and deletions."""
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    varied(log, 5)
    runs_frame(log)  # written by this process
    assert child(log, "change") == {"used_copy": True, "rows": 5}
    with RunLog.open(log.home) as reader:  # the child's changes: merged into the copy
        full_reads = spy_full_reads(reader)
        df = runs_frame(reader)
        assert full_reads == [] and len(df) == 6 and "from the child" in set(df["prompt"])
        pd.testing.assert_frame_equal(df, cold(log))
    pd.testing.assert_frame_equal(runs_frame(log), cold(log))  # this process's kept copy too
    assert child(log, "delete the newest") == {"used_copy": True, "rows": 6}
    pd.testing.assert_frame_equal(runs_frame(log), cold(log))
    with RunLog.open(log.home) as reader:
        pd.testing.assert_frame_equal(runs_frame(reader), cold(log))
    assert child(log, "read") == {"used_copy": True, "rows": 6}


def test_random_changes_read_through_the_copy_on_disk(log: RunLog, monkeypatch: Any) -> None:
    """Each step a new reader (no kept copy in memory) gets the same frame as a fresh read,
    deletions included, the copy on disk rewritten after every change."""
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    rng = random.Random(7)
    ids = varied(log, 5)

    def drop(run_id: str) -> None:
        if len(ids) > 2:
            ids.remove(run_id)
            delete(log, run_id)

    changes = [
        lambda: ids.append(add(log, model=rng.choice(["wan2.6-t2v", "wan2.1-t2v-turbo"]))),
        lambda: log.update(rng.choice(ids), status=rng.choice(STATUSES), has_audio=True),
        lambda: log.update(rng.choice(ids), params={"shot_type": "multi", "n": rng.random()}),
        lambda: log.update(rng.choice(ids), tags=["y", str(rng.randint(0, 3))]),
        lambda: drop(rng.choice(ids)),
        lambda: drop(newest(log)),  # its seq is given again to the next change
    ]
    used_copy = 0
    for step in range(25):
        for _ in range(rng.randint(0, 2)):
            rng.choice(changes)()
        with RunLog.open(log.home) as reader:
            full_reads = spy_full_reads(reader)
            df = runs_frame(reader)
            used_copy += not full_reads
            pd.testing.assert_frame_equal(df, cold(log), obj=f"step {step}")
    assert used_copy >= 10  # the copy was used, not read afresh every time


def test_a_change_made_during_a_read_is_not_half_seen(log: RunLog) -> None:
    """The checks and reads of one call see one state: here another process adds a run between
    two of its queries, after a deletion (which only the row count reveals)."""
    writer = RunLog.open(log.home)
    ids = varied(writer, 4)
    runs_frame(log)
    delete(writer, ids[1])
    expected = cold(log)  # the state when the next read starts
    real = log.query

    added: list[str] = []

    def racing(sql: str, params: Any = (), **kw: Any) -> Any:
        out = real(sql, params, **kw)
        # after the first read of runs: the changed ones (SQLite, which then counts the runs),
        # or all of them (PostgreSQL, whose trigger told of the deletion first)
        if sql.startswith("SELECT run_id, seq") and not added:
            added.append(add(writer, prompt="added meanwhile"))
        return out

    log.query = racing  # type: ignore[method-assign]
    pd.testing.assert_frame_equal(runs_frame(log), expected)  # not 4 runs with the deleted one
    log.query = real  # type: ignore[method-assign]
    df = runs_frame(log)
    assert len(df) == 4 and ids[1] not in df.index
    pd.testing.assert_frame_equal(df, cold(log))
    writer.close()


def test_status_and_cost_are_not_hidden_in_a_wide_frame(log: RunLog) -> None:
    """pandas shows only the first and last columns of a wide frame (20 by default): what a
    person looks for (model, status, cost, currency, seed) comes first."""
    add(log)
    df = runs_frame(log)
    with pd.option_context("display.max_columns", 20, "display.width", 10_000):
        shown = repr(df).splitlines()[0]
    for name in ("model", "status", "cost", "currency", "seed"):
        assert name in shown.split(), shown


# ------------------------------------------------------------------ PostgreSQL's watermark
@pytest.mark.postgresql_only
def test_a_change_committed_late_with_a_lower_seq_is_not_missed(
    log: RunLog, monkeypatch: Any
) -> None:
    """PostgreSQL hands out seq numbers at write time but commits in any order: a writer holds
    its transaction open with seq n while another commits n+1. A reader that kept "seq > n+1"
    would never read n (an update: the row count cannot tell); the view goes by the transaction
    watermark and reads it, in this process and in a new one starting from the copy on disk."""
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    ids = varied(log, 3)
    runs_frame(log)
    slow = Database.open(str(log.db.target.url))
    quick = RunLog.open(log.home)
    with slow.transaction():
        slow.execute(
            "UPDATE runs SET status = 'FAILED', error_message = 'committed late' WHERE run_id = ?",
            [ids[0]],
        )
        early = quick.insert(prompt="committed first")
        df = runs_frame(log)  # sees the committed run, not the open transaction's change
        assert early in df.index and df.loc[ids[0], "status"] != "FAILED"
        (late_seq,) = slow.query("SELECT seq FROM runs WHERE run_id = ?", [ids[0]])[1][0]
        assert late_seq < quick.get(early)["seq"]  # the hazard: a lower number, committed later
    full_reads = spy_full_reads(log)
    df = runs_frame(log)
    assert full_reads == []  # merged, not found by reading everything again
    assert (
        df.loc[ids[0], "status"] == "FAILED" and df.loc[ids[0], "error_message"] == "committed late"
    )
    pd.testing.assert_frame_equal(df, cold(log))
    assert child(log, "read") == {"used_copy": True, "rows": 4}  # the copy on disk, up to date
    slow.close()
    quick.close()


@pytest.mark.postgresql_only
def test_a_copy_of_another_postgresql_log_is_not_used(
    log: RunLog, monkeypatch: Any, pg_server: Any
) -> None:
    """The log made again at the same URL (a dropped schema, a restored dump) is another log:
    the copy of the old one is not merged into it."""
    monkeypatch.setattr(_frames, "PERSIST_MIN_ROWS", 1)
    varied(log, 4)
    runs_frame(log)
    url, home = str(log.db.target.url), log.home
    schema = log.query("SELECT current_schema()")[1][0][0]
    log.close()
    pg_server.drop_schema(schema)
    with Database.open(pg_server.url) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    with RunLog.open(home, db=url) as again:
        varied(again, 2)
        full_reads = spy_full_reads(again)
        df = runs_frame(again)
        assert full_reads and len(df) == 2
        pd.testing.assert_frame_equal(df, cold(again))
