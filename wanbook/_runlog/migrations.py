"""Append-only schema migrations of the run log (``runs.sqlite``).

Each migration is a small function ``mNNN_description(db)`` registered, in order, with
``@migration``. **A migration is never edited once shipped**: people have logs made by every
earlier version, and each migration must turn exactly the schema its predecessors left into the
next one. To change the schema, append a new migration (and update ``schema.COLUMNS`` and
``docs/runlog-schema.md``; ``tests/runlog/test_migrations.py`` checks all three agree).

Applied migrations are recorded by name with a UTC timestamp in the ``_migrations`` table.
:func:`migrate` runs the pending ones inside one ``BEGIN IMMEDIATE`` transaction (SQLite DDL is
transactional), so two processes opening a fresh log at once cannot both migrate: the second waits
for the write lock, then finds nothing left to do.

Migrations use single ``db.execute`` calls, never ``executescript`` (which would commit the
surrounding transaction).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["MIGRATIONS", "applied", "migrate", "migration"]

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next migration (its name is recorded once applied)."""
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"migration {fn.__name__} is registered twice")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """The runs table: one row per generation, written before the create request (write-ahead)."""
    db.execute(
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
        """
    )


@migration
def m002_indexes(db: sqlite3.Connection) -> None:
    """Indexes for what is looked up often: resume (status), reuse (fingerprint), views, tasks."""
    db.execute("CREATE INDEX idx_runs_status ON runs (status)")
    db.execute("CREATE INDEX idx_runs_fingerprint ON runs (fingerprint, status)")
    db.execute("CREATE INDEX idx_runs_created_at ON runs (created_at)")
    db.execute("CREATE INDEX idx_runs_experiment ON runs (experiment)")
    db.execute("CREATE INDEX idx_runs_task_id ON runs (task_id)")


@migration
def m003_run_context(db: sqlite3.Connection) -> None:
    """Context resume and re-runs need: the pricing region (also for emulator runs), the process
    that owns a live run, when it was last polled, where the input image came from, and which run
    a run repeats."""
    db.execute("ALTER TABLE runs ADD COLUMN region TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN hostname TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")
    db.execute("ALTER TABLE runs ADD COLUMN last_polled_at TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN image_source TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN rerun_of TEXT")


@migration
def m004_change_seq(db: sqlite3.Connection) -> None:
    """A change counter: every insert or update of a run gives it ``seq = max(seq) + 1`` (by
    trigger, so edits made outside wanbook count too). Readers that keep a copy of the log (the
    DataFrame view) fetch only the runs changed since the ``seq`` they saw."""
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
def m005_judgements(db: sqlite3.Connection) -> None:
    """Judgements of runs, append-only: a 1-5 ``score`` with a short note per rater and run, and
    ``preferences`` between two runs of one request. A rater's latest row is the one that counts;
    earlier ones stay, so a judgement's history can be read back."""
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX idx_ratings_run ON ratings (run_id, rater, id)")
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX idx_preferences_pair ON preferences (run_a, run_b, rater, id)")


@migration
def m006_uploads(db: sqlite3.Connection) -> None:
    """Files put in the vendor's temporary store (docs/dashscope-wan27.md §3): by content hash,
    backend and region, with their ``oss://`` URL and when it expires (48 h), so a rerun within
    that time does not upload the same file again. Never the bytes."""
    db.execute(
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
        """
    )


@migration
def m007_video_uri(db: sqlite3.Connection) -> None:
    """Where a run's video is kept for the team (``WANBOOK_MEDIA``): its object's URI, by
    content (``s3://bucket/prefix/videos/ab/<sha256>.mp4``). ``video_path`` stays the local copy
    of the machine that downloaded it. Portable SQL: the same statement on every engine."""
    db.execute("ALTER TABLE runs ADD COLUMN video_uri TEXT")


def applied(db: sqlite3.Connection) -> list[str]:
    """Names of the migrations applied to ``db``, in the order they were applied."""
    try:
        rows = db.execute("SELECT name FROM _migrations ORDER BY rowid").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [name for (name,) in rows]


def unknown(db: sqlite3.Connection) -> list[str]:
    """Migrations applied to ``db`` that this version does not know (a newer wanbook's): such a
    log may have columns, constraints or triggers this version would write wrong."""
    known = {name for name, _ in MIGRATIONS}
    return [name for name in applied(db) if name not in known]


def migrate(db: sqlite3.Connection, *, until: str | None = None) -> list[str]:
    """Apply every pending migration (or those up to and including ``until``); return their names.

    ``db`` must be in autocommit mode (``isolation_level=None``): this function owns the
    transaction. Idempotent, and safe when several processes call it on one file at once.
    """
    names = [name for name, _ in MIGRATIONS]
    if until is not None and until not in names:
        raise ValueError(f"until={until!r} is not a migration; known: {', '.join(names)}")
    wanted = names[: names.index(until) + 1] if until else names
    if set(wanted) <= set(applied(db)):
        return []  # the common case: no write lock taken
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = set(applied(db))  # re-read under the lock: another process may have migrated
        now: list[str] = []
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
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return now
