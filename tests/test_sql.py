"""wanbook._sql: one connection of either dialect, URLs without passwords, locks, fork, reconnect."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from typing import Any

import pytest

from wanbook._sql import (
    ADVISORY_KEY,
    Database,
    DatabaseError,
    IntegrityError,
    MissingDriver,
    Unavailable,
    parse_url,
    redact,
    render,
)


@pytest.mark.parametrize(
    ("sql", "rendered"),
    [
        ("SELECT ? , ?", "SELECT %s , %s"),
        ("SELECT 5 % 2 WHERE a LIKE 'x%' AND b = ?", "SELECT 5 %% 2 WHERE a LIKE 'x%%' AND b = %s"),
        ("SELECT 'what?' , \"odd?col\" , ?", "SELECT 'what?' , \"odd?col\" , %s"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT 1 -- why? 100%\n, ?", "SELECT 1 -- why? 100%%\n, %s"),
    ],
)
def test_placeholders_render_for_psycopg(sql: str, rendered: str) -> None:
    assert render(sql) == rendered


def test_a_password_in_a_url_is_refused_and_never_shown() -> None:
    for url in (
        "postgresql://alice:s3cretpw@db.example/runs",
        "postgres://alice:s3cretpw@db.example:5433/runs?sslmode=require",
        "postgresql://alice@db.example/runs?password=s3cretpw",
    ):
        with pytest.raises(DatabaseError) as info:
            parse_url(url)
        assert "s3cretpw" not in str(info.value)
        assert "~/.pgpass" in str(info.value)
    assert redact("postgresql://bob:pw1@h/db and password=pw2&x=1") == (
        "postgresql://bob:***@h/db and password=***&x=1"
    )


def test_urls_name_a_dialect() -> None:
    assert parse_url("postgresql://alice@db.example/runs").dialect == "postgresql"
    assert parse_url("postgres://alice@db.example/runs").dialect == "postgresql"
    target = parse_url("sqlite:///tmp/x/runs.sqlite")
    assert (target.dialect, str(target.path)) == ("sqlite", "/tmp/x/runs.sqlite")
    assert parse_url("/tmp/runs.sqlite").dialect == "sqlite"
    with pytest.raises(DatabaseError, match="not supported"):
        parse_url("mysql://alice@db/runs")
    shown = repr(parse_url("postgresql://alice@db.example/runs"))
    assert "alice@db.example/runs" in shown


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    with pytest.raises(MissingDriver, match=r"pip install 'wanbook\[team\]'"):
        Database.open("postgresql://alice@db.example/runs")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return str(tmp_path / "x.sqlite")
    return str(request.getfixturevalue("pg_url"))


def test_execute_query_transactions_and_errors_on_both(url: str) -> None:
    db = Database.open(url)
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, x DOUBLE PRECISION)")
    db.execute("INSERT INTO t (k, n, x) VALUES (?, ?, ?)", ["a%", 1, 0.5])
    assert db.query("SELECT k, n, x FROM t WHERE k LIKE 'a%'") == (
        ["k", "n", "x"],
        [("a%", 1, 0.5)],
    )
    with pytest.raises(IntegrityError):
        db.execute("INSERT INTO t (k, n) VALUES (?, ?)", ["a%", 2])
    with pytest.raises(RuntimeError), db.transaction("t"):
        db.execute("INSERT INTO t (k, n) VALUES (?, ?)", ["b", 2])
        raise RuntimeError("rolled back")
    with db.transaction("t"):
        assert db.in_transaction
        db.execute("INSERT INTO t (k, n) VALUES (?, ?)", ["c", 3])
    assert not db.in_transaction
    assert [k for (k,) in db.query("SELECT k FROM t ORDER BY k")[1]] == ["a%", "c"]
    assert db.execute("UPDATE t SET n = n + 1 WHERE k = ?", ["zz"]).rowcount == 0
    with pytest.raises(DatabaseError):
        db.execute("SELECT * FROM no_such_table")
    db.execute("SELECT 1")  # usable after an error
    db.close()
    with pytest.raises(DatabaseError, match="closed"):
        db.execute("SELECT 1")


def _hold(url: str, name: str, ready: Any, release: Any) -> None:
    db = Database.open(url)
    with db.transaction(name):
        ready.set()
        release.wait(60)
    db.close()


def test_the_advisory_lock_makes_writers_take_turns(pg_url: str) -> None:
    """Another process holds the lock of one name: that name is taken, another is free; once
    the holder commits, the waiting writer gets it."""
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(pg_url, "wanbook.test", ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        db = Database.open(pg_url)
        try_lock = f"SELECT pg_try_advisory_xact_lock({ADVISORY_KEY})"
        with db.transaction():
            assert db.query(try_lock, ["wanbook.test"])[1] == [(False,)]
            assert db.query(try_lock, ["another.name"])[1] == [(True,)]
        release.set()
        with db.transaction("wanbook.test"):  # waits for the holder's commit, then has it
            assert db.query(try_lock, ["wanbook.test"])[1] == [(True,)]  # (re-entrant)
        db.close()
    finally:
        release.set()
        holder.join(60)
    assert holder.exitcode == 0


def test_a_connection_is_never_used_across_fork(url: str) -> None:
    db = Database.open(url)
    db.execute("CREATE TABLE t (n BIGINT)")
    parent = db.raw()
    pid = os.fork()
    if pid == 0:  # the child: a connection of its own, then leave without cleanup
        code = 1
        try:
            db.execute("INSERT INTO t (n) VALUES (?)", [os.getpid()])
            code = 0 if db.raw() is not parent else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert db.raw() is parent
    assert db.query("SELECT n FROM t")[1] == [(pid,)]  # the parent's connection still works
    db.close()


def test_a_lost_postgresql_connection_is_made_again(pg_url: str) -> None:
    db = Database.open(pg_url)
    db.execute("CREATE TABLE t (n BIGINT)")
    other = Database.open(pg_url)
    (backend,) = db.query("SELECT pg_backend_pid()")[1][0]
    other.execute("SELECT pg_terminate_backend(?)", [backend])
    db.execute("INSERT INTO t (n) VALUES (1)")  # sent again on a new connection
    assert db.query("SELECT count(*) FROM t")[1] == [(1,)]
    # Inside a transaction a lost connection is an error: the transaction is gone.
    with pytest.raises(Unavailable), db.transaction():
        (backend,) = db.query("SELECT pg_backend_pid()")[1][0]
        other.execute("SELECT pg_terminate_backend(?)", [backend])
        db.execute("INSERT INTO t (n) VALUES (2)")
    assert db.query("SELECT count(*) FROM t")[1] == [(1,)]
    other.close()
    db.close()


def test_an_unreachable_server_is_unavailable_without_its_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"postgresql://nobody@/db?host={tmp_path}&connect_timeout=2"
    with pytest.raises(Unavailable) as info:
        Database.open(url)
    assert "cannot connect" in str(info.value)


def test_threads_share_one_database(url: str) -> None:
    db = Database.open(url)
    db.execute("CREATE TABLE t (n BIGINT)")

    def write(first: int) -> None:
        for n in range(first, first + 20):
            with db.transaction("t"):
                db.execute("INSERT INTO t (n) VALUES (?)", [n])

    threads = [threading.Thread(target=write, args=(i * 100,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.query("SELECT count(*) FROM t")[1] == [(80,)]
    db.close()


def test_a_silently_dropped_network_is_noticed_in_a_minute(pg_url: str) -> None:
    """libpq's keepalives and TCP user timeout are on unless the URL sets them (they act on TCP
    connections; the test server's socket is a Unix one, so the settings are read back)."""
    with Database.open(pg_url) as db:
        given = db.raw().info.get_parameters()
    assert {k: given.get(k) for k in ("keepalives_idle", "tcp_user_timeout")} == {
        "keepalives_idle": "30",
        "tcp_user_timeout": "60000",
    }
    sep = "&" if "?" in pg_url else "?"
    with Database.open(f"{pg_url}{sep}tcp_user_timeout=5000") as db:
        assert db.raw().info.get_parameters().get("tcp_user_timeout") == "5000"  # the URL's own
