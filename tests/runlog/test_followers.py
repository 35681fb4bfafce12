"""Who follows a run (wanbook._runlog.followers): heartbeats, and resume taking over a run only
from an owner that is gone — on both engines (tests/runlog/conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from wanbook._owner import Owner
from wanbook._runlog import followers
from wanbook._runlog.followers import FRESH_FOR, take_over
from wanbook._runlog.store import RunLog


def _ended_pid() -> int:
    """The pid of a process of this machine that has ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _beat(log: RunLog, hostname: str, pid: int, host: str, started: str, age: float) -> None:
    """A follower row as another process would have written it ``age`` seconds ago."""
    now = "extract(epoch FROM clock_timestamp())" if log.dialect == "postgresql" else "?"
    args = [] if log.dialect == "postgresql" else [__import__("time").time()]
    log.execute(
        "INSERT INTO followers (hostname, pid, host, started, beat_at)"
        f" VALUES (?, ?, ?, ?, {now} - ?)",
        [hostname, pid, host, started, *args, age],
    )


def test_a_process_beats_from_its_first_run(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        assert log.query("SELECT count(*) FROM followers")[1][0][0] == 0  # reading: no beat
        log.insert(model="m", prompt="p")
        me = Owner.me()
        rows = log.query("SELECT hostname, pid, host, started FROM followers")[1]
        assert [tuple(r) for r in rows] == [(socket.gethostname(), me.pid, me.host, me.started)]
        assert log.heartbeat._thread is not None and log.heartbeat._thread.is_alive()
    assert not log.heartbeat._thread.is_alive() or log.heartbeat._stop.is_set()


def test_resume_leaves_a_live_teammates_runs_and_takes_a_gone_ones(tmp_path: Path) -> None:
    with RunLog.open(tmp_path) as log:
        live = log.insert(model="m", prompt="queued", hostname="laptop-ann", pid=4242)
        stale = log.insert(model="m", prompt="kernel died", hostname="laptop-bob", pid=77)
        ended = _ended_pid()
        local = log.insert(model="m", prompt="killed", hostname=socket.gethostname(), pid=ended)
        mine = log.insert(model="m", prompt="mine")
        _beat(log, "laptop-ann", 4242, "laptop-ann#b00t", "1", age=5)  # beats: alive
        _beat(log, "laptop-bob", 77, "laptop-bob#b00t", "1", age=FRESH_FOR + 5)  # stopped
        me = Owner.me()
        _beat(log, socket.gethostname(), ended, me.host, "1", age=1)  # fresh, but its pid ended

        taken, left = take_over(log, log.unfinished())

        assert sorted(r["run_id"] for r in taken) == sorted([stale, local, mine])
        assert left == {live: "laptop-ann (pid 4242)"}
        for run_id in (stale, local, mine):  # now this process's: its beat keeps them
            record = log.get(run_id)
            assert record is not None
            assert (record["hostname"], record["pid"]) == (socket.gethostname(), os.getpid())
        assert log.get(live)["hostname"] == "laptop-ann"  # type: ignore[index]
        assert "laptop-ann (pid 4242)" in followers.followed_note(left)


def test_two_resumes_at_once_take_each_run_once(tmp_path: Path) -> None:
    """Both read the run with its dead owner, both try to take it at the same moment: the
    compare-and-set lets one of them, the other leaves it to that one."""
    with RunLog.open(tmp_path) as a, RunLog.open(tmp_path) as b:
        run_id = a.insert(model="m", prompt="p", hostname="gone-host", pid=5)
        (record,) = a.unfinished()
        results: list[tuple[list, dict]] = []
        start = threading.Barrier(2)

        def resume(log: RunLog) -> None:
            start.wait()
            results.append(take_over(log, [record]))

        threads = [threading.Thread(target=resume, args=(log,)) for log in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        taken = [r["run_id"] for got, _ in results for r in got]
        left = [dict(lft) for _, lft in results if lft]
        assert taken == [run_id]
        assert left == [{run_id: "another resume"}]
