"""One database connection of either dialect (SQLite or PostgreSQL), and database URLs.

The run log and the account-wide state keep their data in SQL. Both engines are used through
:class:`Database`, one connection with:

- ``.dialect``: ``"sqlite"`` or ``"postgresql"``; callers branch on it where the SQL differs;
- :meth:`Database.execute` / :meth:`Database.query` taking wanbook's ``?`` placeholders (rendered
  to psycopg's ``%s``, a literal ``%`` escaped as ``%%``, quoted text left alone);
- :meth:`Database.transaction`: a write transaction holding the engine's lock, ``BEGIN
  IMMEDIATE`` on SQLite (one writer per file), ``BEGIN`` + ``pg_advisory_xact_lock(key)`` on
  PostgreSQL (key: the name and the current schema, hashed), released at ``COMMIT``/``ROLLBACK``;
- :meth:`Database.snapshot`: a read transaction (``REPEATABLE READ`` on PostgreSQL);
- errors of one tree (:class:`DatabaseError`): :class:`IntegrityError`, :class:`Unavailable`
  (cannot connect, connection lost), :class:`MissingDriver`; messages never hold a password;
- fork safety: a connection is never used across ``fork``; the child opens its own (the
  parent's is kept, unclosed, so that closing it cannot end the parent's session);
- reconnection on PostgreSQL: outside a transaction, a statement whose connection was lost is
  sent again on a new connection for up to ``retry_s`` seconds (a server restart, a network
  blip); inside one, the error is raised (the transaction is gone).

URLs (``WANBOOK_DB``): ``postgresql://user@host:port/dbname?param=value`` (also ``postgres://``;
libpq's URI syntax, so ``host=/run/postgresql`` in the query gives a Unix socket) or
``sqlite:///absolute/path`` or a plain path. **A password in the URL is refused**: the URL is
an environment variable that shells, notebooks (``%env``), process listings and CI logs echo,
and wanbook cannot take it back from them. libpq reads passwords from its usual places
(``PGPASSWORD``, ``~/.pgpass`` / ``PGPASSFILE``, a service file via ``PGSERVICE``), which
psycopg uses as they are. Every text wanbook shows of a URL goes through :func:`redact` anyway.

This module is a leaf: it imports nothing else of wanbook. psycopg is imported when a
PostgreSQL database is opened, never at import (``pip install 'wanbook[team]'``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "ADVISORY_KEY",
    "Database",
    "DatabaseError",
    "IntegrityError",
    "MissingDriver",
    "Result",
    "Target",
    "Unavailable",
    "parse_url",
    "redact",
    "render",
]

POSTGRES_SCHEMES = ("postgresql", "postgres")
INSTALL_HINT = "pip install 'wanbook[team]'"
CONNECT_TIMEOUT_S = 10  # libpq's connect_timeout when the URL gives none
#: libpq's TCP settings when the URL gives none: a network that drops silently (a laptop that
#: changed Wi-Fi, a VPN gone) is noticed in about a minute, not after TCP's own quarter of an
#: hour with the kernel's cell stuck; the statement is then sent again (RETRY_S) or fails clearly.
TCP_DEFAULTS = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # ms: unacknowledged data this long ends the connection
}
RETRY_S = 60.0  # how long a lost PostgreSQL connection is tried again, outside a transaction


# ------------------------------------------------------------------------------ errors
class DatabaseError(Exception):
    """A database said no, or could not be reached. The message never holds a password;
    ``detail`` is the driver's own words (without the database's name)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = message if detail is None else detail


class IntegrityError(DatabaseError):
    """A constraint refused the write (a duplicate key, a CHECK)."""


class Unavailable(DatabaseError):
    """The database cannot be reached (cannot connect, or the connection was lost)."""


class MissingDriver(DatabaseError):
    """A PostgreSQL URL without psycopg installed."""


# ------------------------------------------------------------------------------ URLs
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/?#\s]*):[^@/?#\s]*@")
_PASSWORD_PARAM = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^&\s]*)")


def redact(text: str) -> str:
    """``text`` with any password of a URL (``scheme://user:PASSWORD@``) or a conninfo
    (``password=...``) replaced by ``***``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _PASSWORD_PARAM.sub(lambda m: f"{m.group(1)}***", text)


@dataclass(frozen=True)
class Target:
    """Where a database is: the dialect, and a SQLite file or a PostgreSQL URL (no password)."""

    dialect: str
    path: Path | None = None  # sqlite
    url: str | None = None  # postgresql: as given, checked to hold no password

    @property
    def shown(self) -> str:
        """How to name the database to a person (a path, or the URL: never a password)."""
        return str(self.path) if self.path is not None else redact(str(self.url))

    @property
    def identity(self) -> str:
        """A short stable name of this database for file names (a hash of :attr:`shown`)."""
        return hashlib.sha256(self.shown.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Target({self.dialect!r}, {self.shown!r})"


def parse_url(value: str | os.PathLike[str]) -> Target:
    """The :class:`Target` of a ``WANBOOK_DB`` value. Raises :class:`DatabaseError` (with the
    URL redacted) for a password in the URL or an unknown scheme."""
    text = os.fspath(value).strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in POSTGRES_SCHEMES:
        parts = urlsplit(text)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if parts.password is not None or "password" in {k.lower() for k in query}:
            raise DatabaseError(
                f"the database URL {redact(text)!r} holds a password: wanbook does not take "
                "passwords from a URL (it is echoed by shells, notebooks and logs). Remove it "
                "and put the password in ~/.pgpass, a PostgreSQL service file (PGSERVICE) or "
                "PGPASSWORD, where libpq finds it"
            )
        return Target("postgresql", url=text)
    if scheme == "sqlite":
        path = unquote(urlsplit(text).path)
        if not path:
            raise DatabaseError(f"the database URL {text!r} names no file (sqlite:///path)")
        return Target("sqlite", path=Path(path))
    if scheme:
        raise DatabaseError(
            f"the database URL {redact(text)!r} is not supported: use postgresql://user@host/db "
            "(or a SQLite file's path)"
        )
    return Target("sqlite", path=Path(text).expanduser())


# ------------------------------------------------------------------------------ placeholders
@lru_cache(maxsize=512)
def render(sql: str) -> str:
    """wanbook's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` as ``%%``); text in
    single quotes, identifiers in double quotes and comments are left as they are."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:  # '' inside a literal
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
            continue
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        out.append("%s" if c == "?" else "%%" if c == "%" else c)
        i += 1
    return "".join(out)


# ------------------------------------------------------------------------------ results
@dataclass
class Result:
    """What a statement gave: its rows (if any), their column names, the rows changed, and on
    SQLite the new row's rowid (on PostgreSQL use ``RETURNING``)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    rowcount: int
    lastrowid: int | None = None

    def one(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


# ------------------------------------------------------------------------------ the connection
Connector = Callable[[], Any]


class Database:
    """One connection of either dialect, guarded by a lock (share it between threads).

    Open with :meth:`open` (a URL or a :class:`Target`); SQLite callers with needs of their own
    (WAL, a read-only fallback) pass ``connector``: a function returning a ``sqlite3``
    connection in autocommit mode (``isolation_level=None``).
    """

    def __init__(
        self, target: Target, connector: Connector | None = None, *, owned: bool = True
    ) -> None:
        self.target = target
        self._owned = owned  # False: a connection lent by the caller, never closed here
        self.dialect = target.dialect
        self.retry_s = RETRY_S
        self._connector = connector or self._default_connector()
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = os.getpid()
        self._inherited: list[Any] = []  # connections made before a fork: never used or closed
        self._closed = False
        self._depth = 0  # transactions opened through this object (nesting is flattened)

    @classmethod
    def open(
        cls, where: str | os.PathLike[str] | Target, connector: Connector | None = None
    ) -> Database:
        """A connected :class:`Database` (connecting now, so a bad URL fails here)."""
        target = where if isinstance(where, Target) else parse_url(where)
        db = cls(target, connector)
        db.raw()
        return db

    def __enter__(self) -> Database:
        return self

    def __del__(self) -> None:
        # An object dropped unclosed (a notebook's session let go): close its connection as
        # sqlite3 does, quietly. Never a connection inherited across fork (the parent's).
        conn = getattr(self, "_conn", None)
        if conn is not None and self._owned and getattr(self, "_pid", None) == os.getpid():
            with contextlib.suppress(Exception):
                conn.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<Database {self.dialect} {self.target.shown!r}{state}>"

    # -------------------------------------------------------------- connecting
    def _default_connector(self) -> Connector:
        if self.dialect == "sqlite":
            path = self.target.path

            def sqlite_connect() -> sqlite3.Connection:
                return sqlite3.connect(
                    path or ":memory:", timeout=30.0, isolation_level=None, check_same_thread=False
                )

            return sqlite_connect
        return self._pg_connect

    def _pg_connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise MissingDriver(
                f"the database {self.target.shown!r} is PostgreSQL, which needs psycopg: "
                f"{INSTALL_HINT}"
            ) from None
        url = str(self.target.url)
        params = dict(parse_qsl(urlsplit(url).query))
        extra: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        if "application_name" not in params:
            extra["application_name"] = "wanbook"
        extra.update({k: v for k, v in TCP_DEFAULTS.items() if k not in params})
        try:
            return psycopg.connect(url, **extra)
        except psycopg.Error as exc:
            raise Unavailable(
                f"cannot connect to the database {self.target.shown!r}: {redact(str(exc))}"
            ) from None

    def raw(self) -> Any:
        """The driver's connection (made on first use; a new one after ``fork``)."""
        with self._lock:
            if self._closed:
                raise DatabaseError(f"the database {self.target.shown!r} is closed")
            if self._conn is not None and os.getpid() != self._pid:
                # Never use a connection across fork: keep the parent's (unclosed: closing would
                # end the parent's session on the shared socket) and connect again.
                self._inherited.append(self._conn)
                self._conn, self._depth = None, 0
            if self._conn is None:
                self._conn = self._connector()
                self._pid = os.getpid()
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._owned and os.getpid() == self._pid:
                with contextlib.suppress(Exception):  # closing a broken connection
                    self._conn.close()
            self._conn = None
            self._closed = True

    @property
    def in_transaction(self) -> bool:
        with self._lock:
            if self._conn is None or os.getpid() != self._pid:
                return False
            if self.dialect == "sqlite":
                return bool(self._conn.in_transaction)
            return self._depth > 0

    # -------------------------------------------------------------- statements
    def execute(self, sql: str, params: Iterable[Any] = (), *, binary: bool = False) -> Result:
        """Run one statement with ``?`` placeholders; its :class:`Result`."""
        values = tuple(params)
        with self._lock:
            if self.dialect == "sqlite":
                return self._sqlite(sql, values)
            deadline = time.monotonic() + self.retry_s
            delay = 0.1
            while True:
                try:
                    return self._postgres(render(sql), values, binary)
                except Unavailable:
                    # Lost outside a transaction: the statement may be sent again on a new
                    # connection (what a lost COMMIT did is the caller's to check: see
                    # RunLog.insert). Inside a transaction the transaction is gone: raise.
                    if self._depth > 0 or time.monotonic() + delay > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)

    def query(
        self, sql: str, params: Iterable[Any] = (), *, binary: bool = False
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a ``SELECT``: (column names, rows)."""
        result = self.execute(sql, params, binary=binary)
        return result.columns, result.rows

    def _sqlite(self, sql: str, values: Sequence[Any]) -> Result:
        try:
            cur = self.raw().execute(sql, values)
            rows = cur.fetchall() if cur.description else []
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(f"{self.target.shown}: {exc}", str(exc)) from exc
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.target.shown}: {exc}", str(exc)) from exc
        names = [d[0] for d in cur.description] if cur.description else []
        return Result(names, rows, cur.rowcount, cur.lastrowid)

    def _postgres(self, sql: str, values: Sequence[Any], binary: bool) -> Result:
        import psycopg

        conn = self.raw()
        try:
            with conn.cursor(binary=binary) as cur:
                cur.execute(sql, values if values else None)
                rows = cur.fetchall() if cur.description else []
                names = [d.name for d in cur.description] if cur.description else []
                return Result(names, rows, cur.rowcount)
        except psycopg.IntegrityError as exc:
            detail = redact(str(exc))
            raise IntegrityError(f"{self.target.shown}: {detail}", detail) from None
        except psycopg.OperationalError as exc:
            detail = redact(str(exc))
            if conn.closed or conn.broken:
                self._conn = None  # connect again next time
                detail = f"lost the connection: {detail}"
                raise Unavailable(f"{self.target.shown}: {detail}", detail) from None
            raise DatabaseError(f"{self.target.shown}: {detail}", detail) from None
        except psycopg.Error as exc:
            detail = redact(str(exc))
            raise DatabaseError(f"{self.target.shown}: {detail}", detail) from None

    # -------------------------------------------------------------- transactions
    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Database]:
        """A write transaction. SQLite: ``BEGIN IMMEDIATE`` (the file's one write lock; ``lock``
        is not needed). PostgreSQL: ``BEGIN``, then, with ``lock``, the transaction-scoped
        advisory lock of that name (in this schema): writers naming one lock go one at a
        time. Commits at the end, rolls back on an exception. Nested: the outer one counts."""
        with self._lock:
            if self._depth > 0:
                if lock is not None and self.dialect == "postgresql":
                    self.execute(_ADVISORY, [lock])
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                if lock is not None and self.dialect == "postgresql":
                    self.execute(_ADVISORY, [lock])
                yield self
            except BaseException:
                self._end("ROLLBACK")
                raise
            else:
                self._end("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[Database]:
        """A read transaction: its queries see one state of the database. Inside another
        transaction, that one is the snapshot."""
        with self._lock:
            if self._depth > 0 or self.in_transaction:
                yield self
                return
            begin = "BEGIN" if self.dialect == "sqlite" else _READ_SNAPSHOT
            self.execute(begin)
            self._depth = 1
            try:
                yield self
            finally:
                self._end("COMMIT")  # nothing was written: COMMIT just ends the read

    def _end(self, statement: str) -> None:
        """COMMIT or ROLLBACK, never sent again on a new connection (there it would end
        nothing, and a lost COMMIT must be said). A failed ROLLBACK is let go: the transaction
        is gone with its connection."""
        try:
            self.execute(statement)  # _depth is still > 0: no retry on a new connection
        except DatabaseError:
            if statement == "COMMIT":
                raise
        finally:
            self._depth = 0


# The advisory lock's key for a name (one ``?``): 64 bits of md5(schema:name), so that logs in
# other schemas of one database do not wait for each other.
ADVISORY_KEY = "('x' || substr(md5(current_schema() || ':' || ?), 1, 16))::bit(64)::bigint"
_ADVISORY = f"SELECT pg_advisory_xact_lock({ADVISORY_KEY})"
_READ_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
