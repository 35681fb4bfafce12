"""The account's shared state, on both engines (a per-user SQLite file; the team's PostgreSQL
database): submission times reserved in order, holds, slots in flight that expire with their
process or when nobody polls them, tables made once when processes start together, the
database's clock on PostgreSQL, and a state that cannot be used (or is lost mid-run) said once
while pacing goes on per process. The account is named without the key."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_API_KEY
from tests.fakes import FakeClock
from tests.pg_outage import Outage, StoppedServer
from wanbook._api.account_state import (
    STALE_AFTER,
    AccountStore,
    Owner,
    StateUnavailable,
    account_id,
    default_state_dir,
    open_store,
)
from wanbook._api.pacing import (
    AccountStateWarning,
    SharedAccount,
    SharedGroupLimit,
)
from wanbook._errors import ConfigError

G = "wan2.1/wan2.2"

Make = Callable[..., AccountStore]


def other(pid: int = 4242, host: str = "elsewhere") -> Owner:
    return Owner(pid, host, "1")


def test_the_account_is_a_keyed_hash_never_the_key() -> None:
    a = account_id(TEST_API_KEY, "https://dashscope-intl.aliyuncs.com/api/v1")
    assert len(a) == 32 and TEST_API_KEY not in a and a.isalnum()
    assert a == account_id(TEST_API_KEY, "https://dashscope-intl.aliyuncs.com/api/v1")
    assert a != account_id(TEST_API_KEY, "https://dashscope.aliyuncs.com/api/v1")
    assert a != account_id(TEST_API_KEY + "x", "https://dashscope-intl.aliyuncs.com/api/v1")


def test_the_state_lives_per_user_not_under_wanbook_home(tmp_path: Path) -> None:
    assert default_state_dir({"WANBOOK_STATE_DIR": str(tmp_path)}) == tmp_path
    home = default_state_dir({"WANBOOK_HOME": str(tmp_path)})
    assert tmp_path not in home.parents and home.name == "wanbook"


def test_the_state_follows_a_postgresql_run_log_else_the_state_folder(tmp_path: Path) -> None:
    url = "postgresql://alice@db.example/team"
    store = open_store(environ={"WANBOOK_DB": url, "WANBOOK_STATE_DIR": str(tmp_path)})
    assert store.dialect == "postgresql" and store.where == url and store.path is None
    for env in ({}, {"WANBOOK_DB": str(tmp_path / "runs.sqlite")}):  # a SQLite log: per user
        store = open_store(environ={**env, "WANBOOK_STATE_DIR": str(tmp_path)})
        assert store.dialect == "sqlite" and store.path == tmp_path / "account.sqlite"
    with pytest.raises(ConfigError, match=r"WANBOOK_DB: .*holds a password") as info:
        open_store(environ={"WANBOOK_DB": "postgresql://alice:hunter2@db.example/team"})
    assert "hunter2" not in str(info.value)


def test_processes_reserve_submission_times_in_order(store_of: Make) -> None:
    clock = FakeClock()
    a, b = store_of(clock, Owner.me()), store_of(clock, other())
    t0 = clock()
    got = [s.reserve_send("acct", G, 2, 1.1) for s in (a, b, a, b, a)]
    assert [r.at for r in got] == pytest.approx([t0, t0, t0 + 1.1, t0 + 1.1, t0 + 2.2], abs=1e-6)
    assert [r.wait for r in got] == pytest.approx([0, 0, 1.1, 1.1, 2.2], abs=1e-6)
    assert a.reserve_send("other-account", G, 2, 1.1).at == t0  # accounts do not share


def test_a_hold_seen_by_one_process_holds_all(store_of: Make) -> None:
    clock = FakeClock()
    a, b = store_of(clock, Owner.me()), store_of(clock, other())
    assert a.hold("acct", G, 30.0) == clock() + 30.0
    assert a.hold("acct", G, 5.0) == clock() + 30.0  # a shorter hold does not shorten it
    assert b.hold_until("acct", G) == clock() + 30.0
    assert b.reserve_send("acct", G, 2, 1.1) == (clock() + 30.0, 30.0)


def test_slots_in_flight_are_capped_across_processes(store_of: Make) -> None:
    clock = FakeClock()
    a, b = store_of(clock, Owner.me()), store_of(clock, other(host="another-machine"))
    first = a.try_slot("acct", G, 2)
    assert first is not None and b.try_slot("acct", G, 2) is not None
    assert a.try_slot("acct", G, 2) is None and b.try_slot("acct", G, 2) is None
    a.free_slot(first)
    assert b.try_slot("acct", G, 2) is not None
    assert a.in_flight("acct", G) == 2


def test_a_dead_process_of_this_machine_holds_no_slot(store_of: Make) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    me = Owner.me()
    dead = Owner(int(done.stdout), me.host, "1")  # this machine, no longer running
    clock = FakeClock()
    mine, theirs = store_of(clock, me), store_of(clock, dead)
    assert theirs.try_slot("acct", G, 1) is not None
    assert mine.in_flight("acct", G) == 0
    assert mine.try_slot("acct", G, 1) is not None


def test_another_machines_slot_stops_counting_only_when_nobody_polls_it(store_of: Make) -> None:
    """Its pid means nothing here (even one that does not run here): only staleness frees it."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    clock = FakeClock()
    mine = store_of(clock, Owner.me())
    theirs = store_of(clock, Owner(int(done.stdout), "another-machine", "1"))
    sid = theirs.try_slot("acct", G, 1)
    assert sid is not None
    clock.advance(STALE_AFTER - 1)
    theirs.touch_slot(sid, "task-1")  # polled: still held
    clock.advance(STALE_AFTER - 1)
    assert mine.try_slot("acct", G, 1) is None
    clock.advance(2)  # nobody polled it for STALE_AFTER
    assert mine.try_slot("acct", G, 1) is not None


def test_this_machine_is_named_by_host_and_boot() -> None:
    """Two machines both called ``jupyter`` must not check each other's pids."""
    me = Owner.me()
    if Path("/proc/sys/kernel/random/boot_id").exists():
        assert "#" in me.host
    assert not me.gone(me.pid, me.host, me.started)
    assert not me.gone(999_999_999, "jupyter#0123456789ab", "1")  # another machine: never "gone"


def test_processes_starting_together_make_the_tables_once(store_of: Make) -> None:
    stores = [store_of(FakeClock(), other(pid=n)) for n in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def first_use(store: AccountStore) -> None:
        try:
            start.wait()
            store.in_flight("acct", G)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with stores[0].transaction() as db:
        if db.dialect == "sqlite":
            assert db.execute("PRAGMA user_version").rows == [(1,)]
        else:
            assert db.execute("SELECT version FROM account_state_version").rows == [(1,)]


def test_on_postgresql_the_databases_clock_counts_not_this_machines(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teammate whose clock is an hour fast still reserves in step with the others."""
    import psycopg

    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
        assert row is not None
        server_now = float(row[0])
    fast = time.time() + 3600.0
    monkeypatch.setattr(time, "time", lambda: fast)
    a, b = AccountStore(database=pg_url), AccountStore(database=pg_url, owner=other())
    try:
        got = [s.reserve_send("acct", G, 1, 1.1) for s in (a, b)]
        assert abs(got[0].at - server_now) < 60  # the server's time, not the fast clock
        assert got[1].at == pytest.approx(got[0].at + 1.1, abs=1e-6)
        assert 0.0 < got[1].wait <= 1.1  # a duration to sleep, right whatever this clock says
        sid = a.try_slot("acct", G, 2)
        assert sid is not None
        with a.transaction() as db:
            (polled,) = db.execute("SELECT last_polled_at FROM slots").rows[0]
        assert abs(polled - server_now) < 60
    finally:
        a.close()
        b.close()


def test_an_unusable_state_file_is_said_and_pacing_goes_on_per_process(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    store = AccountStore(blocker / "state" / "account.sqlite")
    with pytest.raises(StateUnavailable):
        store.reserve_send("acct", G, 2, 1.1)
    limit = SharedGroupLimit(2, 2, SharedAccount(store, "acct"), G)

    async def main() -> list[int | None]:
        slots = [await limit.take() for _ in range(2)]
        await limit.rate.acquire()
        return [s.shared_id for s in slots]

    with pytest.warns(AccountStateWarning, match="WANBOOK_STATE_DIR"):
        assert asyncio.run(main()) == [None, None]  # local slots only, no row
    assert limit.busy == 2


def test_a_database_that_cannot_be_reached_is_said_and_pacing_goes_on_per_process(
    tmp_path: Path,
) -> None:
    store = AccountStore(database=f"postgresql://nobody@/nowhere?host={tmp_path}")  # no server
    started = time.monotonic()
    with pytest.raises(StateUnavailable, match="cannot connect"):
        store.try_slot("acct", G, 2)
    assert time.monotonic() - started < 30  # tried again briefly, then said so
    limit = SharedGroupLimit(2, 2, SharedAccount(store, "acct"), G)

    async def main() -> list[int | None]:
        slots = [await limit.take() for _ in range(2)]
        await limit.rate.acquire()
        return [s.shared_id for s in slots]

    with pytest.warns(AccountStateWarning, match="WANBOOK_DB") as seen:
        assert asyncio.run(main()) == [None, None]
    assert len(seen) == 1  # said once


@pytest.fixture(params=["database cut", "server stopped"])
def outage(request: pytest.FixtureRequest, pg_server: Any) -> Iterator[Outage | StoppedServer]:
    made = Outage(pg_server) if request.param == "database cut" else StoppedServer(pg_server)
    yield made
    made.drop()


def test_a_database_lost_mid_run_is_said_once_and_pacing_goes_on_per_process(
    outage: Outage | StoppedServer,
) -> None:
    store = AccountStore(database=outage.url)
    limit = SharedGroupLimit(2, 2, SharedAccount(store, "acct"), G)

    async def main() -> tuple[int | None, int | None]:
        first = await limit.take()
        await limit.rate.acquire()
        outage.cut()  # the server stops answering this database; its connection is ended
        second = await limit.take()  # room locally: goes on without the shared row
        await limit.rate.acquire()
        first.free()  # the shared row cannot be deleted now: it ends by staleness
        return first.shared_id, second.shared_id

    try:
        with pytest.warns(AccountStateWarning, match="unavailable.*WANBOOK_DB") as seen:
            first, second = asyncio.run(main())
        assert first is not None and second is None
        assert len(seen) == 1
        assert limit.shared.down and limit.busy == 1
    finally:
        store.close()


def test_on_postgresql_a_group_is_locked_alone_and_a_stuck_holder_stalls_nobody(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pacing and slots take the advisory lock of their (account, group) only: another group goes
    on while one is held, and a holder that never lets go is waited for only ``lock_timeout``."""
    from wanbook._api import account_state
    from wanbook._sql import Database

    monkeypatch.setattr(account_state, "PG_LOCK_TIMEOUT_MS", 300)
    store = AccountStore(database=pg_url, clock=FakeClock())
    holder = Database.open(pg_url)
    try:
        store.in_flight("acct", G)  # the tables exist
        with holder.transaction(lock=f"wanbook account state: slots acct {G}"):
            assert store.reserve_send("acct", G, 2, 1.1).wait == 0.0  # pacing: another lock
            assert store.try_slot("acct", "wan2.5", 5) is not None  # another group
            started = time.monotonic()
            with pytest.raises(StateUnavailable, match="lock timeout"):
                store.try_slot("acct", G, 5)  # this group's slots: held by the stuck process
            assert time.monotonic() - started < 30
        assert store.try_slot("acct", G, 5) is not None  # let go: free again
    finally:
        holder.close()
        store.close()
