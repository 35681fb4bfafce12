"""Who follows which runs: the heartbeats of the processes that write a run log, and how
``resume`` takes over a run only from an owner that is gone.

Every run names the process that wrote it (``hostname``, ``pid``). While that process lives it
may still send the run (a batch's queued runs wait, PREPARED, for a slot for minutes) or follow
its task. On a shared log (PostgreSQL, or one SQLite file used by two notebooks), a teammate's
``resume`` must leave such runs alone: taking a queued run for dead would end it NOT_CREATED and
give back its budget while its owner is about to pay for it.

So a process beats: from its first write, a row of ``followers`` (m008) names it and says when
it last beat (every :data:`BEAT_EVERY` seconds, from a daemon thread that dies with it; on
PostgreSQL by the database's clock). A run's owner is *alive* when it is this very process, or
its beat is younger than :data:`FRESH_FOR` and it is not surely gone (a process of this machine
whose pid no longer runs is gone at once: see :class:`wanbook._owner.Owner`). ``resume`` takes a
run only from an owner that is not alive, and takes it by a compare-and-set of the run's
``hostname`` and ``pid`` to its own, so two teammates resuming at once never both follow it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wanbook._owner import Owner
from wanbook._runlog.schema import utc_now

if TYPE_CHECKING:
    from wanbook._runlog.store import RunLog

__all__ = ["BEAT_EVERY", "FRESH_FOR", "Heartbeat", "followed_note", "take_over"]

BEAT_EVERY = 15.0  # seconds between two heartbeats of a process that writes runs
#: A heartbeat younger than this: its process is alive. Four beats, so a busy machine (or a
#: database that answers slowly for a while) does not make a live kernel look dead.
FRESH_FOR = 60.0
FORGET_AFTER = 86400.0  # rows of processes that stopped beating a day ago are deleted

logger = logging.getLogger("wanbook.runlog")

_PG_NOW = "extract(epoch FROM clock_timestamp())"


def _now(log: RunLog) -> tuple[str, list[float]]:
    """The SQL of "now" in seconds since the epoch, and its parameters: the database's clock on
    PostgreSQL (teammates' clocks need not agree), this machine's for a SQLite file."""
    if log.dialect == "postgresql":
        return _PG_NOW, []
    return "?", [time.time()]


class Heartbeat:
    """The heartbeat of this process in one run log: started by :meth:`ensure` (at the first
    run it writes or takes over), then every :data:`BEAT_EVERY` seconds until :meth:`stop`."""

    def __init__(self, log: RunLog) -> None:
        self.log = log
        self._pid: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Beat now and keep beating, unless this process already does (also after a fork)."""
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._pid == os.getpid():
                return
            self._pid, self._stop = os.getpid(), threading.Event()
            with contextlib.suppress(Exception):  # an unreachable log fails the write itself
                self.beat(forget=True)
            self._thread = threading.Thread(
                target=self._run,
                args=(self._stop, self._pid),
                name="wanbook-heartbeat",
                daemon=True,
            )
            self._thread.start()

    def _run(self, stop: threading.Event, pid: int) -> None:
        while not stop.wait(BEAT_EVERY):
            if os.getpid() != pid:
                return
            try:
                self.beat()
            except Exception as exc:  # the database away a while: beat again later
                logger.debug("heartbeat not written: %s", exc)

    def beat(self, *, forget: bool = False) -> None:
        """Write this process's beat (and, with ``forget``, drop rows a day stale)."""
        me = Owner.me()
        now, args = _now(self.log)
        self.log.execute(
            "INSERT INTO followers (hostname, pid, host, started, beat_at)"
            f" VALUES (?, ?, ?, ?, {now}) ON CONFLICT (hostname, pid, host)"
            " DO UPDATE SET started = excluded.started, beat_at = excluded.beat_at",
            [socket.gethostname(), me.pid, me.host, me.started, *args],
        )
        if forget:
            self.log.execute(
                f"DELETE FROM followers WHERE beat_at < {now} - ?", [*args, FORGET_AFTER]
            )

    def stop(self) -> None:
        self._stop.set()


def _alive_owners(log: RunLog) -> dict[tuple[str, int], str]:
    """The owners (hostname, pid) beating now and not surely gone, each with how to name it."""
    now, args = _now(log)
    _, rows = log.query(
        f"SELECT hostname, pid, host, started FROM followers WHERE beat_at > {now} - ?",
        [*args, FRESH_FOR],
    )
    me = Owner.me()
    return {
        (str(hostname), int(pid)): f"{hostname} (pid {pid})"
        for hostname, pid, host, started in rows
        if not me.gone(int(pid), str(host), str(started))
    }


def _is_mine(record: dict[str, Any]) -> bool:
    return record.get("hostname") == socket.gethostname() and record.get("pid") == os.getpid()


def take_over(
    log: RunLog, records: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The runs among ``records`` this process may carry forward (its own, and those whose owner
    is gone, now claimed for it), and the others: run id -> the live process that follows it."""
    records = list(records)
    if not records:
        return [], {}
    alive = _alive_owners(log)
    taken: list[dict[str, Any]] = []
    left: dict[str, str] = {}
    for record in records:
        owner = (str(record.get("hostname")), record.get("pid"))
        if _is_mine(record):
            taken.append(record)
        elif owner in alive:
            left[record["run_id"]] = alive[owner]
        elif _claim(log, record):
            taken.append({**record, "hostname": socket.gethostname(), "pid": os.getpid()})
        else:  # another resume claimed it a moment ago: it follows it now
            left[record["run_id"]] = "another resume"
    return taken, left


def _claim(log: RunLog, record: dict[str, Any]) -> bool:
    """Make this process the run's owner, unless someone did since ``record`` was read."""
    same = "IS" if log.dialect == "sqlite" else "IS NOT DISTINCT FROM"
    log.heartbeat.ensure()  # beating before it owns the run: nobody takes it back meanwhile
    changed = log.execute(
        f"UPDATE runs SET hostname = ?, pid = ?, updated_at = ? WHERE run_id = ?"
        f" AND hostname {same} ? AND pid {same} ?",
        [
            socket.gethostname(),
            os.getpid(),
            utc_now(),
            record["run_id"],
            record.get("hostname"),
            record.get("pid"),
        ],
    )
    return bool(changed)


def followed_note(left: dict[str, str]) -> str:
    """One line on the runs ``resume`` left to the live processes that follow them."""
    by = sorted(set(left.values()))
    return (
        f"{len(left)} unfinished run(s) left to the live process(es) that send or follow them "
        f"({', '.join(by)}); `wanbook resume` takes them over once those have stopped for "
        f"{FRESH_FOR:.0f} s"
    )
