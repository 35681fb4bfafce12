"""The account's shared state: what every process of one user must agree on to stay within the
account's limits and a team's budgets, in one small SQLite file in the per-user state folder.

DashScope limits the *account* (docs/dashscope-api.md §4.1), not a Python process: four shells each
running ``wanbook generate`` on one key, or two notebooks side by side, share 2 submissions per
second and 2 tasks in flight for wan2.1/2.2. So the pacing state lives here, keyed by the account,
and every process with the same key and endpoint reads and writes it in short transactions:

* ``pace``: per (account, rate group), the last reserved submission times and a hold (a 429 seen
  by any process holds all of them). A sender reserves the first time at which fewer than
  ``rate`` reservations lie in the window before it, commits, and sleeps until then — a
  reservation, so first come first served across processes;
* ``slots``: the group's tasks in flight, one row per task from before its create until its
  owner sees it ended. A row stops counting when its owner process is gone (same host: the pid,
  with its start time, no longer runs) or nobody has polled its task for ``STALE_AFTER``
  (``last_polled_at``), so a dead kernel never holds a slot for ever;
* ``budgets`` and ``budget_entries``: named budgets shared by processes (see
  ``wanbook._engine.shared_budget``).

Where: ``WANBOOK_STATE_DIR`` or the per-user state folder (``platformdirs.user_state_dir``), not
``WANBOOK_HOME``, which may differ per process and per notebook folder. What locks it: SQLite's
write lock (``BEGIN IMMEDIATE``), held for a few statements, never across a sleep or a request.

The account is named by a keyed hash (HMAC-SHA256, the API key as the key) of the endpoint:
processes with one key and one endpoint meet, and the key itself is never stored.

When the file cannot be used (an unwritable folder, a disk error, a lock held past the busy
timeout), the store raises :class:`StateUnavailable`; the limiter then warns once and paces per
process (429s are still absorbed, see ``_engine.submit.throttle_pace``), and a named budget
refuses to send rather than spend unchecked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ENV_STATE_DIR",
    "STALE_AFTER",
    "STATE_FILE",
    "AccountStore",
    "Owner",
    "StateUnavailable",
    "account_id",
    "default_state_dir",
]

ENV_STATE_DIR = "WANBOOK_STATE_DIR"
STATE_FILE = "account.sqlite"
BUSY_TIMEOUT_S = 10.0
#: A slot whose task nobody has polled for this long stops counting (owners poll at least every
#: 15 s and note it at most every ``TOUCH_EVERY``): a kernel on another machine that died.
STALE_AFTER = 600.0
TOUCH_EVERY = 10.0
KEEP_TIMES = 32  # reserved submission times kept per group (more than any group's rate)

Clock = Callable[[], float]


class StateUnavailable(Exception):
    """The account's state file cannot be used now (the reason is the message)."""


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


def _proc_start(pid: int) -> str:
    """When process ``pid`` started (Linux: clock ticks since boot), so a reused pid is not taken
    for the one that held a slot; "" where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@dataclass(frozen=True)
class Owner:
    """A process that holds slots or reservations: its pid, host and start time."""

    pid: int
    host: str
    started: str

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, socket.gethostname(), _proc_start(pid))

    def gone(self, pid: int, host: str, started: str) -> bool:
        """True if the process ``pid`` of ``host`` (started at ``started``) has surely ended: only
        a process of this host can be checked; another host's is never "surely" gone."""
        if host != self.host:
            return False
        if pid == self.pid:
            return started != self.started
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists, owned by someone else
            pass
        now = _proc_start(pid)
        return bool(started and now and now != started)


_MIGRATIONS: tuple[str, ...] = (
    # m001: pacing, slots in flight, named budgets. Append-only: never edit a shipped one.
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
)


class AccountStore:
    """One user's shared state file (opened on first use; thread-safe; safe across processes).

    ``clock`` (epoch seconds) is a seam for tests; every process must use the wall clock, since
    the times stored are compared across processes. ``owner`` is this process.
    """

    def __init__(self, path: Path, *, clock: Clock = time.time, owner: Owner | None = None) -> None:
        self.path = Path(path)
        self.clock = clock
        self.owner = owner or Owner.me()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AccountStore({str(self.path)!r})"

    # ------------------------------------------------------------------ plumbing
    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                with contextlib.suppress(sqlite3.OperationalError):  # another process switching
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    (version,) = conn.execute("PRAGMA user_version").fetchone()
                    for number in range(int(version), len(_MIGRATIONS)):
                        for statement in _MIGRATIONS[number].split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {number + 1}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except BaseException:
                conn.close()
                raise
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``: one writer at a time across processes).
        Raises :class:`StateUnavailable` when the file cannot be used."""
        with self._lock:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise StateUnavailable(f"{self.path}: {exc}") from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error | OSError):
                    raise StateUnavailable(f"{self.path}: {exc}") from exc
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _mine(self) -> tuple[int, str, str]:
        o = self.owner
        return o.pid, o.host, o.started

    # ------------------------------------------------------------------ submissions per second
    def reserve_send(self, account: str, group: str, rate: int, span: float) -> float:
        """Reserve the earliest time (epoch seconds, not before now) at which fewer than ``rate``
        reservations of the group lie in the ``span`` seconds before it, and return it."""
        with self.transaction() as db:
            now = self.clock()
            row = db.execute(
                "SELECT times, hold_until FROM pace WHERE account = ? AND grp = ?",
                (account, group),
            ).fetchone()
            times: list[float] = json.loads(row[0]) if row else []
            at = max(now, row[1] if row else 0.0)
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
            return at

    def hold(self, account: str, group: str, until: float) -> None:
        """Let no process send to the group before ``until`` (epoch seconds; longer holds win)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO pace (account, grp, hold_until) VALUES (?, ?, ?) "
                "ON CONFLICT (account, grp) DO UPDATE "
                "SET hold_until = max(hold_until, excluded.hold_until)",
                (account, group, until),
            )

    def hold_until(self, account: str, group: str) -> float:
        with self.transaction() as db:
            row = db.execute(
                "SELECT hold_until FROM pace WHERE account = ? AND grp = ?", (account, group)
            ).fetchone()
            return float(row[0]) if row else 0.0

    # ------------------------------------------------------------------ tasks in flight
    def _live_slots(self, db: sqlite3.Connection, account: str, group: str) -> int:
        """Count the group's slots that still hold, deleting those that expired."""
        now = self.clock()
        rows = db.execute(
            "SELECT id, pid, host, started, last_polled_at FROM slots WHERE account = ? AND grp = ?",
            (account, group),
        ).fetchall()
        dead = [
            sid
            for sid, pid, host, started, polled in rows
            if now - polled > STALE_AFTER or self.owner.gone(pid, host, started)
        ]
        db.executemany("DELETE FROM slots WHERE id = ?", [(sid,) for sid in dead])
        return len(rows) - len(dead)

    def try_slot(self, account: str, group: str, cap: int) -> int | None:
        """Take a slot in flight if fewer than ``cap`` hold: its id, or None (no room now)."""
        with self.transaction() as db:
            if self._live_slots(db, account, group) >= cap:
                return None
            return self._insert_slot(db, account, group)

    def add_slot(self, account: str, group: str) -> int:
        """Count a task that already runs (a resumed one) in flight, room or not: its slot id."""
        with self.transaction() as db:
            return self._insert_slot(db, account, group)

    def _insert_slot(self, db: sqlite3.Connection, account: str, group: str) -> int:
        now = self.clock()
        cur = db.execute(
            "INSERT INTO slots (account, grp, pid, host, started, reserved_at, last_polled_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (account, group, *self._mine(), now, now),
        )
        return int(cur.lastrowid or 0)

    def touch_slot(self, slot_id: int, task_id: str | None = None) -> None:
        """Note that the slot's task was just polled (and its id, once known)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE slots SET last_polled_at = ?, task_id = coalesce(?, task_id) WHERE id = ?",
                (self.clock(), task_id, slot_id),
            )

    def free_slot(self, slot_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM slots WHERE id = ?", (slot_id,))

    def in_flight(self, account: str, group: str) -> int:
        """How many of the group's slots hold now (expired ones are dropped)."""
        with self.transaction() as db:
            return self._live_slots(db, account, group)

    # ------------------------------------------------------------------ helpers for budgets
    def owner_row(self) -> Sequence[object]:
        """``(pid, host, started)`` of this process, as budget entries store it."""
        return self._mine()
