"""The run log: write-ahead rows, validated updates, lookups, money, concurrency, no key, exports."""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY
from wanbook._errors import RunLogError
from wanbook._runlog.export import export
from wanbook._runlog.store import (
    COLUMNS,
    STATUSES,
    TERMINAL,
    UNFINISHED,
    RunLog,
    new_run_id,
    utc_iso,
)
from wanbook._secret import Secret
from wanbook._version import __version__

UTC = UTC


@pytest.fixture
def log(tmp_path: Path) -> Any:
    with RunLog.open(tmp_path / "home") as opened:
        yield opened


def realistic(**overrides: Any) -> dict[str, Any]:
    """A write-ahead row as the session writes it (image already replaced by its hash)."""
    row: dict[str, Any] = {
        "experiment": "foxes",
        "tags": ["snow", "study-1"],
        "backend": "intl",
        "region": "intl",
        "endpoint_host": "dashscope-intl.aliyuncs.com",
        "model": "wan2.6-i2v-flash",
        "kind": "i2v",
        "prompt": "a red fox in the snow",
        "negative_prompt": "blurry",
        "seed": 7,
        "params": {"resolution": "720P", "duration": 5, "seed": 7, "audio": False},
        "request_body": {
            "model": "wan2.6-i2v-flash",
            "input": {"prompt": "a red fox in the snow", "img_url": "sha256:ab12…"},
            "parameters": {"resolution": "720P", "duration": 5, "seed": 7, "audio": False},
        },
        "image_sha256": "ab12" * 16,
        "image_bytes": 123456,
        "image_width": 1280,
        "image_height": 720,
        "image_source": "fox.png",
        "tier": "720P",
        "estimate": 0.125,
        "estimate_currency": "USD",
        "fingerprint": "f" * 64,
    }
    row.update(overrides)
    return row


# ----------------------------------------------------------------------------------- opening
@pytest.mark.sqlite_only  # the SQLite file, its WAL mode and PRAGMAs
def test_open_creates_the_folder_in_wal_mode(tmp_path: Path) -> None:
    home = tmp_path / "a" / "b"
    with RunLog.open(home) as log:
        assert log.path == home / "runs.sqlite" and log.path.exists() and log.home == home
        assert log.query("PRAGMA journal_mode")[1] == [("wal",)]
        assert log.query("PRAGMA busy_timeout")[1] == [(30000,)]
        assert log.query("PRAGMA synchronous")[1] == [(1,)]  # NORMAL
        assert "runs.sqlite" in repr(log)
    assert "closed" in repr(log)
    with pytest.raises(RunLogError, match="closed"):
        log.get("x")


def test_open_refuses_a_home_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunLogError, match="cannot create the run log folder"):
        RunLog.open(tmp_path / "file")


# ------------------------------------------------------------------------- insert and update
def test_insert_writes_the_write_ahead_row_with_defaults(log: RunLog) -> None:
    before = datetime.now(UTC)
    run_id = log.insert(**realistic())
    run = log.get(run_id)
    assert run is not None
    assert set(run) == set(COLUMNS)
    assert run["status"] == "PREPARED" and run["finished_at"] is None
    assert run["wanbook_version"] == __version__
    assert (run["pid"], run["hostname"]) == (os.getpid(), os.uname().nodename)
    assert run["created_at"] == run["updated_at"]
    assert before <= datetime.fromisoformat(run["created_at"]) <= datetime.now(UTC)
    assert run["tags"] == ["snow", "study-1"]
    assert run["params"] == {"resolution": "720P", "duration": 5, "seed": 7, "audio": False}
    assert run["request_body"]["input"]["img_url"] == "sha256:ab12…"
    assert run["seq"] >= 1


def test_run_ids_are_unique_and_sort_by_time(log: RunLog) -> None:
    ids = [new_run_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 26 for i in ids)
    first = log.insert()
    later = log.insert()
    assert first[:12] <= later[:12]
    assert log.insert(run_id="mine") == "mine"
    with pytest.raises(RunLogError, match="run_id='mine' exists already"):
        log.insert(run_id="mine")


def test_update_changes_fields_and_the_time(log: RunLog) -> None:
    run_id = log.insert(**realistic())
    created = log.get(run_id)["created_at"]  # type: ignore[index]
    log.update(run_id, status="PENDING", task_id="task-1", request_id="req-1")
    run = log.get(run_id)
    assert run is not None
    assert (run["status"], run["task_id"], run["request_id"]) == ("PENDING", "task-1", "req-1")
    assert run["updated_at"] > created and run["created_at"] == created
    log.update(run_id, usage={"duration": 5, "SR": 720, "audio": False}, has_audio=False)
    run = log.get(run_id)
    assert run["usage"] == {"duration": 5, "SR": 720, "audio": False}  # type: ignore[index]
    assert run["has_audio"] is False  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"colour": "red"}, "unknown run log column.*'colour'"),
        ({"tags": "snow"}, "tags='snow' is not allowed; expected a list of strings"),
        ({"tags": ["ok", 3]}, "expected a list of strings"),
        ({"params": ["size"]}, "params=\\['size'\\] is not allowed; expected a dict"),
        ({"usage": "5 s"}, "usage='5 s' is not allowed"),
        ({"params": {"image": b"\x89PNG"}}, "params cannot be stored as JSON"),
        ({"params": {"x": math.nan}}, "params cannot be stored as JSON"),
        ({"seed": 7.5}, "seed=7.5 is not allowed; expected an integer"),
        ({"seed": True}, "seed=True is not allowed"),
        ({"has_audio": "yes"}, "has_audio='yes' is not allowed; expected True or False"),
        ({"cost": "0.5"}, "cost='0.5' is not allowed; expected a number"),
        ({"prompt": 42}, "prompt=42 is not allowed; expected text"),
        ({"status": "DONE"}, "status='DONE' is not allowed; expected one of PREPARED"),
        ({"end_time": "2025-09-25 11:17:11.650"}, "end_time=.* has no time zone"),
        ({"end_time": datetime(2025, 9, 25)}, "end_time=.* has no time zone"),
        ({"end_time": "yesterday"}, "end_time='yesterday' is not a time"),
        ({"seq": 5}, "seq is kept by the run log"),
        ({"run_id": "other"}, "run_id cannot be changed"),
    ],
)
def test_update_refuses_bad_fields_naming_them(
    log: RunLog, fields: dict[str, Any], message: str
) -> None:
    run_id = log.insert()
    before = log.get(run_id)
    with pytest.raises(RunLogError, match=message):
        log.update(run_id, **fields)
    assert log.get(run_id) == before


def test_update_of_a_missing_run(log: RunLog) -> None:
    with pytest.raises(RunLogError, match="no run with run_id='nope'"):
        log.update("nope", status="RUNNING")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2025-09-25T11:07:28.590+08:00", "2025-09-25T03:07:28.590000+00:00"),  # server, UTC+8
        ("2025-09-25T03:07:28Z", "2025-09-25T03:07:28.000000+00:00"),
        (
            datetime(2025, 9, 25, 11, 7, 28, tzinfo=timezone(timedelta(hours=8))),
            "2025-09-25T03:07:28.000000+00:00",
        ),
        (0, "1970-01-01T00:00:00.000000+00:00"),
        (1758769648.5, "2025-09-25T03:07:28.500000+00:00"),
    ],
)
def test_times_are_stored_in_utc(log: RunLog, value: Any, stored: str) -> None:
    assert utc_iso(value) == stored
    run_id = log.insert(submit_time=value)
    assert log.get(run_id)["submit_time"] == stored  # type: ignore[index]


def test_nan_is_stored_as_unknown(log: RunLog) -> None:
    run_id = log.insert(estimate=math.nan, cost=float("nan"))
    run = log.get(run_id)
    assert run["estimate"] is None and run["cost"] is None  # type: ignore[index]


def test_a_terminal_status_sets_finished_at_once(log: RunLog) -> None:
    run_id = log.insert()
    log.update(run_id, status="RUNNING")
    assert log.get(run_id)["finished_at"] is None  # type: ignore[index]
    log.update(run_id, status="SUCCEEDED")
    finished = log.get(run_id)["finished_at"]  # type: ignore[index]
    assert finished is not None
    log.update(run_id, status="SUCCEEDED", video_path="v.mp4")
    assert log.get(run_id)["finished_at"] == finished  # type: ignore[index]
    given = log.insert(status="ERROR", finished_at="2025-01-01T00:00:00+00:00")
    assert log.get(given)["finished_at"] == "2025-01-01T00:00:00.000000+00:00"  # type: ignore[index]
    assert log.get(log.insert(status="NOT_CREATED"))["finished_at"] is not None  # type: ignore[index]


def test_models_are_stored_by_their_canonical_name(log: RunLog) -> None:
    run_id = log.insert(model="wanx2.1-t2v-turbo")
    assert log.get(run_id)["model"] == "wan2.1-t2v-turbo"  # type: ignore[index]
    assert log.get(log.insert(model="my-custom-model"))["model"] == "my-custom-model"  # type: ignore[index]


def test_the_seed_is_stored_once(log: RunLog) -> None:
    same = log.insert(seed=7, params={"size": "832*480", "seed": 7})
    stored = log.query("SELECT params FROM runs WHERE run_id = ?", [same])[1][0][0]
    assert json.loads(stored) == {"size": "832*480"}
    assert log.get(same)["params"] == {"size": "832*480", "seed": 7}  # type: ignore[index]
    server_chose = log.insert(seed=None, params={"size": "832*480"})
    assert log.get(server_chose)["params"] == {"size": "832*480"}  # type: ignore[index]
    differ = log.insert(seed=1, params={"seed": 2})
    assert log.get(differ)["params"] == {"seed": 2}  # type: ignore[index]


def test_path_values_are_stored_as_text(log: RunLog, tmp_path: Path) -> None:
    run_id = log.insert(video_path=tmp_path / "v.mp4")
    assert log.get(run_id)["video_path"] == str(tmp_path / "v.mp4")  # type: ignore[index]


# --------------------------------------------------------------------------------- lookups
def test_get_and_find(log: RunLog) -> None:
    a = log.insert(**realistic(experiment="a"))
    b = log.insert(**realistic(experiment="b", seed=None))
    assert log.get("missing") is None
    assert [r["run_id"] for r in log.find(experiment="a")] == [a]
    assert [r["run_id"] for r in log.find(seed=None)] == [b]
    assert [r["run_id"] for r in log.find(model="wan2.6-i2v-flash", kind="i2v")] == [a, b]
    assert [r["run_id"] for r in log.find()] == [a, b]
    with pytest.raises(RunLogError, match="'nope'"):
        log.find(nope=1)


@pytest.mark.parametrize(
    ("status", "video_path", "unfinished"),
    [(s, None, True) for s in UNFINISHED]
    + [("SUCCEEDED", None, True), ("SUCCEEDED", "v.mp4", False)]
    + [(s, None, False) for s in TERMINAL if s != "SUCCEEDED"],
)
def test_unfinished(log: RunLog, status: str, video_path: str | None, unfinished: bool) -> None:
    run_id = log.insert(status=status, video_path=video_path)
    assert [r["run_id"] for r in log.unfinished()] == ([run_id] if unfinished else [])


def test_statuses_cover_the_lifecycle() -> None:
    assert set(UNFINISHED) | set(TERMINAL) == set(STATUSES)
    assert not set(UNFINISHED) & set(TERMINAL)


def test_find_reusable_gives_the_latest_success_with_a_video(log: RunLog, tmp_path: Path) -> None:
    def video(name: str) -> str:
        (tmp_path / name).write_bytes(b"mp4")
        return str(tmp_path / name)

    fp = "a" * 64
    assert log.find_reusable(fp) is None
    old = log.insert(fingerprint=fp, status="SUCCEEDED", video_path=video("old.mp4"))
    log.insert(fingerprint=fp, status="FAILED", video_path=video("failed.mp4"))
    log.insert(fingerprint=fp, status="SUCCEEDED")  # not downloaded
    log.insert(fingerprint="b" * 64, status="SUCCEEDED", video_path=video("other.mp4"))
    assert log.find_reusable(fp)["run_id"] == old  # type: ignore[index]
    new = log.insert(fingerprint=fp, status="SUCCEEDED", video_path=video("new.mp4"))
    assert log.find_reusable(fp)["run_id"] == new  # type: ignore[index]
    (tmp_path / "new.mp4").unlink()  # the newest file deleted: the older good one still serves
    assert log.find_reusable(fp)["run_id"] == old  # type: ignore[index]
    (tmp_path / "old.mp4").unlink()
    assert log.find_reusable(fp) is None


def test_runs_with_filters_and_limit(log: RunLog) -> None:
    ids = [
        log.insert(created_at=f"2026-01-0{i}T00:00:00+00:00", experiment="e", tags=["t"])
        for i in range(1, 6)
    ]
    assert [r["run_id"] for r in log.runs()] == ids
    assert [r["run_id"] for r in log.runs(limit=2)] == ids[3:]
    assert [r["run_id"] for r in log.runs(since="2026-01-04")] == ids[3:]
    assert log.runs(tag="t", experiment="e", limit=0) == []
    with pytest.raises(RunLogError, match="limit=-1"):
        log.runs(limit=-1)
    with pytest.raises(RunLogError, match="unknown filter colour"):
        log.runs(colour="red")


# ----------------------------------------------------------------------------- concurrency
def _writer(home: str, worker: int, count: int, barrier: Any) -> None:
    """One process: `count` runs, each an insert and two updates, as fast as it can."""
    barrier.wait(timeout=30)  # all start at once, opening the fresh log together too
    with RunLog.open(home) as log:
        for i in range(count):
            run_id = log.insert(experiment=f"w{worker}", prompt=f"run {i}", params={"i": i})
            log.update(run_id, status="PENDING", task_id=f"task-{worker}-{i}")
            log.update(run_id, status="SUCCEEDED", cost=0.1, currency="USD")


def test_four_processes_write_one_log_and_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 250, barrier)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    for p in procs:
        if p.is_alive():  # never leave a worker behind, whatever happened
            p.kill()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]  # no "database is locked" anywhere
    with RunLog.open(tmp_path) as log:
        rows = log.find()
        assert len(rows) == 1000
        assert {r["status"] for r in rows} == {"SUCCEEDED"}
        assert len({r["task_id"] for r in rows}) == 1000
        assert sum(r["cost"] for r in rows if r["currency"] == "USD") == pytest.approx(100.0)
        seqs = [r["seq"] for r in rows]
        assert len(set(seqs)) == 1000 and max(seqs) == 3000  # every write counted once


def test_a_snapshot_sees_one_state(log: RunLog) -> None:
    """Queries inside ``snapshot()`` ignore what other connections commit meanwhile."""
    log.insert(prompt="before")
    other = RunLog.open(log.home)
    with log.snapshot():
        assert log.count() == 1
        other.insert(prompt="meanwhile")  # a writer is not blocked by the reader
        with log.snapshot():  # nested: the same snapshot
            assert log.count() == 1
        assert [r["prompt"] for r in log.runs()] == ["before"]
    assert log.count() == 2
    with pytest.raises(ZeroDivisionError), log.snapshot():
        1 / 0  # noqa: B018
    assert not log.db.in_transaction and log.count() == 2
    other.close()


def test_threads_share_one_log(log: RunLog) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                run_id = log.insert(experiment=f"t{n}", prompt=str(i))
                log.update(run_id, status="RUNNING")
                assert log.get(run_id)["status"] == "RUNNING"  # type: ignore[index]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(log.find(status="RUNNING")) == 400


def _child_writes(log: RunLog) -> None:
    log.insert(experiment="from the child")
    os._exit(0)


def test_a_log_carried_across_fork_reconnects(log: RunLog) -> None:
    log.insert(experiment="parent")
    proc = multiprocessing.get_context("fork").Process(target=_child_writes, args=(log,))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    assert {r["experiment"] for r in log.find()} == {"parent", "from the child"}


# ----------------------------------------------------------------------------- the API key
def test_the_key_never_reaches_the_database_file(tmp_path: Path) -> None:
    with RunLog.open(tmp_path, secrets=[Secret(TEST_API_KEY)]) as log:
        run_id = log.insert(**realistic())
        log.update(run_id, status="PENDING", task_id="t-1", submitted_at=datetime.now(UTC))
        log.update(
            run_id,
            status="SUCCEEDED",
            usage={"duration": 5, "SR": 720},
            billed_seconds=5.0,
            cost=0.125,
            currency="USD",
            video_url="https://result.example/v.mp4?Expires=1&Signature=x",
            video_path=str(tmp_path / "videos" / f"{run_id}.mp4"),
        )
        for field, value in [
            ("error_message", f"401 for key {TEST_API_KEY}"),
            ("request_body", {"headers": {"Authorization": f"Bearer {TEST_API_KEY}"}}),
            ("params", {"api_key": TEST_API_KEY}),
        ]:
            with pytest.raises(RunLogError, match=f"refusing to write {field}") as info:
                log.update(run_id, **{field: value})
            assert TEST_API_KEY not in str(info.value) and TEST_API_KEY not in repr(log)
        with pytest.raises(RunLogError, match="refusing to write prompt"):
            log.insert(prompt=TEST_API_KEY)
        with pytest.raises(RunLogError, match="params=.* is not allowed") as info:
            log.update(run_id, params=f"Bearer {TEST_API_KEY}")  # a wrong type, shown redacted
        assert TEST_API_KEY not in str(info.value) and "********" in str(info.value)
    for name in ("runs.sqlite", "runs.sqlite-wal", "runs.sqlite-shm"):
        path = tmp_path / name
        if path.exists():
            assert TEST_API_KEY.encode() not in path.read_bytes()


def test_register_secret_accepts_plain_text(log: RunLog) -> None:
    log.register_secret("sk-plain-secret")
    with pytest.raises(RunLogError, match="contains the API key"):
        log.insert(error_message="key sk-plain-secret rejected")


# --------------------------------------------------------------------------------- exports
def test_export_csv_json_and_table(log: RunLog, tmp_path: Path) -> None:
    a = log.insert(**realistic(created_at="2026-01-01T00:00:00+00:00"))
    log.update(a, status="SUCCEEDED", cost=0.125, currency="USD", has_audio=True)
    b = log.insert(prompt='a, "quoted"\nprompt', created_at="2026-01-02T00:00:00+00:00")
    log.update(b, status="SUCCEEDED")  # price unknown

    rows = list(csv.DictReader(io.StringIO(export(log, "csv"))))
    assert list(rows[0]) == [c for c in COLUMNS if c != "video_url"]  # signed: only when asked
    signed = list(csv.DictReader(io.StringIO(export(log, "csv", signed_urls=True))))
    assert list(signed[0]) == list(COLUMNS)
    assert [r["run_id"] for r in rows] == [a, b]
    assert json.loads(rows[0]["tags"]) == ["snow", "study-1"]
    assert rows[0]["has_audio"] == "true" and rows[1]["cost"] == ""
    assert rows[1]["prompt"] == 'a, "quoted"\nprompt'

    records = json.loads(export(log, "json"))
    assert [r["run_id"] for r in records] == [a, b]
    assert records[0]["params"]["seed"] == 7 and records[0]["tags"] == ["snow", "study-1"]

    table = export(log, "table").splitlines()
    assert table[0].split() == ["run_id", "created", "(UTC)", "backend", "model", "status"] + [
        "seed",
        "tier",
        "cost",
        "prompt",
    ]
    assert a in table[1] and "0.1250 USD" in table[1] and "2026-01-01 00:00" in table[1]
    assert b in table[2] and "unknown" in table[2] and 'a, "quoted" prompt' in table[2]

    assert [r["run_id"] for r in json.loads(export(log, "json", limit=1))] == [b]
    out = io.StringIO()
    export(log, "json", out, experiment="foxes")
    assert [r["run_id"] for r in json.loads(out.getvalue())] == [a]
    export(log, "csv", tmp_path / "runs.csv")
    assert (tmp_path / "runs.csv").read_text("utf-8") == export(log, "csv")
    with pytest.raises(RunLogError, match="format='xml' is not allowed"):
        export(log, "xml")


def test_an_empty_log_exports_cleanly(log: RunLog) -> None:
    assert export(log, "table") == "no runs\n"
    assert json.loads(export(log, "json")) == []
    assert export(log, "csv").strip().split(",") == [c for c in COLUMNS if c != "video_url"]


def test_wal_is_checked_not_assumed(tmp_path: Path) -> None:
    import sqlite3
    import warnings

    from wanbook._runlog.store import RunLogWarning, _wal

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conn = sqlite3.connect(tmp_path / "local.sqlite")
        assert _wal(conn, "local.sqlite") == "wal"  # a local disk: WAL, nothing said
        conn.close()
    memory = sqlite3.connect(":memory:")  # SQLite keeps "memory" here, as it keeps "delete" on
    with pytest.warns(RunLogWarning, match="could not switch to WAL.*'memory'.*local disk"):
        assert _wal(memory, "/mnt/nfs/runs.sqlite") == "memory"  # some network file systems
    memory.close()


# ------------------------------------------------------------------ a lost connection
@pytest.mark.postgresql_only  # SQLite has no connection to lose
def test_a_lost_connection_loses_no_write(tmp_path: Path) -> None:
    """The server ends the connection (a restart, a network blip): the next write is sent again
    on a new connection, once."""
    from wanbook._sql import Database

    with RunLog.open(tmp_path) as log:
        run_id = log.insert(prompt="a fox")
        (backend,) = log.query("SELECT pg_backend_pid()")[1][0]
        with Database.open(str(log.db.target.url)) as other:
            other.execute("SELECT pg_terminate_backend(?)", [backend])
        log.update(run_id, status="PENDING", task_id="task-1")
        assert (log.get(run_id) or {})["task_id"] == "task-1"
        assert log.query("SELECT pg_backend_pid()")[1][0][0] != backend


def test_an_insert_sent_again_after_a_lost_commit_is_written_once(tmp_path: Path) -> None:
    """The server committed a write-ahead insert but the answer was lost with the connection;
    sent again, it finds its own row (same run, created at the same microsecond by this process)
    and is not an error. Another run with that id still is."""
    with RunLog.open(tmp_path) as log:
        row = {"run_id": "r1", "created_at": "2026-12-07T10:00:00.000001+00:00", "prompt": "x"}
        assert log.insert(**row) == "r1"
        assert log.insert(**row) == "r1"  # as sent again by the reconnecting connection
        assert log.count() == 1
        with pytest.raises(RunLogError, match="exists already"):
            log.insert(run_id="r1", prompt="another run")


# ------------------------------------------------------------------ uploads
def test_an_upload_is_remembered_until_it_expires_and_replaced(tmp_path: Path) -> None:
    """Files put in the vendor's temporary store: found by hash, backend and region while still
    valid; the same file uploaded again replaces the row (one per key, on both engines)."""

    t0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    with RunLog.open(tmp_path) as log:
        assert log.find_upload("ab" * 32, "intl", "intl", valid_until=t0) is None
        for url, at in (("oss://first", t0), ("oss://second", t0 + timedelta(hours=1))):
            log.remember_upload(
                sha256="ab" * 32,
                backend="intl",
                region="intl",
                size=123,
                source="/tmp/fox.png",
                oss_url=url,
                uploaded_at=at,
                expires_at=at + timedelta(hours=48),
            )
        found = log.find_upload("ab" * 32, "intl", "intl", valid_until=t0 + timedelta(hours=2))
        assert found == "oss://second"
        assert log.find_upload("ab" * 32, "intl", "cn", valid_until=t0) is None
        late = t0 + timedelta(hours=50)
        assert log.find_upload("ab" * 32, "intl", "intl", valid_until=late) is None
        assert log.query("SELECT count(*) FROM uploads")[1] == [(1,)]
