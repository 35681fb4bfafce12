"""The account's shared state: what every process on one account must agree on to stay within the
account's limits and a team's budgets, in SQL: a small SQLite file in the per-user state folder,
or, when the run log is on PostgreSQL (``WANBOOK_DB=postgresql://...``), that same database, so
teammates on several machines share it too.

DashScope limits the *account* (docs/dashscope-api.md §4.1), not a Python process: four shells each
running ``wanbook generate`` on one key, or two notebooks side by side, share 2 submissions per
second and 2 tasks in flight for wan2.1/2.2. So the pacing state lives here, keyed by the account,
and every process with the same key and endpoint reads and writes it in short transactions:

* ``pace``: per (account, rate group), the last reserved submission times and a hold (a 429 seen
  by any process holds all of them). A sender reserves the first time at which fewer than
  ``rate`` reservations lie in the window before it, commits, and sleeps until then — a
  reservation, so first come first served across processes;
* ``slots``: the group's tasks in flight, one row per task from before its create until its
  owner sees it ended. A row stops counting when its owner process is gone (same host only: the
  pid, with its start time, no longer runs) or nobody has polled its task for ``STALE_AFTER``
  (``last_polled_at``), so a dead kernel never holds a slot for ever — on another machine, only
  the second rule can tell;
* ``budgets`` and ``budget_entries``: named budgets shared by processes (see
  ``wanbook._engine.shared_budget``).

Where: with ``WANBOOK_DB`` on PostgreSQL, in that database (in the schema of its search path),
next to the run log. Else ``WANBOOK_STATE_DIR`` or the per-user state folder
(``platformdirs.user_state_dir``), not ``WANBOOK_HOME``, which may differ per process and per
notebook folder. What locks it: SQLite's write lock (``BEGIN IMMEDIATE``) on the file; on
PostgreSQL a transaction-scoped advisory lock per (account, group) for pacing and slots, per name
for a budget (``wanbook._sql``), with ``lock_timeout`` and ``idle_in_transaction_session_timeout``
so a stuck holder cannot stall the others. Each operation is one short transaction, never held
across a sleep or a request. Clocks: on PostgreSQL every stored time is the database's
(``clock_timestamp()``), so teammates' clocks need not agree; on SQLite, this machine's.

The account is named by a keyed hash (HMAC-SHA256, the API key as the key) of the endpoint:
processes with one key and one endpoint meet, and the key itself is never stored.

When the state cannot be used (an unwritable folder, a disk error, a lock held past the timeout,
a database that cannot be reached or was lost), the store raises :class:`StateUnavailable`; the
limiter then warns once and paces per process (429s are still absorbed, see
``_engine.submit.throttle_pace``), and a named budget refuses to send rather than spend unchecked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from wanbook._errors import ConfigError
from wanbook._owner import Owner
from wanbook._sql import Database, DatabaseError, Target, parse_url

__all__ = [
    "ENV_DB",
    "ENV_STATE_DIR",
    "STALE_AFTER",
    "STATE_FILE",
    "AccountStore",
    "Owner",
    "Reserved",
    "StateUnavailable",
    "account_id",
    "default_state_dir",
    "open_store",
]

ENV_STATE_DIR = "WANBOOK_STATE_DIR"
ENV_DB = "WANBOOK_DB"
STATE_FILE = "account.sqlite"
BUSY_TIMEOUT_S = 10.0
#: A slot whose task nobody has polled for this long stops counting (owners poll at least every
#: 15 s and note it at most every ``TOUCH_EVERY``): a kernel on another machine that died.
STALE_AFTER = 600.0
TOUCH_EVERY = 10.0
KEEP_TIMES = 32  # reserved submission times kept per group (more than any group's rate)
#: How long a lost PostgreSQL connection is tried again before the state counts as unavailable
#: (a server restart, a network blip). The store is asked from the event loop: keep it short.
RECONNECT_S = 2.0
#: On PostgreSQL, per transaction: wait at most this long for another process's lock (as
#: SQLite's busy timeout), and let the server end a transaction left idle this long (a process
#: stopped while holding a lock), in milliseconds.
PG_LOCK_TIMEOUT_MS = int(BUSY_TIMEOUT_S * 1000)
PG_IDLE_TIMEOUT_MS = 30_000
_PG_TIMEOUTS = (
    "SELECT set_config('lock_timeout', ?, true), "
    "set_config('idle_in_transaction_session_timeout', ?, true)"
)
_PG_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"

Clock = Callable[[], float]


class StateUnavailable(Exception):
    """The account's state cannot be used now (the reason is the message)."""


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``WANBOOK_STATE_DIR``, else the per-user state folder (``~/.local/state/wanbook`` on Linux)."""
    env = os.environ if environ is None else environ
    given = env.get(ENV_STATE_DIR)
    if given:
        return Path(given).expanduser().absolute()
    import platformdirs  # only when a session first paces: never at import

    return Path(platformdirs.user_state_dir("wanbook", appauthor=False))


def account_id(api_key: str, endpoint: str) -> str:
    """The account's name in the shared state: HMAC-SHA256 of the endpoint keyed by the API key
    (hex, 32 characters). The key cannot be read back from it."""
    mac = hmac.new(api_key.encode(), b"wanbook account\n" + endpoint.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


class Reserved(NamedTuple):
    """A submission time reserved by :meth:`AccountStore.reserve_send`: ``at`` on the store's
    clock, and ``wait``, the seconds from the reservation until then (sleep that long: on
    PostgreSQL the store's clock is the database's, not this machine's)."""

    at: float
    wait: float


# Append-only: never edit a shipped one. One list per dialect, same tables and meaning.
_MIGRATIONS: dict[str, tuple[str, ...]] = {
    "sqlite": (
        # m001: pacing, slots in flight, named budgets.
        """
        CREATE TABLE pace (
            account TEXT NOT NULL, grp TEXT NOT NULL,
            times TEXT NOT NULL DEFAULT '[]', hold_until REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (account, grp));
        CREATE TABLE slots (
            id INTEGER PRIMARY KEY, account TEXT NOT NULL, grp TEXT NOT NULL,
            pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL,
            task_id TEXT, reserved_at REAL NOT NULL, last_polled_at REAL NOT NULL);
        CREATE INDEX slots_by_group ON slots (account, grp);
        CREATE TABLE budgets (
            name TEXT PRIMARY KEY, amount REAL NOT NULL, currency TEXT NOT NULL,
            updated_at REAL NOT NULL);
        CREATE TABLE budget_entries (
            id INTEGER PRIMARY KEY, budget TEXT NOT NULL, rehearsal INTEGER NOT NULL,
            state TEXT NOT NULL, amount REAL NOT NULL, currency TEXT NOT NULL, run_id TEXT,
            pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL,
            created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE INDEX entries_by_budget ON budget_entries (budget);
        CREATE INDEX entries_by_run ON budget_entries (run_id);
        """,
    ),
    "postgresql": (
        # m001: the same tables; times are epoch seconds in double precision (REAL is 4 bytes).
        """
        CREATE TABLE pace (
            account TEXT NOT NULL, grp TEXT NOT NULL,
            times TEXT NOT NULL DEFAULT '[]', hold_until DOUBLE PRECISION NOT NULL DEFAULT 0,
            PRIMARY KEY (account, grp));
        CREATE TABLE slots (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            account TEXT NOT NULL, grp TEXT NOT NULL,
            pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL, task_id TEXT,
            reserved_at DOUBLE PRECISION NOT NULL, last_polled_at DOUBLE PRECISION NOT NULL);
        CREATE INDEX slots_by_group ON slots (account, grp);
        CREATE TABLE budgets (
            name TEXT PRIMARY KEY, amount DOUBLE PRECISION NOT NULL, currency TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL);
        CREATE TABLE budget_entries (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            budget TEXT NOT NULL, rehearsal INTEGER NOT NULL,
            state TEXT NOT NULL, amount DOUBLE PRECISION NOT NULL, currency TEXT NOT NULL,
            run_id TEXT, pid INTEGER NOT NULL, host TEXT NOT NULL, started TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL);
        CREATE INDEX entries_by_budget ON budget_entries (budget);
        CREATE INDEX entries_by_run ON budget_entries (run_id);
        """,
    ),
}
#: On PostgreSQL the applied version is kept here (SQLite: ``PRAGMA user_version`` of the file).
_PG_VERSION_TABLE = "account_state_version"
_SCHEMA_LOCK = "wanbook account state: schema"


def _statements(migration: str) -> list[str]:
    return [part.strip() for part in migration.split(";") if part.strip()]


def open_store(
    state_dir: Path | None = None,
    database: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> AccountStore:
    """The account state of a session: in ``database`` (``WANBOOK_DB``) when it is PostgreSQL,
    else in ``account.sqlite`` of ``state_dir`` (``WANBOOK_STATE_DIR`` or the per-user state
    folder). Not connected yet: that happens on first use. Arguments left out are read from
    ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    if database is None:
        database = env.get(ENV_DB) or None
    if database:
        try:
            target = parse_url(database)
        except DatabaseError as exc:
            raise ConfigError(f"{ENV_DB}: {exc}") from None
        if target.dialect == "postgresql":
            return AccountStore(database=target)
    return AccountStore((state_dir or default_state_dir(env)) / STATE_FILE)


class AccountStore:
    """One user's (or team's) shared state, opened on first use; thread-safe; safe across
    processes, and across machines on PostgreSQL.

    Give ``path`` (a SQLite file) or ``database`` (a PostgreSQL URL or a
    :class:`~wanbook._sql.Target`).
    ``clock`` (epoch seconds) is a seam for tests; left out, it is this machine's wall clock on
    SQLite and the database's ``clock_timestamp()`` on PostgreSQL — every process must use the
    same one, since the times stored are compared across processes. ``owner`` is this process.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        database: str | Target | None = None,
        clock: Clock | None = None,
        owner: Owner | None = None,
    ) -> None:
        if (path is None) == (database is None):
            raise ValueError("give either the state's SQLite file or its PostgreSQL database")
        self.path = None if path is None else Path(path)
        self.target: Target
        if database is not None:
            self.target = database if isinstance(database, Target) else parse_url(database)
            if self.target.dialect != "postgresql":
                raise ValueError(f"{self.target.shown!r} is not a PostgreSQL database")
        else:
            self.target = Target("sqlite", path=self.path)
        self.dialect = self.target.dialect
        self.clock = clock
        self.owner = owner or Owner.me()
        self._db: Database | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AccountStore({self.where!r})"

    @property
    def where(self) -> str:
        """Where the state is, as said to a person (a path, or the database's URL: no password)."""
        return self.target.shown

    @property
    def remedy(self) -> str:
        """What to do when the state is unavailable (for a warning)."""
        if self.dialect == "postgresql":
            return "Check that the database in WANBOOK_DB is reachable: the next session shares it."
        return "Set WANBOOK_STATE_DIR to a writable local folder to share it again."

    # ------------------------------------------------------------------ plumbing
    def _connect(self) -> Database:
        if self._db is None:
            if self.dialect == "sqlite":
                db = Database(self.target, self._sqlite_connection)
            else:
                db = Database(self.target)
                db.retry_s = RECONNECT_S
            try:
                self._migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _sqlite_connection(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            with contextlib.suppress(sqlite3.OperationalError):  # another process switching
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)
        return conn

    def _migrate(self, db: Database) -> None:
        """Bring the tables up to date: in one write transaction under the schema's lock, so
        processes starting at once apply each migration exactly once."""
        migrations = _MIGRATIONS[self.dialect]
        with db.transaction(lock=_SCHEMA_LOCK):
            if self.dialect == "sqlite":
                (version,) = db.execute("PRAGMA user_version").rows[0]
            else:
                version = 0
                if db.execute("SELECT to_regclass(?)", [_PG_VERSION_TABLE]).rows[0][0] is None:
                    db.execute(f"CREATE TABLE {_PG_VERSION_TABLE} (version INTEGER NOT NULL)")
                else:
                    row = db.execute(f"SELECT max(version) FROM {_PG_VERSION_TABLE}").one()
                    version = (row[0] if row else None) or 0
            for number in range(int(version), len(migrations)):
                for statement in _statements(migrations[number]):
                    db.execute(statement)
                if self.dialect == "sqlite":
                    db.execute(f"PRAGMA user_version = {number + 1}")
                else:
                    db.execute(
                        f"INSERT INTO {_PG_VERSION_TABLE} (version) VALUES (?)", [number + 1]
                    )

    @contextlib.contextmanager
    def transaction(self, *locks: str) -> Iterator[Database]:
        """A short write transaction. SQLite: ``BEGIN IMMEDIATE`` (one writer at a time across
        processes; ``locks`` are not needed). PostgreSQL: ``BEGIN`` and the advisory lock of
        each name in ``locks`` (in the order given), held until the end. Raises
        :class:`StateUnavailable` when the state cannot be used."""
        with self._lock:
            try:
                db = self._connect()
                with db.transaction():
                    if self.dialect == "postgresql":
                        db.execute(_PG_TIMEOUTS, [str(PG_LOCK_TIMEOUT_MS), str(PG_IDLE_TIMEOUT_MS)])
                        for name in locks:  # a nested transaction takes the lock, to the end
                            with db.transaction(lock=f"wanbook account state: {name}"):
                                pass
                    yield db
            except (DatabaseError, sqlite3.Error, OSError) as exc:
                raise StateUnavailable(self._reason(exc)) from exc

    def _reason(self, exc: BaseException) -> str:
        """Why the state is unusable, on one line, naming where it is once."""
        text = " ".join(str(exc).split())
        return text if self.where in text else f"{self.where}: {text}"

    def now(self, db: Database) -> float:
        """The store's clock, in epoch seconds (inside a transaction: on PostgreSQL, the
        database's clock now, after the locks were taken)."""
        if self.clock is not None:
            return self.clock()
        if self.dialect == "postgresql":
            return float(db.execute(_PG_NOW).rows[0][0])
        return time.time()

    def insert(self, db: Database, sql: str, params: Sequence[object]) -> int:
        """Run an ``INSERT`` into a table with an ``id`` column; the new row's id."""
        if self.dialect == "postgresql":
            return int(db.execute(sql + " RETURNING id", params).rows[0][0])
        return int(db.execute(sql, params).lastrowid or 0)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _mine(self) -> tuple[int, str, str]:
        o = self.owner
        return o.pid, o.host, o.started

    # ------------------------------------------------------------------ submissions per second
    def reserve_send(self, account: str, group: str, rate: int, span: float) -> Reserved:
        """Reserve the earliest time (not before now) at which fewer than ``rate`` reservations
        of the group lie in the ``span`` seconds before it."""
        with self.transaction(f"pace {account} {group}") as db:
            now = self.now(db)
            row = db.execute(
                "SELECT times, hold_until FROM pace WHERE account = ? AND grp = ?",
                (account, group),
            ).one()
            times: list[float] = json.loads(row[0]) if row else []
            at = max(now, float(row[1]) if row else 0.0)
            if len(times) >= rate:
                at = max(at, times[-rate] + span)
            if times:
                at = max(at, times[-1])  # reservations stay in order
            times = [*times, at][-KEEP_TIMES:]
            db.execute(
                "INSERT INTO pace (account, grp, times) VALUES (?, ?, ?) "
                "ON CONFLICT (account, grp) DO UPDATE SET times = excluded.times",
                (account, group, json.dumps(times)),
            )
            return Reserved(at, at - now)

    def hold(self, account: str, group: str, seconds: float) -> float:
        """Let no process send to the group for ``seconds`` from now (longer holds win); the
        hold's end on the store's clock."""
        with self.transaction(f"pace {account} {group}") as db:
            until = self.now(db) + max(0.0, seconds)
            row = db.execute(
                "SELECT hold_until FROM pace WHERE account = ? AND grp = ?", (account, group)
            ).one()
            until = max(until, float(row[0]) if row else 0.0)
            db.execute(
                "INSERT INTO pace (account, grp, hold_until) VALUES (?, ?, ?) "
                "ON CONFLICT (account, grp) DO UPDATE SET hold_until = excluded.hold_until",
                (account, group, until),
            )
            return until

    def hold_until(self, account: str, group: str) -> float:
        with self.transaction() as db:
            row = db.execute(
                "SELECT hold_until FROM pace WHERE account = ? AND grp = ?", (account, group)
            ).one()
            return float(row[0]) if row else 0.0

    # ------------------------------------------------------------------ tasks in flight
    def _live_slots(self, db: Database, account: str, group: str) -> int:
        """Count the group's slots that still hold, deleting those that expired (the caller
        holds the group's slot lock)."""
        now = self.now(db)
        rows = db.execute(
            "SELECT id, pid, host, started, last_polled_at FROM slots WHERE account = ? AND grp = ?",
            (account, group),
        ).rows
        dead = [
            sid
            for sid, pid, host, started, polled in rows
            if now - polled > STALE_AFTER or self.owner.gone(pid, host, started)
        ]
        for sid in dead:
            db.execute("DELETE FROM slots WHERE id = ?", (sid,))
        return len(rows) - len(dead)

    def try_slot(self, account: str, group: str, cap: int) -> int | None:
        """Take a slot in flight if fewer than ``cap`` hold: its id, or None (no room now)."""
        with self.transaction(f"slots {account} {group}") as db:
            if self._live_slots(db, account, group) >= cap:
                return None
            return self._insert_slot(db, account, group)

    def add_slot(self, account: str, group: str) -> int:
        """Count a task that already runs (a resumed one) in flight, room or not: its slot id."""
        with self.transaction(f"slots {account} {group}") as db:
            return self._insert_slot(db, account, group)

    def _insert_slot(self, db: Database, account: str, group: str) -> int:
        now = self.now(db)
        return self.insert(
            db,
            "INSERT INTO slots (account, grp, pid, host, started, reserved_at, last_polled_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account, group, *self._mine(), now, now),
        )

    def touch_slot(self, slot_id: int, task_id: str | None = None) -> None:
        """Note that the slot's task was just polled (and its id, once known)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE slots SET last_polled_at = ?, task_id = coalesce(?, task_id) WHERE id = ?",
                (self.now(db), task_id, slot_id),
            )

    def free_slot(self, slot_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM slots WHERE id = ?", (slot_id,))

    def in_flight(self, account: str, group: str) -> int:
        """How many of the group's slots hold now (expired ones are dropped)."""
        with self.transaction(f"slots {account} {group}") as db:
            return self._live_slots(db, account, group)

    # ------------------------------------------------------------------ helpers for budgets
    def owner_row(self) -> Sequence[object]:
        """``(pid, host, started)`` of this process, as budget entries store it."""
        return self._mine()
