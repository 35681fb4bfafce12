"""Run log migrations: from empty, from every earlier schema, once only, never edited, documented."""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing
import re
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from wanbook._errors import RunLogError
from wanbook._runlog import migrations as _migrations
from wanbook._runlog.migrations import MIGRATIONS, applied, migrate
from wanbook._runlog.store import COLUMNS, RunLog

DOCS = Path(__file__).resolve().parents[2] / "docs" / "runlog-schema.md"

# The columns of `runs` once every migration has run, in table order (docs/runlog-schema.md).
EXPECTED_COLUMNS = [
    *["run_id", "created_at", "updated_at", "experiment", "tags", "backend", "endpoint_host"],
    *["wanbook_version", "model", "kind", "prompt", "negative_prompt", "seed", "params"],
    *["request_body", "image_sha256", "image_bytes", "image_width", "image_height", "task_id"],
    *["request_id", "status", "error_code", "error_message", "submitted_at", "submit_time"],
    *["scheduled_time", "end_time", "queue_seconds", "run_seconds", "actual_prompt"],
    *["video_url", "video_url_expires_at", "video_path", "video_sha256", "video_bytes", "width"],
    *["height", "fps", "duration", "has_audio", "usage", "billed_seconds", "tier"],
    *["price_per_second", "cost", "currency", "price_table_date", "estimate"],
    *["estimate_currency", "fingerprint", "finished_at"],
    # m003_run_context
    *["region", "hostname", "pid", "last_polled_at", "image_source", "rerun_of"],
    # m004_change_seq
    "seq",
    # m007_video_uri
    "video_uri",
]

# A shipped migration is never edited. If this fails you changed one: revert it and append a new
# migration instead. Adding a migration means adding its line here.
SHIPPED = {
    "m001_initial": "8a8ad4c9ec360a20",
    "m002_indexes": "45c54fc2dd2d2153",
    "m003_run_context": "68ea66e4ea3ee3c5",
    "m004_change_seq": "39a4052fd05f2a75",
    "m005_judgements": "a14eadb3cc1e52b0",
    "m006_uploads": "f8a72db4c01b3097",  # a table of its own: the runs columns are unchanged
    "m007_video_uri": "c3a8a6eca7d7c0be",
}


def _source_hash(fn: object) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def columns(db: sqlite3.Connection) -> list[str]:
    return [row[1] for row in db.execute("PRAGMA table_info(runs)")]


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_migrations_are_registered_in_order_and_unchanged() -> None:
    names = [name for name, _ in MIGRATIONS]
    assert names == list(SHIPPED)
    for i, name in enumerate(names, start=1):
        assert re.fullmatch(rf"m{i:03d}_[a-z0-9_]+", name), name
    assert {name: _source_hash(fn) for name, fn in MIGRATIONS} == SHIPPED


def test_a_migration_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        _migrations.migration(_migrations.m001_initial)
    assert len(MIGRATIONS) == len(SHIPPED)


def test_from_empty(tmp_path: Path) -> None:
    with RunLog.open(tmp_path / "home") as log:
        assert log.path == tmp_path / "home" / "runs.sqlite"
    db = connect(tmp_path / "home" / "runs.sqlite")
    assert columns(db) == EXPECTED_COLUMNS == list(COLUMNS)
    rows = db.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()
    assert [name for name, _ in rows] == list(SHIPPED)
    for _, applied_at in rows:
        assert datetime.fromisoformat(applied_at).utcoffset().total_seconds() == 0


@pytest.mark.parametrize("last", list(SHIPPED)[:-1])
def test_from_every_earlier_schema(tmp_path: Path, last: str) -> None:
    """A log made by an older wanbook (its migrations up to ``last``) opens, upgraded, data kept."""
    path = tmp_path / "runs.sqlite"
    db = connect(path)
    assert migrate(db, until=last) == list(SHIPPED)[: list(SHIPPED).index(last) + 1]
    db.execute(
        "INSERT INTO runs (run_id, created_at, updated_at, model, status, params, cost)"
        " VALUES ('old', '2025-01-01T00:00:00.000000+00:00', '2025-01-01T00:00:00.000000+00:00',"
        " 'wan2.1-t2v-turbo', 'SUCCEEDED', '{\"size\":\"1280*720\"}', 0.18)"
    )
    before = dict(db.execute("SELECT name, applied_at FROM _migrations").fetchall())
    db.close()

    with RunLog.open(tmp_path) as log:
        old = log.get("old")
        assert old is not None
        assert (old["model"], old["status"], old["params"], old["cost"]) == (
            "wan2.1-t2v-turbo",
            "SUCCEEDED",
            {"size": "1280*720"},
            0.18,
        )
        log.insert(run_id="new", prompt="after the upgrade")
        assert {r["run_id"] for r in log.find()} == {"old", "new"}
    db = connect(path)
    assert columns(db) == EXPECTED_COLUMNS
    after = dict(db.execute("SELECT name, applied_at FROM _migrations").fetchall())
    assert list(after) == list(SHIPPED)
    assert {k: after[k] for k in before} == before  # earlier records untouched
    seqs = [s for (s,) in db.execute("SELECT seq FROM runs ORDER BY seq")]
    assert None not in seqs and len(set(seqs)) == 2


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    db = connect(tmp_path / "runs.sqlite")
    assert migrate(db) == list(SHIPPED)
    assert migrate(db) == []
    assert applied(db) == list(SHIPPED)


def test_migrate_rolls_back_a_failed_migration(tmp_path: Path) -> None:
    """A migration that fails leaves the schema as it was (SQLite DDL is transactional)."""
    db = connect(tmp_path / "runs.sqlite")
    migrate(db, until="m001_initial")
    db.execute("CREATE INDEX idx_runs_status ON runs (status)")  # m002 will collide with this
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrate(db)
    assert applied(db) == ["m001_initial"]
    assert not db.in_transaction


def test_until_must_name_a_migration(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="m999_nothing"):
        migrate(connect(tmp_path / "x.sqlite"), until="m999_nothing")


def test_a_log_from_a_newer_wanbook_still_opens(tmp_path: Path) -> None:
    """A migration this version does not know is left alone: the log opens and reads, but is not
    written (issue 14 #12: its constraints and triggers may need what this version lacks)."""
    with RunLog.open(tmp_path) as log:
        run_id = log.insert(prompt="written before")
    db = connect(tmp_path / "runs.sqlite")
    db.execute("ALTER TABLE runs ADD COLUMN future TEXT")
    db.execute("INSERT INTO _migrations VALUES ('m999_future', '2030-01-01T00:00:00+00:00')")
    db.close()
    with RunLog.open(tmp_path) as log:
        assert log.get(run_id)["prompt"] == "written before"  # type: ignore[index]
        with pytest.raises(RunLogError, match="newer wanbook"):
            log.insert(prompt="not written")


def _open_fresh(home: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait(timeout=30)  # a worker that fails to open must not hang the others
    RunLog.open(home).close()


def test_processes_opening_a_fresh_log_at_once_migrate_it_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_fresh, args=(str(tmp_path), barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    for p in procs:
        if p.is_alive():  # never leave a worker behind, whatever happened
            p.kill()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    db = connect(tmp_path / "runs.sqlite")
    assert [n for (n,) in db.execute("SELECT name FROM _migrations")] == list(SHIPPED)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _documented() -> list[tuple[str, str]]:
    """(column, type) rows of the table under "## The `runs` table" in docs/runlog-schema.md."""
    text = DOCS.read_text("utf-8")
    section = text.split("## The `runs` table", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in rows]
    assert cells[0][:2] == ["column", "type"]
    return [(c[0], c[1]) for c in cells[1:]]


def test_the_schema_is_documented(tmp_path: Path) -> None:
    documented = _documented()
    with RunLog.open(tmp_path):
        pass
    assert [name for name, _ in documented] == columns(connect(tmp_path / "runs.sqlite"))
    assert dict(documented) == COLUMNS


def test_every_migration_is_documented() -> None:
    text = DOCS.read_text("utf-8")
    for name in SHIPPED:
        assert f"| {name} |" in text
