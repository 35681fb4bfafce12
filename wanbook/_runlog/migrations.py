"""Append-only schema migrations of the run log (SQLite ``runs.sqlite``, or PostgreSQL).

Each migration is a small function ``mNNN_description(db)`` registered, in order, with
``@migration``. **A migration is never edited once shipped**: people have logs made by every
earlier version, and each migration must turn exactly the schema its predecessors left into the
next one. To change the schema, append a new migration (and update ``schema.COLUMNS`` and
``docs/runlog-schema.md``; ``tests/runlog/test_migrations.py`` checks all three agree).

Each migration gets a :class:`wanbook._sql.Database` and branches on ``db.dialect`` where the SQL
of the two engines differs. The SQLite branches are what every earlier version ran (their DDL is
checked by ``tests/runlog/test_migrations.py``); the PostgreSQL branches were added with PostgreSQL
support and are as frozen. Column types go through :func:`_ddl`: ``INTEGER`` is ``bigint`` and
``REAL`` is ``double precision`` on PostgreSQL (its ``integer`` and ``real`` are 32 bits), ``TEXT``
is ``text`` on both (times are ISO text on both, so values compare and sort alike everywhere).

Applied migrations are recorded by name with a UTC timestamp in the ``_migrations`` table.
:func:`migrate` runs the pending ones inside one write transaction holding the engine's lock
(``BEGIN IMMEDIATE`` on SQLite; ``BEGIN`` + the advisory lock ``wanbook.runlog.migrate`` of the
schema on PostgreSQL; DDL is transactional on both) and re-reads the applied list under it, so
several processes opening a fresh log at once cannot both migrate: the others wait for the lock,
then find nothing left to do.

Migrations use single ``db.execute`` calls, never ``executescript`` (which would commit the
surrounding transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from wanbook._sql import Database, Target

__all__ = ["MIGRATIONS", "applied", "migrate", "migration"]

Migration = Callable[[Database], None]
LOCK = "wanbook.runlog.migrate"  # the advisory lock taken while migrating (PostgreSQL)
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration (its name is recorded once applied)."""
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"migration {fn.__name__} is registered twice")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: Database) -> None:
    """The runs table: one row per generation, written before the create request (write-ahead)."""
    db.execute(
        _ddl(
            db,
            """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            experiment TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            backend TEXT,
            endpoint_host TEXT,
            wanbook_version TEXT,
            model TEXT,
            kind TEXT,
            prompt TEXT,
            negative_prompt TEXT,
            seed INTEGER,
            params TEXT,
            request_body TEXT,
            image_sha256 TEXT,
            image_bytes INTEGER,
            image_width INTEGER,
            image_height INTEGER,
            task_id TEXT,
            request_id TEXT,
            status TEXT NOT NULL DEFAULT 'PREPARED',
            error_code TEXT,
            error_message TEXT,
            submitted_at TEXT,
            submit_time TEXT,
            scheduled_time TEXT,
            end_time TEXT,
            queue_seconds REAL,
            run_seconds REAL,
            actual_prompt TEXT,
            video_url TEXT,
            video_url_expires_at TEXT,
            video_path TEXT,
            video_sha256 TEXT,
            video_bytes INTEGER,
            width INTEGER,
            height INTEGER,
            fps REAL,
            duration REAL,
            has_audio INTEGER,
            usage TEXT,
            billed_seconds REAL,
            tier TEXT,
            price_per_second REAL,
            cost REAL,
            currency TEXT,
            price_table_date TEXT,
            estimate REAL,
            estimate_currency TEXT,
            fingerprint TEXT,
            finished_at TEXT
        )
        """,
        )
    )


@migration
def m002_indexes(db: Database) -> None:
    """Indexes for what is looked up often: resume (status), reuse (fingerprint), views, tasks."""
    db.execute("CREATE INDEX idx_runs_status ON runs (status)")
    db.execute("CREATE INDEX idx_runs_fingerprint ON runs (fingerprint, status)")
    db.execute("CREATE INDEX idx_runs_created_at ON runs (created_at)")
    db.execute("CREATE INDEX idx_runs_experiment ON runs (experiment)")
    db.execute("CREATE INDEX idx_runs_task_id ON runs (task_id)")


@migration
def m003_run_context(db: Database) -> None:
    """Context resume and re-runs need: the pricing region (also for emulator runs), the process
    that owns a live run, when it was last polled, where the input image came from, and which run
    a run repeats."""
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN region TEXT"))
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN hostname TEXT"))
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN pid INTEGER"))
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN last_polled_at TEXT"))
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN image_source TEXT"))
    db.execute(_ddl(db, "ALTER TABLE runs ADD COLUMN rerun_of TEXT"))


@migration
def m004_change_seq(db: Database) -> None:
    """A change counter: every insert or update of a run gives it ``seq = max(seq) + 1`` (by
    trigger, so edits made outside wanbook count too). Readers that keep a copy of the log (the
    DataFrame view) fetch only the runs changed since the ``seq`` they saw."""
    if db.dialect == "postgresql":
        # Writers do not take turns on PostgreSQL: max(seq)+1 would give two of them one number.
        # A sequence gives distinct numbers, but they commit out of order, so readers keeping
        # a copy go by the writing transaction's id (change_xid, xid8) instead: see
        # _runlog.dataframe. Both are set by one trigger, also for edits made outside wanbook;
        # deletions are noted in _runs_deleted by the transaction that made them.
        db.execute("ALTER TABLE runs ADD COLUMN seq BIGINT")
        db.execute("ALTER TABLE runs ADD COLUMN change_xid XID8")
        db.execute("CREATE SEQUENCE runs_seq_counter")
        db.execute("CREATE INDEX idx_runs_seq ON runs (seq)")
        db.execute("CREATE INDEX idx_runs_change_xid ON runs (change_xid)")  # what changed since
        db.execute(
            """
            CREATE FUNCTION runs_seq_next() RETURNS trigger LANGUAGE plpgsql AS $body$
            BEGIN
                NEW.seq := nextval('runs_seq_counter');
                NEW.change_xid := pg_current_xact_id();
                RETURN NEW;
            END
            $body$
            """
        )
        db.execute(
            "CREATE TRIGGER runs_seq_before_write BEFORE INSERT OR UPDATE ON runs"
            " FOR EACH ROW EXECUTE FUNCTION runs_seq_next()"
        )
        # Deletions (rare: made outside wanbook) noted by transaction, so that a reader
        # keeping a copy learns of them without counting every run.
        db.execute("CREATE TABLE _runs_deleted (at XID8 NOT NULL)")
        db.execute(
            """
            CREATE FUNCTION runs_note_delete() RETURNS trigger LANGUAGE plpgsql AS $body$
            BEGIN
                INSERT INTO _runs_deleted (at) VALUES (pg_current_xact_id());
                RETURN NULL;
            END
            $body$
            """
        )
        db.execute(
            "CREATE TRIGGER runs_deleted AFTER DELETE OR TRUNCATE ON runs"
            " FOR EACH STATEMENT EXECUTE FUNCTION runs_note_delete()"
        )
        db.execute("UPDATE runs SET seq = NULL")  # numbers every existing run (by the trigger)
        return
    db.execute("ALTER TABLE runs ADD COLUMN seq INTEGER")
    db.execute("UPDATE runs SET seq = rowid")
    db.execute("CREATE INDEX idx_runs_seq ON runs (seq)")
    db.execute(
        """
        CREATE TRIGGER runs_seq_after_insert AFTER INSERT ON runs
        BEGIN
            UPDATE runs SET seq = (SELECT IFNULL(MAX(seq), 0) + 1 FROM runs)
            WHERE rowid = NEW.rowid;
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER runs_seq_after_update AFTER UPDATE ON runs WHEN NEW.seq IS OLD.seq
        BEGIN
            UPDATE runs SET seq = (SELECT IFNULL(MAX(seq), 0) + 1 FROM runs)
            WHERE rowid = NEW.rowid;
        END
        """
    )


@migration
def m005_judgements(db: Database) -> None:
    """Judgements of runs, append-only: a 1-5 ``score`` with a short note per rater and run, and
    ``preferences`` between two runs of one request. A rater's latest row is the one that counts;
    earlier ones stay, so a judgement's history can be read back."""
    db.execute(
        _ddl(
            db,
            """
        CREATE TABLE ratings (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL,
            rater TEXT NOT NULL,
            score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
            note TEXT,
            blind INTEGER NOT NULL DEFAULT 0,
            rated_at TEXT NOT NULL
        )
        """,
        )
    )
    db.execute("CREATE INDEX idx_ratings_run ON ratings (run_id, rater, id)")
    db.execute(
        _ddl(
            db,
            """
        CREATE TABLE preferences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_a TEXT NOT NULL,
            run_b TEXT NOT NULL,
            winner TEXT NOT NULL,
            rater TEXT NOT NULL,
            note TEXT,
            blind INTEGER NOT NULL DEFAULT 0,
            rated_at TEXT NOT NULL,
            CHECK (winner IN (run_a, run_b, 'tie'))
        )
        """,
        )
    )
    db.execute("CREATE INDEX idx_preferences_pair ON preferences (run_a, run_b, rater, id)")


@migration
def m006_uploads(db: Database) -> None:
    """Files put in the vendor's temporary store (docs/dashscope-wan27.md §3): by content hash,
    backend and region, with their ``oss://`` URL and when it expires (48 h), so a rerun within
    that time does not upload the same file again. Never the bytes."""
    db.execute(
        _ddl(
            db,
            """
        CREATE TABLE uploads (
            sha256 TEXT NOT NULL,
            backend TEXT NOT NULL,
            region TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            source TEXT,
            oss_url TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            PRIMARY KEY (sha256, backend, region)
        )
        """,
        )
    )


@migration
def m007_video_uri(db: Database) -> None:
    """Where a run's video is kept for the team (``WANBOOK_MEDIA``): its object's URI, by
    content (``s3://bucket/prefix/videos/ab/<sha256>.mp4``). ``video_path`` stays the local copy
    of the machine that downloaded it. Portable SQL: the same statement on every engine."""
    db.execute("ALTER TABLE runs ADD COLUMN video_uri TEXT")


@migration
def m008_followers(db: Database) -> None:
    """Who follows runs now: one row per process that writes runs (``hostname`` and ``pid``, as
    the runs it owns name it; ``host`` with the boot's id and ``started``, to tell a reused pid),
    with the time of its last heartbeat (``beat_at``, seconds since the epoch by the database's
    clock on PostgreSQL). ``resume`` leaves a run alone while its owner beats, so a teammate's
    resume never takes over runs that a live kernel is still sending or following."""
    db.execute(
        _ddl(
            db,
            """
        CREATE TABLE followers (
            hostname TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            started TEXT NOT NULL,
            beat_at REAL NOT NULL,
            PRIMARY KEY (hostname, pid, host)
        )
        """,
        )
    )


def _ddl(db: Database, sql: str) -> str:
    """``sql`` in the dialect of ``db``: SQLite's as written; on PostgreSQL 64-bit integers
    (``INTEGER`` -> ``BIGINT``), double precision (``REAL``) and identity keys. Frozen like the
    migrations that use it: a new type goes in a new migration's own SQL."""
    if db.dialect != "postgresql":
        return sql
    sql = sql.replace(
        "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    )
    return sql.replace(" INTEGER", " BIGINT").replace(" REAL", " DOUBLE PRECISION")


def _as_database(db: Database | sqlite3.Connection) -> Database:
    """A :class:`Database` (a bare ``sqlite3`` connection, in autocommit mode, is wrapped)."""
    if isinstance(db, Database):
        return db
    return Database(Target("sqlite"), connector=lambda: db, owned=False)


def applied(db: Database | sqlite3.Connection) -> list[str]:
    """Names of the migrations applied to ``db``, in the order they were applied."""
    db = _as_database(db)
    if db.dialect == "postgresql":
        if db.query("SELECT to_regclass('_migrations')")[1][0][0] is None:
            return []
        rows = db.query("SELECT name FROM _migrations ORDER BY applied_at, name")[1]
    else:
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
        if not db.query(found)[1]:
            return []
        rows = db.query("SELECT name FROM _migrations ORDER BY rowid")[1]
    return [name for (name,) in rows]


def unknown(db: Database | sqlite3.Connection) -> list[str]:
    """Migrations applied to ``db`` that this version does not know (a newer wanbook's): such a
    log may have columns, constraints or triggers this version would write wrong."""
    known = {name for name, _ in MIGRATIONS}
    return [name for name in applied(db) if name not in known]


def migrate(db: Database | sqlite3.Connection, *, until: str | None = None) -> list[str]:
    """Apply every pending migration (or those up to and including ``until``); return their names.

    A bare ``sqlite3`` connection must be in autocommit mode (``isolation_level=None``): this
    function owns the transaction. Idempotent, and safe when several processes call it on one
    database at once. Errors are :class:`wanbook._sql.DatabaseError`.
    """
    db = _as_database(db)
    names = [name for name, _ in MIGRATIONS]
    if until is not None and until not in names:
        raise ValueError(f"until={until!r} is not a migration; known: {', '.join(names)}")
    wanted = names[: names.index(until) + 1] if until else names
    if set(wanted) <= set(applied(db)):
        return []  # the common case: no write lock taken
    now: list[str] = []
    with db.transaction(LOCK):
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = set(applied(db))  # re-read under the lock: another process may have migrated
        for name, fn in MIGRATIONS:
            if name not in wanted:
                break
            if name in done:
                continue
            fn(db)
            db.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="microseconds")),
            )
            now.append(name)
    return now
