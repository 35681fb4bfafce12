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

from tests.runlog.conftest import db_for
from wanbook._errors import RunLogError
from wanbook._runlog import migrations as _migrations
from wanbook._runlog.migrations import MIGRATIONS, applied, migrate
from wanbook._runlog.store import COLUMNS, RunLog
from wanbook._sql import Database, DatabaseError

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
# (The hashes changed once, when the PostgreSQL branches were added; what the SQLite branches
# make is checked apart, against the DDL every earlier version made: SQLITE_DDL below.)
SHIPPED = {
    "m001_initial": "496dab648a1e1011",
    "m002_indexes": "0fdef6f0ee0756c1",
    "m003_run_context": "b3beb7f48dfb6c00",
    "m004_change_seq": "f00b652528d0a4ad",
    "m005_judgements": "ced1a6eb23d1d77a",
    "m006_uploads": "75c2bae826776ecd",  # a table of its own: the runs columns are unchanged
    "m007_video_uri": "84b936c6009f2a42",
    "m008_followers": "324117645c67e4ef",  # a table of its own: the runs columns are unchanged
}

# What SQLite's schema (sqlite_master) is after each migration, hashed: the same as before the
# PostgreSQL branches were added. A SQLite log is never made differently by a new version.
SQLITE_DDL = {
    "m001_initial": "3a18254dad0e81d5",
    "m002_indexes": "bdfd650b93975f5c",
    "m003_run_context": "e5be793eb2ee9980",
    "m004_change_seq": "beda733d00b90388",
    "m005_judgements": "c93cec50e4b274e5",
    "m006_uploads": "8b1ec15f37a94a7c",
    "m007_video_uri": "14677b58eaa88832",
    "m008_followers": "1548ec27e06c4d7d",
}
# PostgreSQL's runs table has one column SQLite's has not: the writing transaction's id, for
# the DataFrame view's watermark (m004; see _runlog.dataframe). Not a run's data.
PG_ONLY = ["change_xid"]


def _source_hash(fn: object) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]  # type: ignore[arg-type]


def columns(log: RunLog | Database, table: str = "runs") -> list[str]:
    """The columns of ``table`` in table order (PostgreSQL's own bookkeeping ones left out)."""
    db = log.db if isinstance(log, RunLog) else log
    if db.dialect == "postgresql":
        rows = db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            " AND table_schema = current_schema() ORDER BY ordinal_position",
            [table],
        )[1]
        return [name for (name,) in rows if name not in PG_ONLY]
    return [row[1] for row in db.query(f"PRAGMA table_info({table})")[1]]


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def database(home: Path) -> Database:
    """A connection to the log ``RunLog.open(home)`` opens (a SQLite file, or its PG schema)."""
    return Database.open(db_for(home) or str(home / "runs.sqlite"))


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


@pytest.mark.sqlite_only  # SQLite's DDL; PostgreSQL's: test_schema_parity
def test_the_sqlite_schema_is_what_earlier_versions_made() -> None:
    db = connect(Path(":memory:"))
    made = {}
    for name, _ in MIGRATIONS:
        migrate(db, until=name)
        rows = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master"
            " WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()
        made[name] = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
    assert made == SQLITE_DDL


def test_from_empty(tmp_path: Path) -> None:
    with RunLog.open(tmp_path / "home") as log:
        if log.dialect == "sqlite":
            assert log.path == tmp_path / "home" / "runs.sqlite"
        assert columns(log) == EXPECTED_COLUMNS == list(COLUMNS)
        rows = log.query("SELECT name, applied_at FROM _migrations ORDER BY applied_at")[1]
    assert [name for name, _ in rows] == list(SHIPPED)
    for _, applied_at in rows:
        assert datetime.fromisoformat(applied_at).utcoffset().total_seconds() == 0


@pytest.mark.parametrize("last", list(SHIPPED)[:-1])
def test_from_every_earlier_schema(tmp_path: Path, last: str) -> None:
    """A log made by an older wanbook (its migrations up to ``last``) opens, upgraded, data kept."""
    db = database(tmp_path)
    assert migrate(db, until=last) == list(SHIPPED)[: list(SHIPPED).index(last) + 1]
    db.execute(
        "INSERT INTO runs (run_id, created_at, updated_at, model, status, params, cost)"
        " VALUES ('old', '2025-01-01T00:00:00.000000+00:00', '2025-01-01T00:00:00.000000+00:00',"
        " 'wan2.1-t2v-turbo', 'SUCCEEDED', '{\"size\":\"1280*720\"}', 0.18)"
    )
    before = dict(db.query("SELECT name, applied_at FROM _migrations")[1])
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
    db = database(tmp_path)
    assert columns(db) == EXPECTED_COLUMNS
    after = dict(db.query("SELECT name, applied_at FROM _migrations ORDER BY applied_at")[1])
    assert list(after) == list(SHIPPED)
    assert {k: after[k] for k in before} == before  # earlier records untouched
    seqs = [s for (s,) in db.query("SELECT seq FROM runs ORDER BY seq")[1]]
    assert None not in seqs and len(set(seqs)) == 2
    db.close()


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    db = database(tmp_path)
    assert migrate(db) == list(SHIPPED)
    assert migrate(db) == []
    assert applied(db) == list(SHIPPED)


def test_migrate_rolls_back_a_failed_migration(tmp_path: Path) -> None:
    """A migration that fails leaves the schema as it was (DDL is transactional on both)."""
    db = database(tmp_path)
    migrate(db, until="m001_initial")
    db.execute("CREATE INDEX idx_runs_status ON runs (status)")  # m002 will collide with this
    with pytest.raises(DatabaseError, match="already exists"):
        migrate(db)
    assert applied(db) == ["m001_initial"]
    assert not db.in_transaction


def test_until_must_name_a_migration(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="m999_nothing"):
        migrate(database(tmp_path), until="m999_nothing")


def test_a_log_from_a_newer_wanbook_still_opens(tmp_path: Path) -> None:
    """A migration this version does not know is left alone: the log opens and reads, but is not
    written (issue 14 #12: its constraints and triggers may need what this version lacks)."""
    with RunLog.open(tmp_path) as log:
        run_id = log.insert(prompt="written before")
    db = database(tmp_path)
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
    db = database(tmp_path)
    names = [n for (n,) in db.query("SELECT name FROM _migrations ORDER BY applied_at")[1]]
    assert names == list(SHIPPED)  # each once (PostgreSQL: under the advisory lock)
    assert columns(db) == EXPECTED_COLUMNS
    if db.dialect == "sqlite":
        assert db.query("PRAGMA journal_mode")[1][0][0] == "wal"
    db.close()


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
    with RunLog.open(tmp_path) as log:
        assert [name for name, _ in documented] == columns(log)
    assert dict(documented) == COLUMNS


# What each SQLite type is on PostgreSQL (migrations._ddl).
PG_TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}


@pytest.mark.postgresql_only  # compares the two engines' schemas
def test_schema_parity(tmp_path: Path) -> None:
    """Every table has the same columns, in the same order, of the matching types, with the
    same NOT NULLs and primary keys on both engines (PRAGMA table_info vs information_schema)."""
    lite = connect(tmp_path / "lite.sqlite")
    migrate(lite)
    pg = database(tmp_path / "pg")
    migrate(pg)
    tables = [
        n
        for (n,) in lite.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
            " AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    assert tables == ["_migrations", "followers", "preferences", "ratings", "runs", "uploads"]
    for table in tables:
        want = [
            (name, PG_TYPES[kind.upper()], bool(notnull) or bool(pk), bool(pk))
            for _, name, kind, notnull, _, pk in lite.execute(f"PRAGMA table_info({table})")
        ]
        got = pg.query(
            "SELECT c.column_name, c.data_type, c.is_nullable = 'NO', EXISTS ("
            "  SELECT 1 FROM information_schema.key_column_usage k"
            "  JOIN information_schema.table_constraints t USING (constraint_schema, constraint_name)"
            "  WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_schema = c.table_schema"
            "  AND k.table_name = c.table_name AND k.column_name = c.column_name)"
            " FROM information_schema.columns c WHERE c.table_schema = current_schema()"
            " AND c.table_name = ? ORDER BY c.ordinal_position",
            [table],
        )[1]
        assert [tuple(row) for row in got if row[0] not in PG_ONLY] == want, table
    pg_tables = pg.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        " ORDER BY table_name"
    )[1]
    assert sorted({t for (t,) in pg_tables} - set(tables)) == ["_runs_deleted"]  # bookkeeping
    pg.close()


def test_every_migration_is_documented() -> None:
    text = DOCS.read_text("utf-8")
    for name in SHIPPED:
        assert f"| {name} |" in text
