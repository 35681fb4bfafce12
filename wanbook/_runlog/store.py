"""The run log: every run in SQLite (``<home>/runs.sqlite``) or PostgreSQL (``WANBOOK_DB``),
durable from before it is sent.

One row per run in the ``runs`` table (columns: :data:`COLUMNS`, documented in
``docs/runlog-schema.md``). The session writes the row *before* the create request
(:meth:`RunLog.insert`) and updates it at every step (:meth:`RunLog.update`); each call is its own
short transaction, committed at once, so a dead kernel leaves a row saying what was known.

Several threads (one lock per :class:`RunLog`) and several processes (SQLite: WAL mode, a 30 s
busy timeout, ``BEGIN IMMEDIATE`` migrations; PostgreSQL: row locks, advisory-locked migrations)
can write one log at the same time. Both engines are used through
:class:`wanbook._sql.Database`; the SQL is the same where the engines agree, and branches on
``dialect`` where they do not. Timestamps are stored as UTC ISO-8601 text with microseconds
(``2026-11-01T12:00:00.000000+00:00``), which sorts and compares as text. Structured values
(``tags``, ``params``, ``request_body``, ``usage``) are JSON text. The log never holds media bytes
or the API key: register the key with :meth:`RunLog.register_secret` and any value containing it
is refused.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wanbook._errors import RunLogError
from wanbook._runlog.followers import Heartbeat
from wanbook._runlog.migrations import migrate, unknown
from wanbook._runlog.schema import (
    BUSY_TIMEOUT_S,
    COLUMNS,
    STATUSES,
    TERMINAL,
    UNFINISHED,
    decode,
    encode,
    local_path,
    new_run_id,
    since_iso,
    utc_iso,
    utc_now,
    where,
)
from wanbook._secret import Secret
from wanbook._sql import (
    Database,
    DatabaseError,
    IntegrityError,
    Target,
    Unavailable,
    parse_url,
)
from wanbook._version import __version__

__all__ = [
    "COLUMNS",
    "STATUSES",
    "TERMINAL",
    "UNFINISHED",
    "RunLog",
    "RunLogWarning",
    "new_run_id",
    "since_iso",
    "utc_iso",
]


class RunLog:
    """The run log of one home directory. Open with :meth:`open`; use as a context manager.

    One connection per object (:class:`wanbook._sql.Database`), guarded by a lock: share one
    object between threads, or open one per process (an object carried across ``fork``
    reconnects in the child).

    ``home`` is where this machine keeps the log's files: videos, and the DataFrame view's
    cache. ``path`` is the SQLite file (None for PostgreSQL); ``name`` names the log to a
    person (the file, or the URL without any password); ``dialect`` is the engine.
    """

    def __init__(
        self,
        home: Path,
        db: Database,
        read_only: str | None = None,
        path: Path | None = None,
    ) -> None:
        self.home = home
        self.path = path
        self.db = db
        self.dialect = db.dialect
        self.name = db.target.shown
        self._lock = threading.RLock()
        self._secrets: list[Secret | str] = []
        self._frame_cache: Any = None  # the DataFrame view's kept copy, owned by _frames
        self._newer = unknown(db)  # a newer wanbook's migrations: read, never write
        self._read_only = read_only  # why this log can only be read (a read-only mount ...)
        #: This process's heartbeat in the log, from its first write (see _runlog.followers).
        self.heartbeat = Heartbeat(self)

    # ------------------------------------------------------------------ opening and closing
    @classmethod
    def open(
        cls,
        home: str | Path,
        *,
        db: str | os.PathLike[str] | None = None,
        secrets: Iterable[Secret | str] = (),
    ) -> RunLog:
        """Open (creating and migrating as needed) the log of ``home``: ``<home>/runs.sqlite``,
        or the database ``db`` names (``WANBOOK_DB``: ``postgresql://user@host/dbname``, or a
        SQLite file). ``home`` is made absolute first, so the paths the log hands out do not
        depend on the working directory."""
        home = Path(os.path.abspath(Path(home).expanduser()))
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunLogError(f"cannot create the run log folder {str(home)!r}: {exc}") from exc
        try:
            target = parse_url(db) if db is not None and str(db).strip() else None
        except DatabaseError as exc:
            raise RunLogError(f"WANBOOK_DB: {exc}") from None
        if target is not None and target.dialect == "postgresql":
            log = cls(home, _open_postgres(target))
        else:
            path = target.path if target is not None and target.path is not None else None
            path = Path(os.path.abspath(path)) if path is not None else home / "runs.sqlite"
            if path.parent != home:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise RunLogError(f"cannot create the folder of {str(path)!r}: {exc}") from exc
            conn, read_only = _open(path)
            database = Database(Target("sqlite", path=path), connector=_reconnector(path, conn))
            log = cls(home, database, read_only, path)
        for secret in secrets:
            log.register_secret(secret)
        return log

    def close(self) -> None:
        self.heartbeat.stop()
        with self._lock:
            self.db.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        closed = " closed" if self.db._closed else ""
        return f"<RunLog {self.name!r}{closed}>"

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> Any:
        with self._lock:
            try:
                return self.db.execute(sql, params)
            except DatabaseError as exc:
                raise self._error(exc) from exc

    def _error(self, exc: DatabaseError) -> RunLogError:
        text = f"run log {self.name!r}: {self._redact(exc.detail)}"
        if isinstance(exc, Unavailable):  # tried again for RETRY_S first (wanbook._sql)
            text += (
                "; the log keeps each run as last written: once the database is back, "
                "`wanbook resume` finishes unfinished runs (a task whose id was not logged is "
                "found through the service's task list)"
            )
        return RunLogError(text)

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one writing statement of the log's own bookkeeping (``?`` placeholders on both
        engines); how many rows it changed. Runs are written by :meth:`insert` and :meth:`update`."""
        self._check_writable()
        return int(self._execute(sql, params).rowcount or 0)

    def query(
        self, sql: str, params: Iterable[Any] = (), *, binary: bool = False
    ) -> tuple[list[str], list[tuple]]:
        """Run a read-only ``SELECT`` (``?`` placeholders on both engines); (column names, rows).
        Used by the views in ``_runlog.dataframe``. ``binary``: PostgreSQL's binary format
        (quicker for many rows)."""
        with self._lock:
            try:
                return self.db.query(sql, params, binary=binary)
            except DatabaseError as exc:
                raise self._error(exc) from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: the queries made inside see one state of the log, however many
        they are (other processes keep writing; their changes show after it). For views that
        read in several steps (``_runlog.dataframe``). Other threads using this object wait meanwhile."""
        with self._lock:
            try:
                with self.db.snapshot():
                    yield
            except DatabaseError as exc:
                raise self._error(exc) from exc

    # ------------------------------------------------------------------ secrets
    def register_secret(self, secret: Secret | str) -> None:
        """Refuse, from now on, to write any value that contains ``secret`` (the API key)."""
        self._secrets.append(secret)

    def _check_secrets(self, column: str, stored: Any) -> None:
        if not isinstance(stored, str) or not self._secrets:
            return
        for secret in self._secrets:
            text = secret.reveal() if isinstance(secret, Secret) else secret
            if text and text in stored:
                raise RunLogError(f"refusing to write {column}: it contains the API key")

    def _row_values(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = [name for name in fields if name not in COLUMNS]
        if unknown:
            raise RunLogError(
                f"unknown run log column(s) {', '.join(map(repr, unknown))}; "
                "see docs/runlog-schema.md for the columns"
            )
        if "seq" in fields:
            raise RunLogError("seq is kept by the run log itself (a change counter); do not set it")
        params = fields.get("params")
        seed = fields.get("seed")
        if isinstance(params, dict) and seed is not None and params.get("seed") == seed:
            # The seed lives in its own column; kept once, params repeat across a seed sweep
            # (which makes the DataFrame view fast). get() puts it back into params.
            fields = {**fields, "params": {k: v for k, v in params.items() if k != "seed"}}
        out = {}
        for name, value in fields.items():
            try:
                out[name] = encode(name, value)
            except RunLogError as exc:  # the message shows the value: never with the key in it
                raise RunLogError(self._redact(str(exc))) from None
            self._check_secrets(name, out[name])
            if self.dialect == "postgresql" and isinstance(out[name], str) and "\x00" in out[name]:
                raise RunLogError(
                    f"{name} holds a NUL character (\\x00), which PostgreSQL cannot store in "
                    "text; remove it"
                )
        return out

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            revealed = secret.reveal() if isinstance(secret, Secret) else secret
            if revealed:
                text = text.replace(revealed, "********")
        return text

    # ------------------------------------------------------------------ writing
    def _check_writable(self) -> None:
        """Refuse to write a log that can only be read: one on a read-only mount or folder, or
        one migrated by a newer wanbook (reading it stays possible)."""
        if self._read_only:
            raise RunLogError(
                f"the run log {self.name!r} is read-only ({self._read_only}): it can be "
                "read but not written; use another WANBOOK_HOME to generate (nothing was sent)"
            )
        if self._newer:
            raise RunLogError(
                f"the run log {self.name!r} was migrated by a newer wanbook "
                f"({', '.join(self._newer)}) than this one ({__version__}): it can be read but "
                "not written; upgrade wanbook (nothing was sent)"
            )

    def insert(self, **fields: Any) -> str:
        """Write a new run (the write-ahead row) and return its ``run_id`` (new unless given).

        Defaults: ``status`` PREPARED, ``created_at`` now, ``tags`` [], ``wanbook_version``,
        ``hostname`` and ``pid`` of this process.
        """
        now = utc_now()
        row = {
            "run_id": new_run_id(),
            "created_at": now,
            "status": "PREPARED",
            "tags": [],
            "wanbook_version": __version__,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            **{k: v for k, v in fields.items() if not (k == "run_id" and v is None)},
        }
        values = self._row_values(row)
        values["updated_at"] = now
        if values["status"] in TERMINAL and values.get("finished_at") is None:
            values["finished_at"] = now
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self._check_writable()
        self.heartbeat.ensure()  # this process follows the run from now: resume leaves it alone
        try:
            self._execute(f"INSERT INTO runs ({names}) VALUES ({marks})", values.values())
        except RunLogError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            if self._is_ours(values):
                # A PostgreSQL connection lost after the server committed: the insert was sent
                # again on a new connection and found its own row. Written once, as wanted.
                return str(values["run_id"])
            if self.get(str(values["run_id"])) is not None:
                raise RunLogError(f"a run with run_id={values['run_id']!r} exists already") from exc
            raise
        return str(values["run_id"])

    def _is_ours(self, values: Mapping[str, Any]) -> bool:
        """Whether the run ``values`` describe is in the log as this very insert wrote it."""
        _, rows = self.query(
            "SELECT created_at, hostname, pid FROM runs WHERE run_id = ?", [values["run_id"]]
        )
        mine = (values.get("created_at"), values.get("hostname"), values.get("pid"))
        return bool(rows) and tuple(rows[0]) == mine

    def update(self, run_id: str, /, **fields: Any) -> None:
        """Change some columns of one run, committed at once; ``updated_at`` is set to now.

        Setting a terminal ``status`` also sets ``finished_at`` (unless given, or set before).
        """
        if "run_id" in fields:
            raise RunLogError("run_id cannot be changed")
        self._check_writable()
        values = self._row_values(fields)
        now = utc_now()
        sets = [f"{name} = ?" for name in values] + ["updated_at = ?"]
        params = [*values.values(), now]
        if values.get("status") in TERMINAL and "finished_at" not in values:
            sets.append("finished_at = COALESCE(finished_at, ?)")
            params.append(now)
        cur = self._execute(
            f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", [*params, run_id]
        )
        if cur.rowcount == 0:
            raise RunLogError(f"no run with run_id={run_id!r} in {self.name!r}")

    def append(self, table: str, /, **fields: Any) -> int:
        """Add a row to one of the log's append-only tables other than ``runs`` (the judgements:
        ``ratings``, ``preferences``); return its ``id``. Text holding the API key is refused."""
        if table not in _APPEND_ONLY:
            raise RunLogError(f"{table!r} is not an append-only table of the run log")
        self._check_writable()
        for name, value in fields.items():
            self._check_secrets(f"{table}.{name}", value)
        names = ", ".join(fields)
        marks = ", ".join("?" * len(fields))
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        if self.dialect == "postgresql":
            return int(self._execute(sql + " RETURNING id", fields.values()).rows[0][0])
        return int(self._execute(sql, fields.values()).lastrowid or 0)

    # ------------------------------------------------------------------ reading
    def _select(self, tail: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        names, rows = self.query(f"SELECT {_ALL} FROM runs{tail}", params)
        return [self._absolute(decode(row, names)) for row in rows]

    def _absolute(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with its local paths absolute (see :func:`local_path`); a video kept in
        the team's store (``video_uri``) whose logged file is another machine's is this home's
        copy, ``<home>/videos/<run_id>.mp4``, once there is one."""
        for column in ("video_path", "image_source"):
            value = record.get(column)
            if isinstance(value, str) and value:
                record[column] = local_path(value, self.home, video=column == "video_path")
        if record.get("video_uri") and record.get("video_path"):
            here = self.home / "videos" / f"{record.get('run_id')}.mp4"
            if not Path(record["video_path"]).is_file() and here.is_file():
                record["video_path"] = str(here)
        return record

    def get(self, run_id: str) -> dict[str, Any] | None:
        """One run as a dict (JSON columns decoded), or None."""
        found = self._select(" WHERE run_id = ?", [run_id])
        return found[0] if found else None

    def find(self, **equals: Any) -> list[dict[str, Any]]:
        """Runs whose columns equal the given values (``None`` matches NULL), oldest first."""
        values = self._row_values(equals)
        clauses = [f"{k} IS NULL" if v is None else f"{k} = ?" for k, v in values.items()]
        params = [v for v in values.values() if v is not None]
        tail = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select(tail + " ORDER BY created_at, run_id", params)

    def runs(self, *, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Runs matching the view filters (see :func:`where`), oldest first; with ``limit``,
        only the newest ``limit`` of them."""
        clause, params = where(filters, self.dialect)
        if limit is None:
            return self._select(clause + " ORDER BY created_at, run_id", params)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise RunLogError(f"limit={limit!r} is not allowed; expected an integer >= 0")
        newest = self._select(
            clause + " ORDER BY created_at DESC, run_id DESC LIMIT ?", [*params, limit]
        )
        return newest[::-1]

    def unfinished(self) -> list[dict[str, Any]]:
        """Runs resume must look at: not yet ended, or SUCCEEDED without a downloaded video."""
        marks = ", ".join("?" * len(UNFINISHED))
        return self._select(
            f" WHERE status IN ({marks}) OR (status = 'SUCCEEDED' AND video_path IS NULL)"
            " ORDER BY created_at, run_id",
            UNFINISHED,
        )

    def find_reusable(
        self, fingerprint: str, *, in_store: Callable[[dict[str, Any]], bool] | None = None
    ) -> dict[str, Any] | None:
        """The latest SUCCEEDED run with this fingerprint whose video file is still on disk (an
        older one when the newest's file was deleted), or None. With ``in_store``, a run whose
        video is not here but in the team's store (``in_store(record)`` says so) is one too."""
        found = self._select(
            " WHERE fingerprint = ? AND status = 'SUCCEEDED'"
            " AND (video_path IS NOT NULL OR video_uri IS NOT NULL)"
            " ORDER BY created_at DESC, run_id DESC",
            [fingerprint],
        )
        for record in found:
            if record.get("video_path") and Path(record["video_path"]).is_file():
                return record
            if in_store is not None and record.get("video_uri") and in_store(record):
                return record
        return None

    def not_stored(self) -> list[str]:
        """Run ids of SUCCEEDED runs whose verified video is on this machine but not in the
        team's store (``video_uri`` NULL): an upload that failed, or runs made before the store
        was set. Another machine's videos (a shared log) are that machine's to store."""
        _, rows = self.query(
            "SELECT run_id, video_path FROM runs WHERE status = 'SUCCEEDED'"
            " AND video_uri IS NULL AND video_path IS NOT NULL AND video_sha256 IS NOT NULL"
            " ORDER BY created_at, run_id"
        )
        return [
            str(run_id)
            for run_id, path in rows
            if Path(local_path(str(path), self.home, video=True)).is_file()
        ]

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM runs")[1][0][0])

    # ------------------------------------------------------------------ uploads

    def remember_upload(
        self,
        *,
        sha256: str,
        backend: str,
        region: str,
        size: int,
        source: str,
        oss_url: str,
        uploaded_at: datetime,
        expires_at: datetime,
    ) -> None:
        """Record a file put in the vendor's temporary store (hash, size, path, URL, expiry)."""
        self._execute(
            "INSERT INTO uploads (sha256, backend, region, bytes, source, oss_url,"
            " uploaded_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256, backend, region) DO UPDATE SET bytes = excluded.bytes,"
            " source = excluded.source, oss_url = excluded.oss_url,"
            " uploaded_at = excluded.uploaded_at, expires_at = excluded.expires_at",
            [
                sha256,
                backend,
                region,
                size,
                source,
                oss_url,
                uploaded_at.astimezone(UTC).isoformat(),
                expires_at.astimezone(UTC).isoformat(),
            ],
        )

    def find_upload(
        self, sha256: str, backend: str, region: str, *, valid_until: datetime
    ) -> str | None:
        """The ``oss://`` URL of this file uploaded for (backend, region) that is still valid at
        ``valid_until``, or None."""
        _, rows = self.query(
            "SELECT oss_url, expires_at FROM uploads WHERE sha256 = ? AND backend = ? AND region = ?",
            [sha256, backend, region],
        )
        for url, expires in rows:
            if datetime.fromisoformat(expires) > valid_until:
                return str(url)
        return None

    # ------------------------------------------------------------------ views


_APPEND_ONLY = frozenset({"ratings", "preferences"})
_ALL = ", ".join(COLUMNS)  # never SELECT *: PostgreSQL logs have a bookkeeping column more


def _open_postgres(target: Target) -> Database:
    """A connection to a PostgreSQL log, its schema migrated (under the advisory lock)."""
    try:
        db = Database.open(target)
        migrate(db)
    except DatabaseError as exc:
        raise RunLogError(f"cannot open the run log {target.shown!r}: {exc}") from None
    return db


def _reconnector(path: Path, first: sqlite3.Connection) -> Any:
    """The connector of a SQLite log: ``first`` (already open and migrated), then, after a
    fork, a new connection made the same way."""
    given = [first]

    def connect() -> sqlite3.Connection:
        return given.pop() if given else _open(path)[0]

    return connect


def _open(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """A connection to the log, and why it is read-only (None when it can be written).

    A log that exists but cannot be opened for writing (a read-only mount, a folder of someone
    else's) is opened for reading: listing and reading a shared or archived log must work."""
    try:
        return _connect(path), None
    except RunLogError as exc:
        if not path.is_file():
            raise
        try:
            return _connect_read_only(path), str(exc.__cause__ or exc)
        except sqlite3.Error:
            raise exc from None


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Read ``path`` without writing anything beside it. A WAL log needs its ``-shm`` file, which
    a read-only folder cannot get: then it is read as immutable (nobody can write it there)."""
    for query in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?{query}",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            conn.execute("SELECT count(*) FROM runs").fetchone()
            return conn
        except sqlite3.Error:
            conn.close()
            if query.endswith("immutable=1"):
                raise
    raise AssertionError("unreachable")


def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode with WAL, a busy timeout, and the schema migrated."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise RunLogError(f"cannot open the run log {str(path)!r}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _wal(conn, path)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable with WAL across a process crash
        migrate(conn)
    except (sqlite3.Error, DatabaseError) as exc:
        conn.close()
        raise RunLogError(f"cannot open the run log {str(path)!r}: {exc}") from exc
    return conn


class RunLogWarning(UserWarning):
    """The run log works, but not as safely as it should (e.g. it could not use WAL)."""


def _wal(conn: sqlite3.Connection, path: Path | str) -> str:
    """Switch to WAL and return the journal mode SQLite reports. The switch needs a moment
    alone with the file, and SQLite does not always wait for it through the busy handler, so
    retry for up to the busy timeout. SQLite keeps the old mode without an error where WAL
    cannot work (a network file system, no shared memory): that is said, not passed over."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    mode = str(row[0] if row else "unknown").lower()
    if mode != "wal":
        warnings.warn(
            f"the run log {str(path)!r} could not switch to WAL mode (SQLite kept journal mode "
            f"{mode!r}); its folder may be on a network file system, where several kernels "
            "writing at once may wait, fail or corrupt it. Put WANBOOK_HOME on a local disk.",
            RunLogWarning,
            stacklevel=2,
        )
    return mode
