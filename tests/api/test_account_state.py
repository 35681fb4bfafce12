"""The account's shared state file: submission times reserved in order, holds, slots in flight that
expire with their process or when nobody polls them, the account named without the key."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_API_KEY
from tests.fakes import FakeClock
from wanbook._api.account_state import (
    STALE_AFTER,
    AccountStore,
    Owner,
    StateUnavailable,
    account_id,
    default_state_dir,
)
from wanbook._api.pacing import (
    AccountStateWarning,
    SharedAccount,
    SharedGroupLimit,
)

G = "wan2.1/wan2.2"


def stores(tmp_path: Path, clock: FakeClock, *owners: Owner) -> list[AccountStore]:
    """Several processes' views of one state file (each its own connection and owner)."""
    return [AccountStore(tmp_path / "account.sqlite", clock=clock, owner=o) for o in owners]


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


def test_processes_reserve_submission_times_in_order(tmp_path: Path) -> None:
    clock = FakeClock()
    a, b = stores(tmp_path, clock, Owner.me(), other())
    t0 = clock()
    got = [s.reserve_send("acct", G, 2, 1.1) for s in (a, b, a, b, a)]
    assert got == pytest.approx([t0, t0, t0 + 1.1, t0 + 1.1, t0 + 2.2], abs=1e-6)  # 2 per 1.1 s
    assert a.reserve_send("other-account", G, 2, 1.1) == t0  # accounts do not share


def test_a_hold_seen_by_one_process_holds_all(tmp_path: Path) -> None:
    clock = FakeClock()
    a, b = stores(tmp_path, clock, Owner.me(), other())
    a.hold("acct", G, clock() + 30.0)
    a.hold("acct", G, clock() + 5.0)  # a shorter hold does not shorten it
    assert b.hold_until("acct", G) == clock() + 30.0
    assert b.reserve_send("acct", G, 2, 1.1) == clock() + 30.0


def test_slots_in_flight_are_capped_across_processes(tmp_path: Path) -> None:
    clock = FakeClock()
    a, b = stores(tmp_path, clock, Owner.me(), other(host="another-machine"))
    first = a.try_slot("acct", G, 2)
    assert first is not None and b.try_slot("acct", G, 2) is not None
    assert a.try_slot("acct", G, 2) is None and b.try_slot("acct", G, 2) is None
    a.free_slot(first)
    assert b.try_slot("acct", G, 2) is not None
    assert a.in_flight("acct", G) == 2


def test_a_dead_process_holds_no_slot(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    me = Owner.me()
    dead = Owner(int(done.stdout), me.host, "1")  # this machine, no longer running
    clock = FakeClock()
    mine, theirs = stores(tmp_path, clock, me, dead)
    assert theirs.try_slot("acct", G, 1) is not None
    assert mine.in_flight("acct", G) == 0
    assert mine.try_slot("acct", G, 1) is not None


def test_a_slot_nobody_polls_stops_counting(tmp_path: Path) -> None:
    clock = FakeClock()
    mine, theirs = stores(tmp_path, clock, Owner.me(), other(host="another-machine"))
    sid = theirs.try_slot("acct", G, 1)
    assert sid is not None
    clock.advance(STALE_AFTER - 1)
    theirs.touch_slot(sid, "task-1")  # polled: still held
    clock.advance(STALE_AFTER - 1)
    assert mine.try_slot("acct", G, 1) is None
    clock.advance(2)  # nobody polled it for STALE_AFTER
    assert mine.try_slot("acct", G, 1) is not None


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
